/**
 * ROI guardrails in the allocation: a target cost per acquisition (`targetCpa`) and/or a minimum
 * return on ad spend (`minRoas`) are constraints on which arms may take traffic, not a line in a report.
 * Pure: statistics in, a verdict and an allocation out; randomness only from the injected generator.
 *
 * Each arm's conversion rate per served decision has the posterior Beta(1 + k, 1 + n − k) (k valid
 * attributed conversions, n served decisions); its spend per decision c = spend / n is taken as known
 * (costs are reported, not random draws). Then
 *   P(CPA > T)          = P(θ < c / T)          = I_{c/T}(1 + k, 1 + n − k),
 *   P(ROAS < m)         = P(θ · v̄ < m · c)     = I_{m·c/v̄}(1 + k, 1 + n − k),  v̄ = revenue / k,
 * (the ROAS form plugs in the mean value per conversion). An arm whose probability of missing a target
 * is above `confidence` (default 0.95), once it has spent at least `minSpendMultiple` (default 3) times
 * the target CPA (for ROAS alone: 3 × the average conversion value / minRoas), is **demoted** (and stays
 * so until P(missing) < 0.5: hysteresis, see `judgeArm`): demoted
 * arms together keep only `explorationShare` (default 0.05) of the traffic, split evenly — enough for
 * the posterior to notice if the arm improves — and the strategy's own pmf, renormalised, allocates the
 * rest among the compliant arms. This is the arm-elimination form of a bandit with a knapsack
 * constraint (Agrawal & Devanur 2014; Xia et al. 2015 use the same cost-ratio posterior in budgeted
 * Thompson sampling): an arm that violates the constraint with high posterior probability has a
 * positive Lagrangian cost for any multiplier that makes the constraint bind. When no arm is compliant,
 * only the exploration share is served; the rest of the traffic is answered without an arm
 * (`reason: "roi_guardrail"`).
 *
 * Every probability is exact, so the logged propensity stays the true probability of the outcome.
 */
import { jStat } from "../../strategies/jstat.ts";
import type { Rng } from "../../strategies/rng.ts";

export interface GuardrailParams {
  targetCpa: number | null;
  minRoas: number | null;
  confidence: number;
  explorationShare: number;
  minSpendMultiple: number;
}

export const GUARDRAIL_DEFAULTS = { confidence: 0.95, explorationShare: 0.05, minSpendMultiple: 3 } as const;

/** What the guardrail knows of an arm (from the spend counters). */
export interface ArmSpend {
  served: number;
  spend: number;
  conversions: number;
  revenue: number;
}

export interface ArmVerdict {
  /** P(the arm's CPA is above target), when a target CPA is set. */
  pCpaAbove: number | null;
  /** P(the arm's ROAS is below the minimum), when a minimum ROAS is set. */
  pRoasBelow: number | null;
  demoted: boolean;
}

const betaCdf = (x: number, k: number, n: number) => {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  return jStat.beta.cdf(x, 1 + k, 1 + Math.max(0, n - k));
};

/**
 * The verdict on one arm. Hysteresis: a demoted arm (`wasDemoted`) is reinstated only once it is more
 * likely than not within target (P(miss) < 0.5), so an arm near the threshold does not flip between all
 * the traffic and none of it as its posterior wobbles around `confidence`.
 */
export function judgeArm(a: ArmSpend, p: GuardrailParams, wasDemoted = false): ArmVerdict {
  const n = Math.max(0, a.served);
  const k = Math.min(n, Math.max(0, a.conversions));
  const c = n > 0 ? a.spend / n : 0;
  const pCpaAbove = p.targetCpa !== null ? (n > 0 ? betaCdf(c / p.targetCpa, k, n) : 0) : null;
  const vbar = k > 0 ? a.revenue / k : 0;
  const pRoasBelow =
    p.minRoas !== null ? (n > 0 ? (vbar > 0 ? betaCdf((p.minRoas * c) / vbar, k, n) : a.spend > 0 ? 1 : 0) : 0) : null;
  const minSpend = p.minSpendMultiple * (p.targetCpa ?? (p.minRoas !== null && vbar > 0 ? vbar / p.minRoas : 0));
  const enough = a.spend > 0 && a.spend >= minSpend;
  const miss = Math.max(pCpaAbove ?? 0, pRoasBelow ?? 0);
  const demoted = enough && (miss > p.confidence || (wasDemoted && miss >= 0.5));
  return { pCpaAbove, pRoasBelow, demoted };
}

export interface Allocation {
  /** P(arm a) per arm; Σ probs + noServe = 1. */
  probs: Float64Array;
  /** P(answered without an arm because no arm is compliant). */
  noServe: number;
}

/**
 * The allocation of one decision: `pmf` the strategy's (0 for arms it does not serve), `eligible` the
 * arms that may serve at all (active, within their spend cap), `demoted` the guardrail's verdicts.
 */
export function allocate(
  pmf: ArrayLike<number>,
  eligible: ArrayLike<boolean>,
  demoted: ArrayLike<boolean>,
  explorationShare: number,
): Allocation {
  const K = pmf.length;
  const probs = new Float64Array(K);
  let compliantMass = 0;
  let compliant = 0;
  let nDemoted = 0;
  for (let a = 0; a < K; a++) {
    if (!eligible[a]) continue;
    if (demoted[a]) nDemoted++;
    else {
      compliant++;
      compliantMass += Math.max(0, pmf[a]!);
    }
  }
  const eps = nDemoted > 0 ? explorationShare : 0;
  for (let a = 0; a < K; a++) {
    if (!eligible[a]) continue;
    if (demoted[a]) probs[a] = eps / nDemoted;
    else if (compliantMass > 0) probs[a] = ((1 - eps) * Math.max(0, pmf[a]!)) / compliantMass;
    else probs[a] = (1 - eps) / compliant;
  }
  const noServe = compliant === 0 ? (nDemoted > 0 ? 1 - eps : 1) : 0;
  return { probs, noServe };
}

/** Draws an outcome of an allocation: an arm index, or -1 for "no arm". */
export function drawArm(al: Allocation, rng: Rng): number {
  const u = rng.next();
  let c = 0;
  let last = -1;
  for (let a = 0; a < al.probs.length; a++) {
    const p = al.probs[a]!;
    if (p <= 0) continue;
    c += p;
    last = a;
    if (u < c) return a;
  }
  return al.noServe > 0 ? -1 : last;
}
