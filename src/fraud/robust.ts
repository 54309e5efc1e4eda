/**
 * Robust outlier tests shared by the rate detectors.
 *
 * A rate k/n of one entity is an outlier when two things hold: (1) a two-sided exact binomial test against
 * the reference rate rejects at the Bonferroni level, and (2) its logit is far from the crowd: robust z = (ℓ − median) /
 * (1.4826 · MAD) (Iglewicz & Hoaglin 1993, "How to detect and handle outliers": |z| > 3.5). The test alone
 * would flag big, honest publishers whose rate differs slightly; the z alone would flag small noisy ones.
 * With a handful of entities the MAD is itself noisy, so the scale is floored and widened by the entity's own
 * sampling error on the logit, √(1/(k+½) + 1/(n−k+½)): a small publisher must stand out by more.
 * Because a MAD from five or six entities can be inflated by one honest straggler, a rate beyond `maxRatio`
 * times the reference (or below 1/maxRatio) is an outlier too, whatever the z — still only when the test rejects.
 * The reference is the crowd's typical rate, the inverse logit of the median logit: a pooled rate would be
 * dragged by a big fraudster, masking it and making every honest entity look off ("swamping"). With too few
 * entities for a median it is the pooled rate of all *other* entities (leave-one-out).
 */
import { median, medianAbsoluteDeviation } from "simple-statistics";
import { binomialLowerTail, binomialUpperTail } from "../reports/stats.ts";
import { bonferroni } from "./types.ts";

export interface RateObservation {
  entity: string;
  successes: number;
  trials: number;
}

export interface RateOutlierOptions {
  alpha: number;
  zThreshold: number;
  minTrials: number;
  /** Below this many tested entities the robust z is not computed and only the test decides. */
  minEntitiesForZ: number;
  /** Floor of the robust scale on the logit, so a crowd of near-identical rates does not make every wobble an outlier. */
  minScale: number;
  /** A rate this many times the reference (or 1/maxRatio of it) is an outlier even when the robust z is not. */
  maxRatio: number;
  tails: "both" | "high" | "low";
}

export interface RateOutlier {
  entity: string;
  direction: "high" | "low";
  rate: number;
  referenceRate: number;
  pValue: number;
  alphaAdjusted: number;
  /** Robust z on the logit, null when too few entities. */
  z: number | null;
  /** rate / reference for "high", reference / rate for "low" (≥ 1 means further out). */
  ratio: number;
  /** What decided beyond the test: the robust z, the ratio, or the test alone (too few entities for a z). */
  rule: "robust_z" | "ratio" | "test";
  successes: number;
  trials: number;
}

export function logit(k: number, n: number): number {
  const p = (k + 0.5) / (n + 1);
  return Math.log(p / (1 - p));
}

export function twoSidedBinomialP(k: number, n: number, p: number): number {
  return Math.min(1, 2 * Math.min(binomialUpperTail(k, n, p), binomialLowerTail(k, n, p)));
}

export function rateOutliers(obs: readonly RateObservation[], opts: RateOutlierOptions): RateOutlier[] {
  const tested = obs.filter((o) => o.trials >= opts.minTrials);
  if (tested.length < 2) return [];
  let K = 0;
  let N = 0;
  for (const o of obs) {
    K += Math.min(o.successes, o.trials);
    N += o.trials;
  }
  const logits = tested.map((o) => logit(Math.min(o.successes, o.trials), o.trials));
  const useZ = tested.length >= opts.minEntitiesForZ;
  const med = useZ ? median(logits) : 0;
  const scale = useZ ? Math.max(1.4826 * medianAbsoluteDeviation(logits), opts.minScale) : 1;
  const level = bonferroni(opts.alpha, tested.length);
  const out: RateOutlier[] = [];
  tested.forEach((o, i) => {
    const k = Math.min(o.successes, o.trials);
    const ref = useZ ? 1 / (1 + Math.exp(-med)) : (K - k + 0.5) / (N - o.trials + 1);
    const rate = k / o.trials;
    const direction = rate >= ref ? "high" : "low";
    if (opts.tails !== "both" && opts.tails !== direction) return;
    const p =
      opts.tails === "both"
        ? twoSidedBinomialP(k, o.trials, ref)
        : direction === "high"
          ? binomialUpperTail(k, o.trials, ref)
          : binomialLowerTail(k, o.trials, ref);
    const se2 = 1 / (k + 0.5) + 1 / (o.trials - k + 0.5);
    const z = useZ ? (logits[i] - med) / Math.sqrt(scale * scale + se2) : null;
    if (p > level) return;
    const ratio = direction === "high" ? rate / ref : ref / Math.max(rate, 1e-12);
    let rule: RateOutlier["rule"];
    if (z === null) rule = "test";
    else if (Math.abs(z) >= opts.zThreshold && Math.sign(z) === (direction === "high" ? 1 : -1)) rule = "robust_z";
    else if (ratio >= opts.maxRatio) rule = "ratio";
    else return;
    out.push({
      entity: o.entity,
      direction,
      rate,
      referenceRate: ref,
      pValue: p,
      alphaAdjusted: level,
      z,
      ratio,
      rule,
      successes: k,
      trials: o.trials,
    });
  });
  return out;
}

/**
 * Robust z of each value against the median and MAD of all (scale floored and widened by each value's own
 * standard error, as for the rates), for continuous metrics.
 */
export function robustZ(values: readonly number[], se: readonly number[], minScale: number): number[] {
  if (values.length < 3) return values.map(() => 0);
  const med = median([...values]);
  const scale = Math.max(1.4826 * medianAbsoluteDeviation([...values]), minScale);
  return values.map((v, i) => (v - med) / Math.sqrt(scale * scale + se[i] * se[i]));
}

/** The finding's statistic and threshold for the rule that flagged it. */
export function statisticOf(f: RateOutlier, opts: RateOutlierOptions): { statistic: number; threshold: number } {
  if (f.rule === "robust_z")
    return { statistic: f.z!, threshold: f.direction === "high" ? opts.zThreshold : -opts.zThreshold };
  if (f.rule === "ratio") return { statistic: f.ratio, threshold: opts.maxRatio };
  return { statistic: -Math.log10(f.pValue), threshold: -Math.log10(f.alphaAdjusted) };
}
