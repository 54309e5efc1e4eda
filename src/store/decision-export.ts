/**
 * Reads a campaign's decision log in pages (keyset on created_at, id), so an export streams in
 * constant memory on both drivers. Each row carries the running reward per the objective
 * (attributed, valid events only): what an off-policy evaluator needs. `includeNotServed`: also the
 * decisions answered without an arm (budget exhausted, paced, ROI guardrail) with their propensity, so
 * an evaluation can account for the throttle.
 */
import { sql } from "drizzle-orm";
import { rows, type Db } from "./db.ts";

export interface ExportRow {
  id: string;
  created_at: Date | string;
  /** null for a decision not served. */
  arm_key: string | null;
  propensity: number;
  served: boolean;
  /** Why no arm was served (src/budget/serve.ts `NotServedReason`); null when served. */
  reason: string | null;
  reward: number;
  context: Record<string, unknown> | null;
  unit_id: string | null;
  unit_hash: string | null;
  timezone: string | null;
  position: number | null;
}

/** A served decision's row: it has an arm. */
export type ServedExportRow = ExportRow & { arm_key: string; served: true };

export function decisionPages(
  db: Db,
  campaignId: string,
  from?: Date,
  to?: Date,
  pageSize?: number,
  includeNotServed?: false,
): AsyncGenerator<ServedExportRow[]>;
export function decisionPages(
  db: Db,
  campaignId: string,
  from: Date | undefined,
  to: Date | undefined,
  pageSize: number | undefined,
  includeNotServed: boolean,
): AsyncGenerator<ExportRow[]>;
export async function* decisionPages(
  db: Db,
  campaignId: string,
  from?: Date,
  to?: Date,
  pageSize = 2000,
  includeNotServed = false,
): AsyncGenerator<ExportRow[]> {
  let after: { t: Date; id: string } | null = null;
  for (;;) {
    const cursor = after
      ? sql`and (created_at, id) > (${after.t.toISOString()}::timestamptz, ${after.id}::uuid)`
      : sql``;
    const page: ExportRow[] = await rows<ExportRow>(
      db,
      sql`select id, created_at, arm_key, propensity, served, reason, reward, context, unit_id, unit_hash, timezone, position from decisions
          where campaign_id = ${campaignId}::uuid ${includeNotServed ? sql`` : sql`and served`}
          ${from ? sql`and created_at >= ${from.toISOString()}::timestamptz` : sql``}
          ${to ? sql`and created_at < ${to.toISOString()}::timestamptz` : sql``}
          ${cursor}
          order by created_at, id limit ${pageSize}`,
    );
    if (page.length === 0) return;
    yield page;
    if (page.length < pageSize) return;
    const last = page[page.length - 1];
    after = { t: new Date(last.created_at), id: last.id };
  }
}
