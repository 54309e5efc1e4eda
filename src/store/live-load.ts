/**
 * Set-based reads of the live state (src/engine/live.ts): many campaigns' configuration, arms, totals,
 * recent hour buckets and delay histograms in five statements whatever their number (ids as one uuid[]
 * parameter), and the change feed a refresh reads.
 *
 * The change feed: every write stamps its row's `change_xid` with the writing transaction's id (trigger
 * of migration 0007). A refresh asks which campaigns have a row with change_xid >= the xmin of the
 * previous refresh's snapshot — every transaction with a smaller id had ended before that snapshot, so its
 * writes were seen then; one still running then has an id >= xmin and is seen now. Exact whatever the
 * commit order, and an index probe that returns nothing when nothing changed.
 */
import { sql, type SQLWrapper } from "drizzle-orm";
import { uuidArray } from "./arm-stats.ts";
import type { Db } from "./db.ts";
import { HOUR_MS } from "./buckets.ts";
import type { ArmRow, CampaignRow } from "./campaigns.ts";
import { armStatBuckets, conversionDelays } from "./schema-learning.ts";
import { armStats, arms, campaigns } from "./schema.ts";

export type { ArmRow, CampaignRow };
export type ArmStatsRow = typeof armStats.$inferSelect;
export type BucketRow = typeof armStatBuckets.$inferSelect & { hour: number };
export type DelayRow = { campaignId: string; hour: number; counts: number[] };

/**
 * One row computed by the database alone (a `select` without a table: these go through the query builder's
 * select, like every read of the live state, rather than `execute`).
 */
const single = sql`(select 1) as one`;

/** The xmin of the current snapshot: the lower bound of the next change-feed read. */
export async function changeMark(db: Db): Promise<number> {
  const [r] = await db.select({ x: sql<string>`pg_snapshot_xmin(pg_current_snapshot())::text` }).from(single);
  return Number(r!.x);
}

/**
 * Campaigns with a row (campaign, arm, arm_stats, bucket, delays) written by a transaction with id >=
 * `since`, and the mark for the next read (one statement, so both come from one snapshot).
 */
export async function changedCampaigns(db: Db, since: number): Promise<{ ids: string[]; mark: number }> {
  const [r] = await db
    .select({
      mark: sql<string>`pg_snapshot_xmin(pg_current_snapshot())::text`,
      ids: sql<string[] | string | null>`(select array_agg(id::text) from (
        select id from campaigns where change_xid >= ${since}
        union select campaign_id from arms where change_xid >= ${since}
        union select campaign_id from arm_stats where change_xid >= ${since}
        union select campaign_id from arm_stat_buckets where change_xid >= ${since}
        union select campaign_id from conversion_delays where change_xid >= ${since}) as changed)`,
    })
    .from(single);
  return { ids: parseTextArray(r!.ids), mark: Number(r!.mark) };
}

/** postgres.js gives text[] as an array; PGlite too — a string literal is handled all the same. */
function parseTextArray(v: string[] | string | null): string[] {
  if (v === null) return [];
  if (Array.isArray(v)) return v;
  const inner = v.replace(/^\{|\}$/g, "");
  return inner ? inner.split(",") : [];
}

/**
 * Up to `limit` served (not archived) campaigns, the most recently written first (their arm_stats'
 * change_xid), then the newest: what start-up loads before the service is ready.
 */
export async function hotCampaignIds(db: Db, limit: number): Promise<string[]> {
  const s = db
    .select({ campaignId: armStats.campaignId, m: sql<number>`max(${armStats.changeXid})`.as("m") })
    .from(armStats)
    .groupBy(armStats.campaignId)
    .as("s");
  const r = await db
    .select({ id: campaigns.id })
    .from(campaigns)
    .leftJoin(s, sql`${s.campaignId} = ${campaigns.id}`)
    .where(sql`${campaigns.status} <> 'archived'`)
    .orderBy(sql`${s.m} desc nulls last`, sql`${campaigns.createdAt} desc`, campaigns.id)
    .limit(limit);
  return r.map((x) => x.id);
}

/** The campaigns of these ids (any status). */
export async function readCampaignRows(db: Db, ids: string[]): Promise<CampaignRow[]> {
  if (ids.length === 0) return [];
  return db
    .select()
    .from(campaigns)
    .where(sql`${campaigns.id} = any(${uuidArray(ids)})`);
}

export interface LiveRows {
  arms: ArmRow[];
  stats: ArmStatsRow[];
  buckets: BucketRow[];
  delays: DelayRow[];
}

/**
 * These campaigns' arms, totals, buckets from each one's own `fromHour` on, and delay histograms, in
 * four statements (buckets ordered by campaign, arm, hour: the order the fold sums them in).
 */
export async function readLiveRows(db: Db, from: ReadonlyMap<string, number>): Promise<LiveRows> {
  if (from.size === 0) return { arms: [], stats: [], buckets: [], delays: [] };
  const ids = [...from.keys()];
  const inIds = (col: SQLWrapper) => sql`${col} = any(${uuidArray(ids)})`;
  const horizon = JSON.stringify([...from].map(([id, h]) => ({ id, from_ms: h * HOUR_MS })));
  const t = armStatBuckets;
  const [armRows, statRows, bucketRows, delayRows] = await Promise.all([
    db.select().from(arms).where(inIds(arms.campaignId)),
    db.select().from(armStats).where(inIds(armStats.campaignId)),
    db
      .select({ b: t })
      .from(t)
      .innerJoin(
        sql`jsonb_to_recordset(${horizon}::jsonb) as q(id uuid, from_ms float8)`,
        sql`${t.campaignId} = q.id and ${t.bucketStart} >= to_timestamp(q.from_ms / 1000.0)`,
      )
      .orderBy(t.campaignId, t.armKey, t.bucketStart),
    db.select().from(conversionDelays).where(inIds(conversionDelays.campaignId)).orderBy(conversionDelays.cohortStart),
  ]);
  return {
    arms: armRows,
    stats: statRows,
    buckets: bucketRows.map(({ b }) => ({ ...b, hour: Math.round(b.bucketStart.getTime() / HOUR_MS) })),
    delays: delayRows.map((r) => ({
      campaignId: r.campaignId,
      hour: Math.round(r.cohortStart.getTime() / HOUR_MS),
      counts: r.counts.map(Number),
    })),
  };
}
