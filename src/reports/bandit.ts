/**
 * "What the bandit earned": probability of being best, expected loss, regret and IPS lift.
 *
 * P(best) and expected loss are Monte Carlo over the arms' posteriors on a seeded Rng (Scott 2010,
 * "A modern Bayesian look at the multi-armed bandit"): loss_a = E[max_j θ_j − θ_a]. The estimated regret
 * against always playing the best arm is Σ_a n_a (max_j θ_j − θ_a), reported as its posterior mean and
 * 95% credible interval over the same draws.
 *
 * Lift over an even split uses the logged propensities (inverse propensity scoring, Horvitz & Thompson
 * 1952; Li et al. 2011): the even policy's value is V̂ = (1/n) Σ rᵢ · (1/Kᵢ) / pᵢ, the actual policy's value is
 * the on-policy mean, and lift = (1/n) Σ dᵢ with dᵢ = rᵢ − rᵢ/(Kᵢ pᵢ), a paired difference whose normal
 * interval uses the sample variance of dᵢ.
 */
import type { Rng } from "../../strategies/rng.ts";
import { normalQuantile, sampleBeta, sampleNormal, sortedQuantile } from "./stats.ts";
import type { Estimate } from "./roi.ts";

/** Posterior of an arm's mean reward per decision. */
export type ArmPosterior = { kind: "beta"; a: number; b: number } | { kind: "normal"; mean: number; sd: number };

export interface BestArmAnalysis {
  probabilityBest: number[];
  expectedLoss: number[];
  /** Σ_a n_a E[max θ − θ_a] with its 95% credible interval, in reward units (conversions or money). */
  regret: Estimate;
}

/**
 * Monte Carlo P(best) and expected loss. `pulls[a]` are the decisions each arm received (for regret).
 * Ties in a draw go to the lowest index, which has probability 0 for continuous posteriors.
 */
export function bestArmAnalysis(
  posteriors: readonly ArmPosterior[],
  pulls: readonly number[],
  rng: Rng,
  draws = 10_000,
): BestArmAnalysis {
  const k = posteriors.length;
  if (k === 0) return { probabilityBest: [], expectedLoss: [], regret: { estimate: 0, lower: 0, upper: 0 } };
  const wins = new Float64Array(k);
  const loss = new Float64Array(k);
  const regretDraws = new Float64Array(draws);
  const theta = new Float64Array(k);
  for (let d = 0; d < draws; d++) {
    let best = 0;
    for (let a = 0; a < k; a++) {
      const p = posteriors[a];
      theta[a] = p.kind === "beta" ? sampleBeta(p.a, p.b, rng) : p.mean + p.sd * sampleNormal(rng);
      if (theta[a] > theta[best]) best = a;
    }
    wins[best] += 1;
    let r = 0;
    for (let a = 0; a < k; a++) {
      const l = theta[best] - theta[a];
      loss[a] += l;
      r += (pulls[a] ?? 0) * l;
    }
    regretDraws[d] = r;
  }
  regretDraws.sort();
  let mean = 0;
  for (const r of regretDraws) mean += r;
  return {
    probabilityBest: Array.from(wins, (w) => w / draws),
    expectedLoss: Array.from(loss, (l) => l / draws),
    regret: {
      estimate: mean / draws,
      lower: sortedQuantile(regretDraws, 0.025),
      upper: sortedQuantile(regretDraws, 0.975),
    },
  };
}

/** Beta posterior (uniform prior) of successes per trial; successes are clamped to the trials. */
export function betaPosterior(successes: number, trials: number): ArmPosterior {
  const s = Math.min(Math.max(successes, 0), Math.max(trials, 0));
  return { kind: "beta", a: 1 + s, b: 1 + Math.max(trials, 0) - s };
}

/**
 * Normal posterior (flat prior) of the mean reward per decision, from Σr and Σr² over n decisions.
 * With fewer than 2 decisions the spread is unknown and there is no posterior (null).
 */
export function normalPosterior(n: number, sum: number, sumSq: number): ArmPosterior | null {
  if (n < 2) return null;
  const mean = sum / n;
  const variance = Math.max(0, (sumSq - n * mean * mean) / (n - 1));
  return { kind: "normal", mean, sd: Math.sqrt(variance / n) };
}

/** One logged decision for off-policy evaluation. */
export interface LoggedDecision {
  propensity: number;
  reward: number;
  /** Active arms at decision time (the even split's 1/K). */
  activeArms: number;
}

/** Sufficient sums for the IPS lift, so SQL can compute them without shipping rows. */
export interface IpsSums {
  n: number;
  /** Σ rᵢ */
  sumReward: number;
  /** Σ rᵢ / (Kᵢ pᵢ) */
  sumEven: number;
  /** Σ dᵢ², dᵢ = rᵢ − rᵢ/(Kᵢ pᵢ) */
  sumDiffSq: number;
}

export function ipsSums(rows: Iterable<LoggedDecision>): IpsSums {
  const s: IpsSums = { n: 0, sumReward: 0, sumEven: 0, sumDiffSq: 0 };
  for (const r of rows) {
    if (!(r.propensity > 0) || !(r.activeArms > 0)) continue;
    const w = r.reward / (r.activeArms * r.propensity);
    s.n += 1;
    s.sumReward += r.reward;
    s.sumEven += w;
    s.sumDiffSq += (r.reward - w) * (r.reward - w);
  }
  return s;
}

export interface Lift {
  decisions: number;
  /** Mean reward per decision under the actual allocation. */
  actualValue: number | null;
  /** IPS estimate of the mean reward per decision under an even split. */
  evenSplitValue: number | null;
  /** Actual − even, per decision, with a normal interval. */
  liftPerDecision: Estimate;
  /** liftPerDecision × decisions: what the allocation earned over an even split in total. */
  liftTotal: Estimate;
  /** actual / even − 1. */
  relativeLift: number | null;
  /** relativeLift with the per-decision interval divided by the even-split value (that value taken as known). */
  relativeLiftInterval: Estimate;
}

export function ipsLift(s: IpsSums, level = 0.95): Lift {
  if (s.n === 0) {
    const none = { estimate: null, lower: null, upper: null };
    return {
      decisions: 0,
      actualValue: null,
      evenSplitValue: null,
      liftPerDecision: none,
      liftTotal: none,
      relativeLift: null,
      relativeLiftInterval: none,
    };
  }
  const actual = s.sumReward / s.n;
  const even = s.sumEven / s.n;
  const lift = actual - even;
  let lower: number | null = null;
  let upper: number | null = null;
  if (s.n >= 2) {
    const variance = Math.max(0, (s.sumDiffSq - s.n * lift * lift) / (s.n - 1));
    const half = normalQuantile(1 - (1 - level) / 2) * Math.sqrt(variance / s.n);
    lower = lift - half;
    upper = lift + half;
  }
  return {
    decisions: s.n,
    actualValue: actual,
    evenSplitValue: even,
    liftPerDecision: { estimate: lift, lower, upper },
    liftTotal: {
      estimate: lift * s.n,
      lower: lower === null ? null : lower * s.n,
      upper: upper === null ? null : upper * s.n,
    },
    relativeLift: even !== 0 ? actual / even - 1 : null,
    relativeLiftInterval:
      even > 0
        ? {
            estimate: actual / even - 1,
            lower: lower === null ? null : lower / even,
            upper: upper === null ? null : upper / even,
          }
        : { estimate: null, lower: null, upper: null },
  };
}
