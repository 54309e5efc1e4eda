/**
 * Reads a campaign's decision log in pages (keyset on created_at, id), so an export streams in
 * constant memory on both drivers. Each row carries the running reward per the objective
 * (attributed, valid events only): what an off-policy evaluator needs.
 */
import { sql } from "drizzle-orm";
import { rows, type Db } from "./db.ts";

export interface ExportRow {
  id: string;
  created_at: Date | string;
  arm_key: string;
  propensity: number;
  reward: number;
  context: Record<string, unknown> | null;
  unit_id: string | null;
  unit_hash: string | null;
  timezone: string | null;
  position: number | null;
}

export async function* decisionPages(
  db: Db,
  campaignId: string,
  from?: Date,
  to?: Date,
  pageSize = 2000,
): AsyncGenerator<ExportRow[]> {
  let after: { t: Date; id: string } | null = null;
  for (;;) {
    const cursor = after
      ? sql`and (created_at, id) > (${after.t.toISOString()}::timestamptz, ${after.id}::uuid)`
      : sql``;
    const page: ExportRow[] = await rows<ExportRow>(
      db,
      sql`select id, created_at, arm_key, propensity, reward, context, unit_id, unit_hash, timezone, position from decisions
          where campaign_id = ${campaignId}::uuid and served
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
