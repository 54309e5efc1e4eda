/**
 * Exact rebuild of a campaign's arm_stats (and each decision's running reward) from the decision log
 * and its attributed, valid events: what the statistics would be had flagged events never arrived.
 * The fraud module calls it (through `Engine.recompute`) after marking events invalid, to take back
 * what they taught; the consistency check compares against the same computation.
 *
 * Concurrency: the arm_stats rows are locked first (FOR UPDATE); a decision flush of another
 * transaction either committed before (its decisions are read here) or waits on the lock and adds its
 * increment on top of the rebuilt totals after this commits — nothing is lost or counted twice.
 */
import type { Db } from "../store/db.ts";
import {
  campaignDecisions,
  campaignRewardRule,
  lockArmStats,
  setArmStatsRows,
  setDecisionRewards,
  teachingEvents,
} from "../store/rebuild.ts";
import { applyEvent, baseReward, type RewardState } from "./rewards.ts";
import { mergeIncrements, trialIncrement, zeroStats, type ArmIncrement } from "./stats.ts";

export interface RecomputeOptions {
  /** Encodes a logged context into x; required for contextual campaigns (their statistics hold x xᵀ). */
  encode?: (ctx: Record<string, unknown> | undefined) => ArrayLike<number>;
  /** Context dimension (encode's length) for contextual campaigns. */
  dim?: number;
}

export async function recomputeArmStats(db: Db, campaignId: string, opts: RecomputeOptions = {}): Promise<void> {
  await db.transaction(async (tx) => {
    const rule = await campaignRewardRule(tx, campaignId);
    if (!rule) return;
    const locked = await lockArmStats(tx, campaignId);
    const contextual = (opts.dim ?? 0) > 0 && opts.encode !== undefined;
    if (!contextual && locked.some((r) => r.xx !== null))
      throw new Error("recomputeArmStats: contextual campaign needs opts.encode and opts.dim");
    const dim = contextual ? opts.dim! : 0;
    const decs = await campaignDecisions(tx, campaignId);
    const evs = await teachingEvents(tx, campaignId);

    const cost = new Map(rule.armCosts.map((a) => [a.key, a.cost]));
    const state = new Map<string, RewardState>();
    for (const d of decs)
      state.set(d.id, { reward: baseReward(rule.objective, cost.get(d.armKey) ?? 0), converted: false });
    for (const e of evs) {
      const s = state.get(e.decisionId);
      if (s) applyEvent(rule.objective, s, e);
    }

    // every arm starts at zero (an arm without decisions is reset too), then each decision's trial
    const incs: ArmIncrement[] = [];
    const zero = (armKey: string): ArmIncrement => ({ campaignId, armKey, ...zeroStats(dim) });
    for (const r of locked) incs.push(zero(r.armKey));
    for (const a of rule.armCosts) incs.push(zero(a.key));
    const changed: { id: string; reward: number; converted: boolean }[] = [];
    for (const d of decs) {
      const s = state.get(d.id)!;
      const x = contextual ? opts.encode!(d.context ?? undefined) : undefined;
      incs.push(trialIncrement({ campaignId, armKey: d.armKey }, s.reward, x));
      if (s.reward !== d.reward || s.converted !== d.converted) changed.push({ id: d.id, ...s });
    }
    await setDecisionRewards(tx, changed);
    await setArmStatsRows(tx, mergeIncrements(incs));
  });
}
