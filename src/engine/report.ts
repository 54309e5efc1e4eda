/**
 * Per-arm report: posterior mean with a 95% interval, P(arm is best) and current traffic share.
 *
 * - conversions: Beta(1 + conversions, 1 + trials − conversions) (uniform prior); interval by the
 *   Beta quantiles (jstat).
 * - revenue / profit: normal approximation of the mean reward, mean ± 1.96·s/√n (s from the sums
 *   Σr, Σr²); arms with fewer than 2 trials get the pooled spread, so they still show wide intervals.
 * - P(best): Monte Carlo over those posteriors on a seeded generator (4,000 draws, s.e. ≤ 0.008), over
 *   active arms only. Traffic share: the strategy's own probabilities (context-free), or at the baseline
 *   context (all features missing) for contextual strategies.
 */
import { jStat } from "../../strategies/jstat.ts";
import type { Rng } from "../../strategies/rng.ts";
import { beta as sampleBeta, normal as sampleNormal } from "../../strategies/samplers.ts";
import type { ArmStats } from "../../strategies/types.ts";
import type { Objective } from "../store/schema.ts";

export interface Posterior {
  mean: number;
  low: number;
  high: number;
  /** Draws one value of the mean from the posterior. */
  draw(rng: Rng): number;
}

export function posteriors(objective: Objective, stats: ArmStats[]): Posterior[] {
  if (objective === "conversions") {
    return stats.map((s) => {
      const a = 1 + Math.max(0, s.sum);
      const b = 1 + Math.max(0, s.n - s.sum);
      return {
        mean: a / (a + b),
        low: jStat.beta.inv(0.025, a, b),
        high: jStat.beta.inv(0.975, a, b),
        draw: (rng) => sampleBeta(rng, a, b),
      };
    });
  }
  let N = 0;
  let S = 0;
  let SS = 0;
  for (const s of stats) {
    N += s.n;
    S += s.sum;
    SS += s.sumSq;
  }
  const pooledVar = N > 1 ? Math.max(0, (SS - (S * S) / N) / (N - 1)) : 1;
  return stats.map((s) => {
    const n = s.n;
    const mean = n > 0 ? s.sum / n : 0;
    const v = n > 1 ? Math.max(0, (s.sumSq - (s.sum * s.sum) / n) / (n - 1)) : pooledVar || 1;
    const se = Math.sqrt(v / Math.max(1, n));
    return { mean, low: mean - 1.96 * se, high: mean + 1.96 * se, draw: (rng) => mean + se * sampleNormal(rng) };
  });
}

export function probabilityBest(post: Posterior[], active: boolean[], rng: Rng, draws = 4000): number[] {
  const wins = new Array(post.length).fill(0);
  const idx = post.map((_, i) => i).filter((i) => active[i]);
  if (idx.length === 0) return wins;
  for (let t = 0; t < draws; t++) {
    let best = -1;
    let bestV = -Infinity;
    for (const i of idx) {
      const v = post[i].draw(rng);
      if (v > bestV) {
        bestV = v;
        best = i;
      }
    }
    wins[best]++;
  }
  return wins.map((w) => w / draws);
}
