/**
 * arm_stats queries. Increments are commutative upserts (`n = arm_stats.n + excluded.n`, arrays added
 * element-wise), applied in (campaign, arm) order so that concurrent transactions of several processes
 * lock rows in the same order and cannot deadlock.
 */
import { and, gte, sql, type SQL } from "drizzle-orm";
import { mergeIncrements, type ArmIncrement } from "../engine/stats.ts";
import type { Db } from "./db.ts";
import { armStats } from "./schema.ts";

/** A stored arm_stats row's totals. */
export type ArmStatsRow = Pick<
  typeof armStats.$inferSelect,
  "campaignId" | "armKey" | "n" | "sum" | "sumSq" | "xx" | "xr"
>;

/** A uuid[] parameter (one parameter whatever the length, so the statement text stays constant). */
export const uuidArray = (ids: string[]) => sql`${`{${ids.join(",")}}`}::uuid[]`;

export const ARM_UPSERT = sql.raw(`on conflict (campaign_id, arm_key) do update set
  n = arm_stats.n + excluded.n, sum = arm_stats.sum + excluded.sum, sum_sq = arm_stats.sum_sq + excluded.sum_sq, updated_at = now(),
  ${["xx", "xr"]
    .map(
      (col) =>
        `${col} = case when excluded.${col} is null then arm_stats.${col} when arm_stats.${col} is null then excluded.${col} ` +
        `else array(select coalesce(a, 0) + coalesce(b, 0) from unnest(arm_stats.${col}, excluded.${col}) with ordinality as t(a, b, i) order by i) end`,
    )
    .join(", ")}`);

/**
 * `insert into arm_stats … on conflict add` from the increments, merged per arm (src/engine/stats.ts)
 * and sent as one JSON parameter, in (campaign, arm) order so concurrent writers lock rows in the same
 * order. It ends every statement that
 * moves arm statistics: alone, or after a CTE that did the write the increments come from.
 */
export function upsertIncrements(incs: ArmIncrement[]): SQL {
  const s = JSON.stringify(
    mergeIncrements(incs).map((i) => ({
      campaign_id: i.campaignId,
      arm_key: i.armKey,
      n: i.n,
      sum: i.sum,
      sum_sq: i.sumSq,
      xx: i.xx ? Array.from(i.xx) : null,
      xr: i.xr ? Array.from(i.xr) : null,
    })),
  );
  return sql`insert into arm_stats (campaign_id, arm_key, n, sum, sum_sq, xx, xr)
    select campaign_id, arm_key, n, sum, sum_sq, xx, xr
    from jsonb_to_recordset(${s}::jsonb) as y(campaign_id uuid, arm_key text, n float8, sum float8, sum_sq float8, xx float8[], xr float8[])
    order by campaign_id, arm_key
    ${ARM_UPSERT}`;
}

export async function incrementArmStats(db: Pick<Db, "execute">, incs: ArmIncrement[]): Promise<void> {
  if (incs.length === 0) return;
  await db.execute(upsertIncrements(incs));
}

/** Totals of these campaigns' arms (all campaigns if none given), optionally only rows changed since `since`. */
export async function readArmStats(db: Db, campaignIds?: string[], since?: Date): Promise<ArmStatsRow[]> {
  if (campaignIds && campaignIds.length === 0) return [];
  return db
    .select({
      campaignId: armStats.campaignId,
      armKey: armStats.armKey,
      n: armStats.n,
      sum: armStats.sum,
      sumSq: armStats.sumSq,
      xx: armStats.xx,
      xr: armStats.xr,
    })
    .from(armStats)
    .where(
      and(
        campaignIds ? sql`${armStats.campaignId} = any(${uuidArray(campaignIds)})` : undefined,
        since ? gte(armStats.updatedAt, since) : undefined,
      ),
    );
}
