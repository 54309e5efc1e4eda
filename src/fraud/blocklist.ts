/**
 * Retroactive blocking: a source put on the blocklist can also be blocked for a chosen past window. Its
 * events there (in every campaign of the workspace, not already invalid for another reason) are marked
 * invalid as the ingest gate would have marked them ("blocklist:<type>"), recorded as findings per campaign,
 * source and hour (scan.ts `recordIngestFindings`, so they show in GET /v1/anomalies and a dismissal
 * restores them), and the caller takes back what they taught (Engine.recompute per campaign, rollups).
 */
import { sql } from "drizzle-orm";
import { rows, type Db } from "../store/db.ts";
import { HOUR } from "./aggregates.ts";
import type { BlockableType } from "./gate.ts";
import { recordIngestFindings } from "./scan.ts";

const COLUMN = {
  ip: sql`source_ip`,
  user_agent: sql`source_user_agent`,
  publisher: sql`source_publisher`,
  placement: sql`source_placement`,
} as const;

export interface RetroactiveBlock {
  invalidated: number;
  /** Campaigns whose events changed, with the [first, last] occurred_at (ms) of those events. */
  campaigns: { id: string; touched: [number, number] }[];
  anomalyIds: string[];
}

export async function blockRetroactively(
  db: Db,
  workspaceId: string,
  entityType: BlockableType,
  entity: string,
  from: number,
  to: number,
): Promise<RetroactiveBlock> {
  const changed = await rows<{ campaign_id: string; lo: Date | string; hi: Date | string; n: number }>(
    db,
    sql`with u as (
          update events set invalid_reason = ${`blocklist:${entityType}`}
          where workspace_id = ${workspaceId}::uuid
          and campaign_id in (select id from campaigns where workspace_id = ${workspaceId}::uuid)
          and occurred_at >= ${new Date(from).toISOString()}::timestamptz and occurred_at < ${new Date(to).toISOString()}::timestamptz
          and ${COLUMN[entityType]} = ${entity} and invalid_reason is null
          returning campaign_id, occurred_at)
        select campaign_id, min(occurred_at) as lo, max(occurred_at) as hi, count(*)::int as n from u group by campaign_id order by campaign_id`,
  );
  const out: RetroactiveBlock = { invalidated: 0, campaigns: [], anomalyIds: [] };
  for (const c of changed) {
    out.invalidated += Number(c.n);
    const lo = new Date(c.lo).getTime();
    const hi = new Date(c.hi).getTime();
    out.campaigns.push({ id: c.campaign_id, touched: [lo, hi] });
    out.anomalyIds.push(
      ...(await recordIngestFindings(
        db,
        { id: c.campaign_id, workspaceId },
        Math.floor(lo / HOUR) * HOUR,
        Math.floor(hi / HOUR) * HOUR + HOUR,
      )),
    );
  }
  return out;
}
