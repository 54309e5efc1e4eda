/**
 * The one call the decide flow makes: budgets, pacing and guardrails applied to the strategy's choice.
 * Pure given its inputs — the ledger, the strategy state, the clock `nowMs` and the seeded generator —
 * and shared with the simulator (simulations/budget.ts), so both run exactly this code.
 *
 * Outcomes and their logged propensities (they sum to 1 over the arms and "no arm"):
 * - budget exhausted (total or daily spend ≥ budget, or every arm at its cap): no arm, propensity 1;
 * - not served by the throttle θ (pacing): no arm, P = (1 − θ) + θ·P(guardrail serves nothing);
 * - arm a: P = θ · π(a), π the strategy's pmf restricted to the arms within their caps and re-weighted
 *   by the guardrail (guardrail.ts `allocate`).
 * When θ = 1 and no arm is capped or demoted, the strategy's own `choose` runs as before (the same
 * draws, the same propensity).
 */
import type { Rng } from "../../strategies/rng.ts";
import type { BaseState, Features, Strategy } from "../../strategies/types.ts";
import { allocate, drawArm } from "./guardrail.ts";
import type { BudgetLedger } from "./ledger.ts";
import { stepPacer, throttleOf } from "./pacing.ts";

export type NotServedReason = "budget_exhausted" | "paced" | "roi_guardrail";

export interface BudgetChoice {
  /** Index of the arm served, or -1. */
  arm: number;
  propensity: number;
  reason?: NotServedReason;
  /** The serving probability in force. */
  throttle: number;
}

export interface BudgetedCampaign {
  impl: Strategy;
  state: BaseState;
  arms: { key: string; status: string; index: number }[];
  budget?: BudgetLedger;
}

/** Exhausted by its total or daily budget? (also used by the campaign view). */
export function exhaustedScope(l: BudgetLedger, nowMs: number): "total" | "daily" | null {
  const { totalBudget, dailyBudget } = l.config;
  if (totalBudget !== null && l.spend("total", nowMs) >= totalBudget) return "total";
  if (dailyBudget !== null && l.spend("today", nowMs) >= dailyBudget) return "daily";
  return null;
}

/** An arm at its spend cap? */
export function armCapped(l: BudgetLedger, armKey: string, nowMs: number): boolean {
  const cap = l.config.armCaps.get(armKey);
  if (!cap) return false;
  if (cap.totalBudget !== null && l.spend("total", nowMs, armKey) >= cap.totalBudget) return true;
  return cap.dailyBudget !== null && l.spend("today", nowMs, armKey) >= cap.dailyBudget;
}

/** The pacing throttle at `nowMs` (runs the controller step when its interval has passed). */
export function throttleAt(l: BudgetLedger, nowMs: number): number {
  const p = l.config.pacing;
  const daily = l.config.dailyBudget;
  if (!p || daily === null) return 1;
  const plan = l.planAt(nowMs);
  if (!plan) return 1;
  l.pacer = stepPacer(l.pacerFor(nowMs), { nowMs, spendToday: l.spend("today", nowMs), dailyBudget: daily, plan }, p);
  return throttleOf(l.pacer, p);
}

export function chooseWithBudget(c: BudgetedCampaign, x: Features | undefined, rng: Rng, nowMs: number): BudgetChoice {
  const l = c.budget;
  if (!l?.active) {
    const ch = c.impl.choose(c.state, x, rng);
    return { arm: ch.arm, propensity: ch.propensity, throttle: 1 };
  }
  l.advance(nowMs);
  const scope = exhaustedScope(l, nowMs);
  if (scope) {
    l.exhausted = { atMs: nowMs, scope };
    return { arm: -1, propensity: 1, reason: "budget_exhausted", throttle: 0 };
  }
  const K = c.state.arms.length;
  const eligible = new Array<boolean>(K).fill(false);
  const demoted = new Array<boolean>(K).fill(false);
  let restricted = false;
  let any = false;
  const verdicts = l.config.guardrail
    ? l.verdictsAt(
        nowMs,
        c.arms.map((a) => a.key),
      )
    : undefined;
  for (const a of c.arms) {
    if (c.state.arms[a.index]?.status !== "active") continue;
    if (l.config.armCaps.size && armCapped(l, a.key, nowMs)) {
      restricted = true;
      continue;
    }
    eligible[a.index] = true;
    any = true;
    if (verdicts?.get(a.key)?.demoted) {
      demoted[a.index] = true;
      restricted = true;
    }
  }
  if (!any) {
    l.exhausted = { atMs: nowMs, scope: "arms" };
    return { arm: -1, propensity: 1, reason: "budget_exhausted", throttle: 0 };
  }
  const theta = throttleAt(l, nowMs);
  if (!restricted) {
    if (theta < 1 && rng.next() >= theta) return { arm: -1, propensity: 1 - theta, reason: "paced", throttle: theta };
    const ch = c.impl.choose(c.state, x, rng);
    return { arm: ch.arm, propensity: theta * ch.propensity, throttle: theta };
  }
  const al = allocate(
    c.impl.probabilities(c.state, x, rng),
    eligible,
    demoted,
    l.config.guardrail?.explorationShare ?? 0,
  );
  const none = 1 - theta + theta * al.noServe;
  if (theta < 1 && rng.next() >= theta) return { arm: -1, propensity: none, reason: "paced", throttle: theta };
  const a = drawArm(al, rng);
  if (a < 0) return { arm: -1, propensity: none, reason: "roi_guardrail", throttle: theta };
  return { arm: a, propensity: theta * al.probs[a]!, throttle: theta };
}
