/**
 * Rate outlier test shared by the rate detectors (CTR, conversion rate), calibrated for 2–50 entities.
 *
 * Model: honest entities' logit rates ℓ differ by a between-entity spread τ around a typical value μ, and
 * each observed logit adds its own sampling error se² = 1/(k+½) + 1/(n−k+½). Entity i is compared with the
 * *others* (leave-one-out, so a fraudster never moves its own reference):
 *   - reference m = the others' mean logit (their median from `robustFrom` others on), shrunk toward a
 *     workspace prior μ₀ that weighs as `prior.weight` entities when one is given;
 *   - spread τ̂² = (ν₀ τ₀² + ν s²) / (ν₀ + ν), the others' spread s² (sample variance, or (1.4826·MAD)² from
 *     `robustFrom` on, minus their mean sampling error) with ν = others − 1 degrees of freedom, pooled with
 *     the prior spread τ₀ worth ν₀ = `tauDf` degrees of freedom (the larger of `tau0` and the workspace
 *     prior's spread): with three entities τ̂ is mostly the prior, with fifty mostly the data;
 *   - t = (ℓᵢ − m) / √(τ̂² (1 + 1/n_ref) + seᵢ²), n_ref = others + prior weight, against Student's t with
 *     ν₀ + ν degrees of freedom (the predictive distribution of a new honest entity).
 * Flagged when the p-value ≤ α / (entities tested) — Bonferroni over the entities of one detector, entity
 * type and scan — and the rate is at least `minRatio` times (or 1/minRatio of) the reference (effect size).
 * Minimum evidence: entities with fewer than `minTrials` trials are not tested, and nothing is tested with
 * fewer than `minEntities` entities (a prior counting as its weight): with two entities and no prior, which
 * one is odd is undecidable.
 * Few entities mask each other (one fraudster drags the others' reference toward itself), so the test is
 * sequential, like Rosner's generalized ESD: the most extreme entity is tested first; once flagged it leaves
 * the reference of the rest, and the next most extreme is tested against what remains, until one is not
 * flagged or fewer than `minEntities` remain.
 */
import { median, medianAbsoluteDeviation } from "simple-statistics";
import { createRequire } from "node:module";
import { binomialLowerTail, binomialUpperTail } from "../reports/stats.ts";
import type { RatePrior } from "./aggregates.ts";
import { bonferroni } from "./types.ts";

const jStat = createRequire(import.meta.url)("jstat") as {
  studentt: { cdf(x: number, df: number): number; inv(p: number, df: number): number };
};

export interface RateObservation {
  entity: string;
  successes: number;
  trials: number;
}

export interface RateOutlierOptions {
  alpha: number;
  minTrials: number;
  /** Fewer tested entities than this (a prior counts as its weight) and nothing is tested. */
  minEntities: number;
  /** Prior between-entity standard deviation of the logit rate, and what it weighs in degrees of freedom. */
  tau0: number;
  tauDf: number;
  /** From this many other entities on, the reference is their median and the spread their MAD. */
  robustFrom: number;
  /** Effect size: at least this factor above (or below) the reference. */
  minRatio: number;
  tails: "both" | "high" | "low";
}

export interface RateOutlier {
  entity: string;
  direction: "high" | "low";
  rate: number;
  referenceRate: number;
  pValue: number;
  alphaAdjusted: number;
  /** The t statistic on the logit, its degrees of freedom and the spread τ̂ used. */
  t: number;
  df: number;
  tau: number;
  /** rate / reference for "high", reference / rate for "low" (≥ 1 means further out). */
  ratio: number;
  successes: number;
  trials: number;
  /** Order of the sequential test (1 = the most extreme). */
  step: number;
}

export function logit(k: number, n: number): number {
  const p = (k + 0.5) / (n + 1);
  return Math.log(p / (1 - p));
}

export function twoSidedBinomialP(k: number, n: number, p: number): number {
  return Math.min(1, 2 * Math.min(binomialUpperTail(k, n, p), binomialLowerTail(k, n, p)));
}

/** P(T ≥ t) for Student's t with df degrees of freedom. */
export function studentUpperTail(t: number, df: number): number {
  return 1 - jStat.studentt.cdf(t, df);
}

export function studentQuantile(p: number, df: number): number {
  return jStat.studentt.inv(p, df);
}

interface Tested {
  o: RateObservation;
  k: number;
  l: number;
  se2: number;
}

interface Scored {
  x: Tested;
  t: number;
  df: number;
  tau: number;
  ref: number;
}

function score(x: Tested, others: readonly Tested[], opts: RateOutlierOptions, prior?: RatePrior): Scored {
  const robust = others.length >= opts.robustFrom;
  const ls = others.map((o) => o.l);
  let loc = 0;
  let s2 = 0;
  if (ls.length > 0) {
    if (robust) {
      loc = median(ls);
      s2 = (1.4826 * medianAbsoluteDeviation(ls)) ** 2;
    } else {
      loc = ls.reduce((a, b) => a + b, 0) / ls.length;
      s2 = ls.length > 1 ? ls.reduce((a, b) => a + (b - loc) ** 2, 0) / (ls.length - 1) : 0;
    }
    s2 = Math.max(0, s2 - others.reduce((a, o) => a + o.se2, 0) / others.length);
  }
  const w0 = prior?.weight ?? 0;
  const m = (ls.length * loc + w0 * (prior?.logit ?? 0)) / Math.max(1e-12, ls.length + w0);
  const nu = Math.max(0, ls.length - 1);
  // A workspace's spread can widen the prior spread, never narrow it (estimated from a handful of entities).
  const tau0 = Math.max(opts.tau0, prior?.tau ?? 0);
  const tau2 = (opts.tauDf * tau0 * tau0 + nu * s2) / (opts.tauDf + nu);
  const v = tau2 * (1 + 1 / (ls.length + w0)) + x.se2;
  return { x, t: (x.l - m) / Math.sqrt(v), df: opts.tauDf + nu, tau: Math.sqrt(tau2), ref: 1 / (1 + Math.exp(-m)) };
}

export function rateOutliers(
  obs: readonly RateObservation[],
  opts: RateOutlierOptions,
  prior?: RatePrior,
): RateOutlier[] {
  let pool: Tested[] = obs
    .filter((o) => o.trials >= opts.minTrials)
    .map((o) => {
      const k = Math.min(o.successes, o.trials);
      return { o, k, l: logit(k, o.trials), se2: 1 / (k + 0.5) + 1 / (o.trials - k + 0.5) };
    });
  const level = bonferroni(opts.alpha, pool.length);
  const out: RateOutlier[] = [];
  while (pool.length + (prior?.weight ?? 0) >= opts.minEntities && pool.length > 0) {
    const scored = pool
      .map((x) =>
        score(
          x,
          pool.filter((y) => y !== x),
          opts,
          prior,
        ),
      )
      .filter((s) => opts.tails === "both" || (opts.tails === "high" ? s.t > 0 : s.t < 0))
      .sort((a, b) => Math.abs(b.t) - Math.abs(a.t) || a.x.o.entity.localeCompare(b.x.o.entity));
    const s = scored[0];
    if (!s) break;
    const p = Math.min(1, (opts.tails === "both" ? 2 : 1) * studentUpperTail(Math.abs(s.t), s.df));
    const rate = s.x.k / s.x.o.trials;
    const direction = s.t >= 0 ? "high" : "low";
    const ratio = direction === "high" ? rate / s.ref : s.ref / Math.max(rate, 1e-12);
    if (p > level || ratio < opts.minRatio) break;
    out.push({
      entity: s.x.o.entity,
      direction,
      rate,
      referenceRate: s.ref,
      pValue: p,
      alphaAdjusted: level,
      t: s.t,
      df: s.df,
      tau: s.tau,
      ratio,
      successes: s.x.k,
      trials: s.x.o.trials,
      step: out.length + 1,
    });
    pool = pool.filter((y) => y !== s.x);
  }
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

/** The finding's statistic (t) and threshold (the critical t at the corrected level, signed like t). */
export function statisticOf(f: RateOutlier, opts: RateOutlierOptions): { statistic: number; threshold: number } {
  const tail = opts.tails === "both" ? f.alphaAdjusted / 2 : f.alphaAdjusted;
  const crit = studentQuantile(1 - tail, f.df);
  return { statistic: f.t, threshold: f.direction === "high" ? crit : -crit };
}

/**
 * Where in time a flagged entity was anomalous: the hours whose own rate is beyond the reference in the
 * flagged direction by a one-sided binomial test at level α (the entity is already established as an
 * outlier at the corrected level; this only locates it) and by at least √minRatio. Without any such hour
 * (an effect too thin to see per hour) every hour of the entity with traffic counts.
 */
export function anomalousHours(
  cells: readonly { hour: number; successes: number; trials: number }[],
  f: Pick<RateOutlier, "direction" | "referenceRate">,
  alpha: number,
  minRatio: number,
): number[] {
  const withTraffic = cells.filter((c) => c.trials > 0 || c.successes > 0);
  const r = Math.sqrt(minRatio);
  const hit = withTraffic.filter((c) => {
    const k = Math.min(c.successes, c.trials);
    if (c.trials === 0) return false;
    const rate = k / c.trials;
    return f.direction === "high"
      ? rate >= r * f.referenceRate && binomialUpperTail(k, c.trials, f.referenceRate) <= alpha
      : rate * r <= f.referenceRate && binomialLowerTail(k, c.trials, f.referenceRate) <= alpha;
  });
  return (hit.length > 0 ? hit : withTraffic).map((c) => c.hour).sort((a, b) => a - b);
}
