/**
 * Set-based reads of the live state (src/engine/live.ts): many campaigns' configuration, arms, totals,
 * recent hour buckets and delay histograms in five statements whatever their number (ids as one uuid[]
 * parameter), and the change feed a refresh reads.
 *
 * The change feed: every write stamps its row's `change_xid` with the writing transaction's id (trigger
 * of migration 0007). A refresh asks which campaigns have a row written by a transaction the previous
 * refresh's snapshot did not see: id >= its xmax (not started then) or in its xip list (in progress then);
 * every other transaction had ended and its writes were read then. Exact whatever the commit order, and
 * index probes that return nothing when nothing changed.
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

/**
 * Where the change feed stands: the snapshot of the last read — every transaction with an id below `xmax`
 * and not in `xip` (those in progress then) had ended and was seen by it.
 */
export interface ChangeMark {
  xmax: number;
  xip: number[];
}

const SNAPSHOT = {
  xmax: sql<string>`pg_snapshot_xmax(pg_current_snapshot())::text`,
  xip: sql<string[] | string | null>`(select array_agg(x::text) from pg_snapshot_xip(pg_current_snapshot()) x)`,
};
const toMark = (r: { xmax: string; xip: string[] | string | null }): ChangeMark => ({
  xmax: Number(r.xmax),
  xip: parseTextArray(r.xip).map(Number),
});

/** The current snapshot, as a mark: a later read finds every row written by a transaction it did not see. */
export async function changeMark(db: Db): Promise<ChangeMark> {
  const [r] = await db.select(SNAPSHOT).from(single);
  return toMark(r!);
}

/** A mark that misses nothing either of two marks would find (the union of what each did not see). */
export function earlierMark(a: ChangeMark, b: ChangeMark): ChangeMark {
  const xmax = Math.min(a.xmax, b.xmax);
  return { xmax, xip: [...new Set([...a.xip, ...b.xip])].filter((x) => x < xmax).sort((x, y) => x - y) };
}

/**
 * Campaigns with a row (campaign, arm, arm_stats, bucket, delays) written by a transaction the mark's
 * snapshot did not see (id >= xmax, or in progress then), and the mark for the next read — one statement,
 * so both come from one snapshot. A long transaction elsewhere on the server does not make it read again
 * what it read already (an xmin bound would).
 */
export async function changedCampaigns(db: Db, since: ChangeMark): Promise<{ ids: string[]; mark: ChangeMark }> {
  const xip = `{${since.xip.join(",")}}`;
  const unseen = (col: string) => sql`(${sql.raw(col)} >= ${since.xmax} or ${sql.raw(col)} = any(${xip}::bigint[]))`;
  const [r] = await db
    .select({
      ...SNAPSHOT,
      ids: sql<string[] | string | null>`(select array_agg(id::text) from (
        select id from campaigns where ${unseen("change_xid")}
        union select campaign_id from arms where ${unseen("change_xid")}
        union select campaign_id from arm_stats where ${unseen("change_xid")}
        union select campaign_id from arm_stat_buckets where ${unseen("change_xid")}
        union select campaign_id from conversion_delays where ${unseen("change_xid")}) as changed)`,
    })
    .from(single);
  return { ids: parseTextArray(r!.ids), mark: toMark(r!) };
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
