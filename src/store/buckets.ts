/**
 * Queries of arm_stat_buckets and conversion_delays (schema-learning.ts). Increments are commutative
 * upserts (numbers added, arrays added element-wise), merged per row and applied in key order so that
 * concurrent writers lock rows in the same order.
 */
import { and, eq, gte, inArray, lt, sql, type SQL } from "drizzle-orm";
import type { Db } from "./db.ts";
import { armStatBuckets, conversionDelays } from "./schema-learning.ts";

export const HOUR_MS = 3_600_000;

/** What one decision or event adds to one hour bucket of one arm (either part may be zero). */
export interface BucketIncrement {
  campaignId: string;
  armKey: string;
  /** Hours since the epoch of the decision. */
  hour: number;
  trials?: { n: number; sum: number; sumSq: number; xx?: ArrayLike<number>; xr?: ArrayLike<number> };
  rewards?: { n: number; sum: number; sumSq: number; xr?: ArrayLike<number> };
}

/** A row of increments as sent to the upsert. */
interface BucketRow {
  campaign_id: string;
  arm_key: string;
  hour: number;
  n: number;
  sum: number;
  sum_sq: number;
  xx: number[] | null;
  xr: number[] | null;
  converted: number;
  reward_sum: number;
  reward_sum_sq: number;
  reward_xr: number[] | null;
}

const addArray = (a: number[] | null, b: ArrayLike<number> | undefined): number[] | null => {
  if (!b) return a;
  const out = a ?? new Array<number>(b.length).fill(0);
  for (let i = 0; i < b.length; i++) out[i] = (out[i] ?? 0) + b[i]!;
  return out;
};

/** Sums the increments of each (campaign, arm, hour) row, sorted by that key. */
export function mergeBucketIncrements(incs: Iterable<BucketIncrement>): BucketRow[] {
  const by = new Map<string, BucketRow>();
  for (const i of incs) {
    const k = `${i.campaignId}\u0000${i.armKey}\u0000${i.hour}`;
    let r = by.get(k);
    if (!r) {
      r = {
        campaign_id: i.campaignId,
        arm_key: i.armKey,
        hour: i.hour,
        n: 0,
        sum: 0,
        sum_sq: 0,
        xx: null,
        xr: null,
        converted: 0,
        reward_sum: 0,
        reward_sum_sq: 0,
        reward_xr: null,
      };
      by.set(k, r);
    }
    if (i.trials) {
      r.n += i.trials.n;
      r.sum += i.trials.sum;
      r.sum_sq += i.trials.sumSq;
      r.xx = addArray(r.xx, i.trials.xx);
      r.xr = addArray(r.xr, i.trials.xr);
    }
    if (i.rewards) {
      r.converted += i.rewards.n;
      r.reward_sum += i.rewards.sum;
      r.reward_sum_sq += i.rewards.sumSq;
      r.reward_xr = addArray(r.reward_xr, i.rewards.xr);
    }
  }
  return [...by.values()].sort((a, b) =>
    a.campaign_id !== b.campaign_id
      ? a.campaign_id < b.campaign_id
        ? -1
        : 1
      : a.arm_key !== b.arm_key
        ? a.arm_key < b.arm_key
          ? -1
          : 1
        : a.hour - b.hour,
  );
}

const arrayAdd = (col: string) =>
  `${col} = case when excluded.${col} is null then arm_stat_buckets.${col} when arm_stat_buckets.${col} is null then excluded.${col} ` +
  `else array(select coalesce(a, 0) + coalesce(b, 0) from unnest(arm_stat_buckets.${col}, excluded.${col}) with ordinality as t(a, b, i) order by i) end`;

const BUCKET_UPSERT = sql.raw(`on conflict (campaign_id, arm_key, bucket_start) do update set
  n = arm_stat_buckets.n + excluded.n, sum = arm_stat_buckets.sum + excluded.sum, sum_sq = arm_stat_buckets.sum_sq + excluded.sum_sq,
  converted = arm_stat_buckets.converted + excluded.converted, reward_sum = arm_stat_buckets.reward_sum + excluded.reward_sum,
  reward_sum_sq = arm_stat_buckets.reward_sum_sq + excluded.reward_sum_sq, updated_at = now(),
  ${["xx", "xr", "reward_xr"].map(arrayAdd).join(", ")}`);

/** `insert into arm_stat_buckets … on conflict add` of the merged increments (one JSON parameter). */
export function upsertBucketIncrements(incs: Iterable<BucketIncrement>): SQL {
  const s = JSON.stringify(mergeBucketIncrements(incs));
  return sql`insert into arm_stat_buckets (campaign_id, arm_key, bucket_start, n, sum, sum_sq, xx, xr, converted, reward_sum, reward_sum_sq, reward_xr)
    select campaign_id, arm_key, to_timestamp(hour * 3600), n, sum, sum_sq, xx, xr, converted, reward_sum, reward_sum_sq, reward_xr
    from jsonb_to_recordset(${s}::jsonb) as y(campaign_id uuid, arm_key text, hour float8, n float8, sum float8, sum_sq float8,
      xx float8[], xr float8[], converted float8, reward_sum float8, reward_sum_sq float8, reward_xr float8[])
    order by campaign_id, arm_key, hour
    ${BUCKET_UPSERT}`;
}

export async function incrementBuckets(db: Pick<Db, "execute">, incs: BucketIncrement[]): Promise<void> {
  if (incs.length === 0) return;
  await db.execute(upsertBucketIncrements(incs));
}

/** The buckets of these campaigns from `fromHour` on (all if undefined), in (campaign, arm, hour) order. */
export async function readBuckets(db: Db, campaignIds: string[], fromHour?: number) {
  if (campaignIds.length === 0) return [];
  const t = armStatBuckets;
  const where = inArray(t.campaignId, campaignIds);
  const out = await db
    .select()
    .from(t)
    .where(fromHour === undefined ? where : and(where, gte(t.bucketStart, new Date(fromHour * HOUR_MS))))
    .orderBy(t.campaignId, t.armKey, t.bucketStart);
  return out.map((r) => ({ ...r, hour: Math.round(r.bucketStart.getTime() / HOUR_MS) }));
}
export type StoredBucket = Awaited<ReturnType<typeof readBuckets>>[number];

/** Deletes a campaign's buckets before `hour` (their totals stay in arm_stats). */
export async function deleteBucketsBefore(db: Pick<Db, "delete">, campaignId: string, hour: number): Promise<void> {
  const t = armStatBuckets;
  await db.delete(t).where(and(eq(t.campaignId, campaignId), lt(t.bucketStart, new Date(hour * HOUR_MS))));
}

/** Observed delays of one cohort: counts per bin (DELAY_BIN_EDGES). */
export interface DelayIncrement {
  campaignId: string;
  hour: number;
  counts: number[];
}

export function upsertDelayIncrements(incs: DelayIncrement[]): SQL {
  const by = new Map<string, DelayIncrement>();
  for (const i of incs) {
    const k = `${i.campaignId}\u0000${i.hour}`;
    const m = by.get(k);
    if (!m) by.set(k, { campaignId: i.campaignId, hour: i.hour, counts: [...i.counts] });
    else for (let j = 0; j < i.counts.length; j++) m.counts[j] = (m.counts[j] ?? 0) + i.counts[j]!;
  }
  const s = JSON.stringify(
    [...by.values()]
      .sort((a, b) => (a.campaignId !== b.campaignId ? (a.campaignId < b.campaignId ? -1 : 1) : a.hour - b.hour))
      .map((i) => ({ campaign_id: i.campaignId, hour: i.hour, counts: i.counts })),
  );
  return sql`insert into conversion_delays (campaign_id, cohort_start, counts)
    select campaign_id, to_timestamp(hour * 3600), counts
    from jsonb_to_recordset(${s}::jsonb) as y(campaign_id uuid, hour float8, counts float8[])
    order by campaign_id, hour
    on conflict (campaign_id, cohort_start) do update set updated_at = now(),
      counts = array(select coalesce(a, 0) + coalesce(b, 0) from unnest(conversion_delays.counts, excluded.counts) with ordinality as t(a, b, i) order by i)`;
}

export async function readDelays(db: Db, campaignIds: string[]) {
  if (campaignIds.length === 0) return [];
  const t = conversionDelays;
  const out = await db.select().from(t).where(inArray(t.campaignId, campaignIds)).orderBy(t.campaignId, t.cohortStart);
  return out.map((r) => ({ ...r, hour: Math.round(r.cohortStart.getTime() / HOUR_MS), counts: r.counts.map(Number) }));
}
