/**
 * Queries of the exact rebuild of a campaign's statistics (src/engine/recompute.ts): the campaign's
 * objective and arm costs, its arm_stats rows locked, its decisions, and the attributed valid events
 * that teach; then the rewritten running rewards and totals.
 */
import { and, asc, eq, isNull, sql } from "drizzle-orm";
import type { ArmIncrement } from "../engine/stats.ts";
import type { Db } from "./db.ts";
import { armStats, arms, campaigns, decisions, events } from "./schema.ts";

type Tx = Pick<Db, "select" | "execute">;

export async function campaignRewardRule(tx: Tx, campaignId: string) {
  const [c] = await tx.select({ objective: campaigns.objective }).from(campaigns).where(eq(campaigns.id, campaignId));
  if (!c) return undefined;
  const armCosts = await tx
    .select({ key: arms.key, cost: arms.cost })
    .from(arms)
    .where(eq(arms.campaignId, campaignId));
  return { objective: c.objective, armCosts };
}

/** The campaign's arm_stats rows, locked (FOR UPDATE, in arm order). */
export function lockArmStats(tx: Tx, campaignId: string) {
  return tx
    .select({ armKey: armStats.armKey, xx: armStats.xx })
    .from(armStats)
    .where(eq(armStats.campaignId, campaignId))
    .orderBy(asc(armStats.armKey))
    .for("update");
}

export function campaignDecisions(tx: Tx, campaignId: string) {
  return tx
    .select({
      id: decisions.id,
      armKey: decisions.armKey,
      context: decisions.context,
      reward: decisions.reward,
      converted: decisions.converted,
    })
    .from(decisions)
    .where(eq(decisions.campaignId, campaignId));
}

/** The events that teach: attributed and valid, in arrival order. */
export function teachingEvents(tx: Tx, campaignId: string) {
  return tx
    .select({ decisionId: events.decisionId, type: events.type, value: events.value, cost: events.cost })
    .from(events)
    .where(and(eq(events.campaignId, campaignId), eq(events.attributed, true), isNull(events.invalidReason)))
    .orderBy(asc(events.receivedAt), asc(events.eventId));
}

/** Rewrites decisions' running rewards (in chunks of 1000 rows per statement). */
export async function setDecisionRewards(
  tx: Pick<Db, "execute">,
  changed: { id: string; reward: number; converted: boolean }[],
): Promise<void> {
  for (let i = 0; i < changed.length; i += 1000) {
    const chunk = changed.slice(i, i + 1000);
    await tx.execute(sql`update decisions as d set reward = v.reward, converted = v.converted
      from (values ${sql.join(
        chunk.map((c) => sql`(${c.id}::uuid, ${c.reward}::float8, ${c.converted}::boolean)`),
        sql`, `,
      )}) as v(id, reward, converted) where d.id = v.id`);
  }
}

/** A float8[] literal: numbers print in shortest round-trip form, so nothing is lost. */
export function arrayLiteral(a: ArrayLike<number> | undefined): string | null {
  if (!a) return null;
  let s = "{";
  for (let i = 0; i < a.length; i++) s += (i ? "," : "") + (Number.isFinite(a[i]) ? String(a[i]) : "0");
  return `${s}}`;
}

/** Overwrites totals (one row per arm: merge first). */
export async function setArmStatsRows(db: Pick<Db, "execute">, incs: ArmIncrement[]): Promise<void> {
  if (incs.length === 0) return;
  const values = sql.join(
    incs.map(
      (i) =>
        sql`(${i.campaignId}::uuid, ${i.armKey}, ${i.n}::float8, ${i.sum}::float8, ${i.sumSq}::float8, ${arrayLiteral(i.xx)}::float8[], ${arrayLiteral(i.xr)}::float8[])`,
    ),
    sql`, `,
  );
  await db.execute(sql`insert into arm_stats (campaign_id, arm_key, n, sum, sum_sq, xx, xr) values ${values}
    on conflict (campaign_id, arm_key) do update set n = excluded.n, sum = excluded.sum, sum_sq = excluded.sum_sq, xx = excluded.xx, xr = excluded.xr, updated_at = now()`);
}
