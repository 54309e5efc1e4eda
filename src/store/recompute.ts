/**
 * Exact rebuild of a campaign's arm_stats (and each decision's running reward) from the decision log
 * and its attributed, valid events: what the statistics would be had flagged events never arrived.
 * The fraud module calls it (through `Engine.recompute`) after marking events invalid, to take back
 * what they taught.
 *
 * Concurrency: the arm_stats rows are locked first (FOR UPDATE); a decision flush of another
 * transaction either committed before (its decisions are read here) or waits on the lock and adds its
 * increment on top of the rebuilt totals after this commits — nothing is lost or counted twice.
 */
import { sql } from "drizzle-orm";
import { mergeIncrements, trialIncrement, zeroStats, type ArmIncrement } from "../engine/stats.ts";
import { setArmStatsRows } from "./arm-stats.ts";
import { rows, type Db } from "./db.ts";
import { applyEvent, baseReward, type RewardState } from "./rewards.ts";
import type { Objective } from "./schema.ts";

export interface RecomputeOptions {
  /** Encodes a logged context into x; required for contextual campaigns (their statistics hold x xᵀ). */
  encode?: (ctx: Record<string, unknown> | undefined) => ArrayLike<number>;
  /** Context dimension (encode's length) for contextual campaigns. */
  dim?: number;
}

export async function recomputeArmStats(db: Db, campaignId: string, opts: RecomputeOptions = {}): Promise<void> {
  await db.transaction(async (tx) => {
    const [camp] = await rows<{ objective: Objective }>(
      tx,
      sql`select objective from campaigns where id = ${campaignId}::uuid`,
    );
    if (!camp) return;
    const armRows = await rows<{ key: string; cost: number }>(
      tx,
      sql`select key, cost from arms where campaign_id = ${campaignId}::uuid`,
    );
    const locked = await rows<{ arm_key: string; xx: number[] | null }>(
      tx,
      sql`select arm_key, xx from arm_stats where campaign_id = ${campaignId}::uuid order by arm_key for update`,
    );
    const contextual = (opts.dim ?? 0) > 0 && opts.encode !== undefined;
    if (!contextual && locked.some((r) => r.xx !== null))
      throw new Error("recomputeArmStats: contextual campaign needs opts.encode and opts.dim");
    const dim = contextual ? opts.dim! : 0;

    const decs = await rows<{
      id: string;
      arm_key: string;
      context: Record<string, unknown> | null;
      reward: number;
      converted: boolean;
    }>(tx, sql`select id, arm_key, context, reward, converted from decisions where campaign_id = ${campaignId}::uuid`);
    const evs = await rows<{ decision_id: string; type: string; value: number; cost: number }>(
      tx,
      sql`select decision_id, type, value, cost from events where campaign_id = ${campaignId}::uuid and attributed and invalid_reason is null order by received_at, event_id`,
    );
    const cost = new Map(armRows.map((a) => [a.key, Number(a.cost)]));
    const state = new Map<string, RewardState>();
    for (const d of decs)
      state.set(d.id, { reward: baseReward(camp.objective, cost.get(d.arm_key) ?? 0), converted: false });
    for (const e of evs) {
      const s = state.get(e.decision_id);
      if (s) applyEvent(camp.objective, s, { type: e.type, value: Number(e.value), cost: Number(e.cost) });
    }

    // every arm starts at zero (an arm without decisions is reset too), then each decision's trial
    const incs: ArmIncrement[] = [];
    const zero = (armKey: string): ArmIncrement => ({ campaignId, armKey, ...zeroStats(dim) });
    for (const r of locked) incs.push(zero(r.arm_key));
    for (const a of armRows) incs.push(zero(a.key));
    const changed: { id: string; reward: number; converted: boolean }[] = [];
    for (const d of decs) {
      const s = state.get(d.id)!;
      const x = contextual ? opts.encode!(d.context ?? undefined) : undefined;
      incs.push(trialIncrement({ campaignId, armKey: d.arm_key }, s.reward, x));
      if (s.reward !== Number(d.reward) || s.converted !== d.converted) changed.push({ id: d.id, ...s });
    }
    for (let i = 0; i < changed.length; i += 1000) {
      const chunk = changed.slice(i, i + 1000);
      await tx.execute(sql`update decisions as d set reward = v.reward, converted = v.converted
        from (values ${sql.join(
          chunk.map((c) => sql`(${c.id}::uuid, ${c.reward}::float8, ${c.converted}::boolean)`),
          sql`, `,
        )}) as v(id, reward, converted) where d.id = v.id`);
    }
    await setArmStatsRows(tx, mergeIncrements(incs));
  });
}
