/**
 * The decision-to-conversion delay model of a campaign: pure functions, no clock (time is passed in hours).
 *
 * Family: lognormal, ln D ~ N(μ, σ²), truncated at the attribution window W (a conversion later than W
 * neither counts nor teaches, so what matters is the delay of the conversions that will count):
 *
 *     F(t) = P(D ≤ t | D ≤ W) = Φ((ln t − μ)/σ) / Φ((ln W − μ)/σ)   for t < W,   F(t) = 1 for t ≥ W.
 *
 * A pending decision of age t weighs in the posterior as F(t) of a trial (buckets.ts). A bucket holds an
 * hour of decisions, taken as spread evenly over it, so it weighs by the mean of F over its ages, in
 * closed form from the lognormal's partial expectation: ∫₀ᵀ Φ((ln t − μ)/σ) dt = T·Φ(z) − e^{μ+σ²/2}·Φ(z − σ),
 * z = (ln T − μ)/σ (`meanCdf`).
 *
 * Prior (`priorDelay`): from a declared `{medianHours, p95Hours}` (of the lognormal before truncation:
 * μ = ln median, σ = (ln p95 − ln median)/z₀.₉₅), or by default median = W/10, p95 = W/2 (σ ≈ 0.98).
 *
 * Learning (`learnDelay`), unless `learn: false`. State: per cohort (the hour of the decisions) a histogram
 * of observed delays over fixed half-octave bins (`DELAY_BIN_EDGES`, 1 minute to a year) — commutative
 * counts that replicas add in the database; cohorts older than the window are summed into one matured
 * histogram (`DelayCounts`, folded like arm buckets). Right-censoring: a cohort of age a can only have shown
 * delays ≤ a, so the naive histogram is biased towards short delays while a campaign is young. The
 * correction used is the conditional likelihood: given that a conversion of cohort h has been observed,
 * its delay has density f_W(d)·g_h(d)/Z_h, where g_h(d) is the share of the cohort's decisions old enough
 * to show d and Z_h = ∫ f_W g_h = the mean of F over the cohort's ages (the very quantity buckets use).
 * Matured cohorts have Z = 1. The fit maximises Σ_h Σ_bins c_hj·[ln P_W(bin j ∩ [0, a_h]) − ln Z_h] plus
 * PRIOR_WEIGHT pseudo-observations spread over the bins as the prior says (a cross-entropy pull that keeps
 * the estimate sane with few delays), by Nelder–Mead over (μ, ln σ) from the prior: deterministic, so
 * every replica computes the same model from the same counts and the same `now`. Unlike weighting each
 * delay by 1/(share of decisions old enough), it needs no assumption that conversion rates and send
 * volumes stay constant across cohorts (each cohort is normalised on its own).
 * Binning within a bin and "decisions spread evenly over the hour" are the approximations.
 */
import { jStat } from "../../strategies/jstat.ts";

import type { ConversionDelaySpec } from "../store/schema.ts";

export type { ConversionDelaySpec };

export interface DelayModel {
  family: "lognormal";
  mu: number;
  sigma: number;
  windowHours: number;
  /** Where μ, σ come from: the window's default, the declared prior, or observed delays on top of a prior. */
  source: "default" | "declared" | "learned";
  /** Observed delays the model learned from (0 unless learned). */
  observations: number;
}

/** What the curves need of a model. */
export type DelayShape = Pick<DelayModel, "mu" | "sigma" | "windowHours">;

/** z of the 95th percentile of N(0, 1). */
const Z95 = 1.6448536269514722;
/** Pseudo-observations the prior weighs in a learned fit. */
export const PRIOR_WEIGHT = 20;

const phi = (z: number) => (z === Infinity ? 1 : z === -Infinity ? 0 : jStat.normal.cdf(z, 0, 1));

/** Edges of the delay histogram's bins, in hours: 0, then 1 minute · 2^(k/2) up to > a year; the last bin is open. */
export const DELAY_BIN_EDGES: readonly number[] = [0, ...Array.from({ length: 40 }, (_, k) => 2 ** (k / 2) / 60)];
export const DELAY_BINS = DELAY_BIN_EDGES.length;

/** Bin of a delay in hours (negative delays, e.g. clock skew, land in bin 0). */
export function delayBin(hours: number): number {
  if (!(hours >= 1 / 60)) return 0;
  const k = Math.floor(2 * Math.log2(hours * 60) + 1e-9) + 1;
  return Math.min(DELAY_BINS - 1, k);
}

/** The prior: declared median and p95, or the window's default (median W/10, p95 W/2). Throws on p95 ≤ median. */
export function priorDelay(windowHours: number, spec: ConversionDelaySpec = {}): DelayModel {
  const declared = spec.medianHours !== undefined || spec.p95Hours !== undefined;
  const median = spec.medianHours ?? (spec.p95Hours !== undefined ? spec.p95Hours / 5 : windowHours / 10);
  const p95 = spec.p95Hours ?? median * 5;
  if (!(median > 0) || !(p95 > median)) throw new RangeError("conversionDelay: need 0 < medianHours < p95Hours");
  return {
    family: "lognormal",
    mu: Math.log(median),
    sigma: (Math.log(p95) - Math.log(median)) / Z95,
    windowHours,
    source: declared ? "declared" : "default",
    observations: 0,
  };
}

/** Untruncated lognormal CDF Φ((ln t − μ)/σ). */
function lnCdf(mu: number, sigma: number, t: number): number {
  return t <= 0 ? 0 : phi((Math.log(t) - mu) / sigma);
}

/** P(D ≤ t | D ≤ W): the share of the conversions that will count which have arrived by age t. */
export function delayCdf(m: DelayShape, t: number): number {
  if (t >= m.windowHours) return 1;
  if (!(t > 0)) return 0;
  return lnCdf(m.mu, m.sigma, t) / lnCdf(m.mu, m.sigma, m.windowHours);
}

/** ∫₀ᵀ Φ((ln t − μ)/σ) dt (closed form, partial expectation of the lognormal). */
function cdfIntegral(mu: number, sigma: number, T: number): number {
  if (T <= 0) return 0;
  const z = (Math.log(T) - mu) / sigma;
  return T * phi(z) - Math.exp(mu + (sigma * sigma) / 2) * phi(z - sigma);
}

/** F and ∫₀ᵗ F of one model, optionally memoised (a fit evaluates both at the same edges and ages many times). */
interface Curve {
  F(t: number): number;
  I(t: number): number;
}

function curve(m: DelayShape, memo = false): Curve {
  const W = m.windowHours;
  const FW = lnCdf(m.mu, m.sigma, W);
  const F = (t: number) => delayCdf(m, t);
  const I = (t: number) => cdfIntegral(m.mu, m.sigma, Math.min(t, W)) / FW + Math.max(0, t - W);
  if (!memo) return { F, I };
  const fm = new Map<number, number>();
  const im = new Map<number, number>();
  return {
    F: (t) => fm.get(t) ?? (fm.set(t, F(t)), fm.get(t)!),
    I: (t) => im.get(t) ?? (im.set(t, I(t)), im.get(t)!),
  };
}

function meanCdfOn(c: Curve, W: number, a0: number, a1: number): number {
  const lo = Math.max(0, Math.min(a0, a1));
  const hi = Math.max(0, Math.max(a0, a1));
  if (hi - lo < 1e-9) return c.F(hi);
  if (lo >= W) return 1;
  return Math.min(1, Math.max(0, (c.I(hi) - c.I(lo)) / (hi - lo)));
}

function observedMassOn(c: Curve, lo: number, hi: number, a0: number, a1: number): number {
  const b0 = Math.max(0, a0);
  let p = 0;
  if (lo < b0) p += c.F(Math.min(hi, b0)) - c.F(lo);
  const l = Math.max(lo, b0);
  const u = Math.min(hi, a1);
  if (u > l && a1 - b0 >= 1e-9) p += ((a1 - u) * c.F(u) - (a1 - l) * c.F(l) + c.I(u) - c.I(l)) / (a1 - b0);
  return p;
}

/**
 * Mean of F over ages uniform in [a0, a1] hours (a bucket of decisions spread evenly over its span), exact.
 * a0 = a1 gives F(a0). Negative ages (decisions stamped after `now`) count as age 0.
 */
export function meanCdf(m: DelayShape, a0: number, a1: number): number {
  return meanCdfOn(curve(m), m.windowHours, a0, a1);
}

/**
 * P(delay in [lo, hi) and observed by now) for a cohort whose decisions have ages uniform in [a0, a1]:
 * ∫ f(d)·g(d) dd with g(d) = share of the cohort old enough to show d = clamp((a1 − d)/(a1 − a0), 0, 1).
 * Summed over all bins it is meanCdf(a0, a1). By parts on [l, u] ⊂ [a0, a1]:
 * ∫ (a1 − d) f(d) dd = (a1 − u)F(u) − (a1 − l)F(l) + ∫ F.
 */
export function observedMass(m: DelayShape, lo: number, hi: number, a0: number, a1: number): number {
  return observedMassOn(curve(m), lo, hi, a0, a1);
}

/** Median and 95th percentile of the lognormal (before truncation, as declared). */
export function delayQuantiles(m: Pick<DelayModel, "mu" | "sigma">): { medianHours: number; p95Hours: number } {
  return { medianHours: Math.exp(m.mu), p95Hours: Math.exp(m.mu + Z95 * m.sigma) };
}

/**
 * Observed delays, commutative counts: per cohort hour (unmatured) a histogram over DELAY_BIN_EDGES, and one
 * histogram for every cohort whose decisions are all older than the window (they can show no more delays).
 */
export interface DelayCounts {
  matured: number[];
  cohorts: Map<number, number[]>;
}

export const emptyDelayCounts = (): DelayCounts => ({ matured: new Array(DELAY_BINS).fill(0), cohorts: new Map() });

/** One observed decision→conversion delay of a decision made in hour `cohortHour` (hours since the epoch). */
export function addDelay(c: DelayCounts, cohortHour: number, delayHours: number, count = 1): void {
  let h = c.cohorts.get(cohortHour);
  if (!h) c.cohorts.set(cohortHour, (h = new Array(DELAY_BINS).fill(0)));
  h[delayBin(delayHours)] += count;
}

/** Moves the cohorts whose every decision is older than the window (hour + 1 + W ≤ now) into `matured`. */
export function matureDelays(c: DelayCounts, nowHours: number, windowHours: number): void {
  for (const [h, hist] of c.cohorts) {
    if (h + 1 + windowHours > nowHours) continue;
    for (let j = 0; j < DELAY_BINS; j++) c.matured[j] += hist[j];
    c.cohorts.delete(h);
  }
}

export function delayObservations(c: DelayCounts): number {
  let n = 0;
  for (const v of c.matured) n += v;
  for (const h of c.cohorts.values()) for (const v of h) n += v;
  return n;
}

/**
 * F and ∫F of one (μ, σ) at the bin edges, for a fit's many evaluations of the likelihood: the same
 * expressions as `curve` (so the same values, bit for bit), without a closure or a memo map per call —
 * the fit evaluates the likelihood a few hundred times per refit, and the memoised curve made one refit
 * ~6 ms (bench: 3,000 delays in one cohort), run after every event batch that had a first conversion.
 */
class EdgeCurve {
  readonly FW: number;
  /** F at each edge; ∫₀ᵉ F at each edge, computed when first needed (NaN until then). */
  readonly edgeF = new Float64Array(DELAY_BINS);
  private readonly edgeI = new Float64Array(DELAY_BINS);

  constructor(
    readonly mu: number,
    readonly sigma: number,
    readonly W: number,
  ) {
    this.FW = lnCdf(mu, sigma, W);
    this.edgeI.fill(Number.NaN);
    for (let j = 0; j < DELAY_BINS; j++) this.edgeF[j] = this.F(DELAY_BIN_EDGES[j]!);
  }

  /** delayCdf(m, t) */
  F(t: number): number {
    if (t >= this.W) return 1;
    if (!(t > 0)) return 0;
    return lnCdf(this.mu, this.sigma, t) / this.FW;
  }

  /** curve(m).I(t) */
  I(t: number): number {
    return cdfIntegral(this.mu, this.sigma, Math.min(t, this.W)) / this.FW + Math.max(0, t - this.W);
  }

  /** I at edge j (the last bin's upper edge is +∞). */
  edgeIAt(j: number): number {
    if (j >= DELAY_BINS) return Number.POSITIVE_INFINITY;
    let v = this.edgeI[j]!;
    if (Number.isNaN(v)) this.edgeI[j] = v = this.I(DELAY_BIN_EDGES[j]!);
    return v;
  }
}

/**
 * observedMassOn for bin j = [lo, hi) of a cohort with ages [a0, a1], from the curve's values at the edges
 * and at b0 = max(0, a0) and a1 — every point observedMassOn evaluates F or I at is one of those.
 */
function observedMassAt(
  c: EdgeCurve,
  j: number,
  a1: number,
  b0: number,
  Fb0: number,
  Ib0: number,
  Fa1: number,
  Ia1: number,
): number {
  const lo = DELAY_BIN_EDGES[j]!;
  const last = j + 1 >= DELAY_BINS;
  const hi = last ? Number.POSITIVE_INFINITY : DELAY_BIN_EDGES[j + 1]!;
  const Flo = c.edgeF[j]!;
  const Fhi = last ? 1 : c.edgeF[j + 1]!;
  let p = 0;
  if (lo < b0) p += (hi <= b0 ? Fhi : Fb0) - Flo;
  const l = Math.max(lo, b0);
  const u = Math.min(hi, a1);
  if (u > l && a1 - b0 >= 1e-9) {
    const Fu = hi <= a1 ? Fhi : Fa1;
    const Iu = hi <= a1 ? c.edgeIAt(j + 1) : Ia1;
    const Fl = lo >= b0 ? Flo : Fb0;
    const Il = lo >= b0 ? c.edgeIAt(j) : Ib0;
    p += ((a1 - u) * Fu - (a1 - l) * Fl + Iu - Il) / (a1 - b0);
  }
  return p;
}

/** meanCdfOn for ages [a0, a1], a0 ≤ a1 (a cohort's), from the curve's values at lo = max(0, a0) and hi = a1. */
function meanCdfAt(W: number, lo: number, hi: number, Ilo: number, Fhi: number, Ihi: number): number {
  if (hi - lo < 1e-9) return Fhi;
  if (lo >= W) return 1;
  return Math.min(1, Math.max(0, (Ihi - Ilo) / (hi - lo)));
}

/** Penalised conditional log-likelihood of (μ, σ) (see the header); −Infinity where a count has mass 0. */
export function delayLogLik(
  mu: number,
  sigma: number,
  windowHours: number,
  counts: DelayCounts,
  nowHours: number,
  prior?: { weights: ArrayLike<number> },
): number {
  const c = new EdgeCurve(mu, sigma, windowHours);
  const edgeF = c.edgeF;
  let ll = 0;
  const add = (n: number, p: number) => {
    if (n === 0) return;
    if (p > 0) ll += n * Math.log(p);
    else if (n > 0) ll = -Infinity;
  };
  for (let j = 0; j < DELAY_BINS; j++) {
    const mass = (j + 1 < DELAY_BINS ? edgeF[j + 1]! : 1) - edgeF[j]!;
    add(counts.matured[j]!, mass);
    if (prior) add(prior.weights[j]!, mass);
  }
  for (const [h, hist] of counts.cohorts) {
    const a0 = Math.max(0, nowHours - h - 1);
    const a1 = nowHours - h;
    if (a1 <= 0) continue; // a cohort that has not started by `now` (fits run at whole hours)
    // a0 ≥ 0 already: b0 = max(0, a0) = a0; the points observedMassOn and meanCdfOn evaluate F, I at.
    const b0 = a0;
    const Fb0 = c.F(b0);
    const Ib0 = c.I(b0);
    const Fa1 = c.F(a1);
    const Ia1 = c.I(a1);
    let total = 0;
    for (let j = 0; j < DELAY_BINS; j++) {
      if (hist[j] === 0) continue;
      total += hist[j]!;
      // max(·, 1e-300): a count the cohort could not show yet (a clock ahead of `now`) costs much, not all.
      add(hist[j]!, Math.max(1e-300, observedMassAt(c, j, a1, b0, Fb0, Ib0, Fa1, Ia1)));
    }
    if (total > 0) add(-total, meanCdfAt(windowHours, b0, a1, Ib0, Fa1, Ia1));
  }
  return ll;
}

/** Bin masses of a model (fully matured): the prior's pseudo-observations are PRIOR_WEIGHT times these. */
export function binMasses(m: DelayShape): number[] {
  const F = DELAY_BIN_EDGES.map((e) => delayCdf(m, e));
  return F.map((f, j) => (j + 1 < F.length ? F[j + 1]! : 1) - f);
}

/**
 * The delay model in use: the prior, or (learn ≠ false and some delays observed) the censoring-corrected
 * fit on top of it. Deterministic in (prior, counts, nowHours).
 */
export function learnDelay(prior: DelayModel, counts: DelayCounts, nowHours: number, learn = true): DelayModel {
  const observations = delayObservations(counts);
  if (!learn || observations === 0) return prior;
  const pw = { weights: binMasses(prior).map((p) => p * PRIOR_WEIGHT) };
  const W = prior.windowHours;
  // A plausible model only: the median between W/10⁴ and 10·W, σ below 4 (wider than the prior if it
  // was declared outside). With few, very short delays (conversions within seconds) the censored likelihood
  // is flat in that direction, and an unbounded fit wandered to medians of decades.
  const lnW = Math.log(W);
  const muLo = Math.min(lnW - 9.2, prior.mu - 1);
  const muHi = Math.max(lnW + 2.3, prior.mu + 1);
  const f = (v: readonly number[]) => {
    const sigma = Math.exp(v[1]!);
    if (!(sigma > 0.02 && sigma < Math.max(4, prior.sigma + 1)) || !(v[0]! > muLo && v[0]! < muHi)) return Infinity;
    const ll = delayLogLik(v[0]!, sigma, W, counts, nowHours, pw);
    return Number.isFinite(ll) ? -ll : Infinity;
  };
  const best = nelderMead(f, [prior.mu, Math.log(prior.sigma)], [0.5, 0.3]);
  return { ...prior, mu: best[0]!, sigma: Math.exp(best[1]!), source: "learned", observations };
}

/** The largest coordinate difference between the simplex's vertices and its first. */
function spread(simplex: { x: number[] }[]): number {
  let d = 0;
  const b = simplex[0]!.x;
  for (let i = 1; i < simplex.length; i++)
    for (let j = 0; j < b.length; j++) d = Math.max(d, Math.abs(simplex[i]!.x[j]! - b[j]!));
  return d;
}

/** Nelder–Mead minimisation in 2-D (standard coefficients), fixed iteration budget: deterministic. */
function nelderMead(f: (v: readonly number[]) => number, x0: number[], step: number[], iters = 200): number[] {
  const n = x0.length;
  let simplex = [x0, ...step.map((s, i) => x0.map((x, j) => (j === i ? x + s : x)))].map((x) => ({ x, v: f(x) }));
  for (let it = 0; it < iters; it++) {
    simplex.sort((a, b) => a.v - b.v);
    const bestV = simplex[0]!.v;
    const worst = simplex[n]!;
    // Converged when the simplex's values agree to 1e-11 of their size, or it has shrunk below 1e-7 in μ and
    // ln σ (a fit against a bound, e.g. σ → 4 with only very short delays, creeps towards it for ever). An
    // absolute 1e-10 alone is below the rounding of a log-likelihood of thousands of delays, so every refit
    // ran all 200 iterations (~4 ms), and a refit follows every event batch with a first conversion.
    if (it > 10 && (Math.abs(worst.v - bestV) < 1e-10 + 1e-11 * Math.abs(bestV) || spread(simplex) < 1e-7)) break;
    const c = x0.map((_, j) => simplex.slice(0, n).reduce((s, p) => s + p.x[j]!, 0) / n);
    const at = (t: number) => c.map((cj, j) => cj + t * (worst.x[j]! - cj));
    const r = at(-1);
    const vr = f(r);
    if (vr < bestV) {
      const e = at(-2);
      const ve = f(e);
      simplex[n] = ve < vr ? { x: e, v: ve } : { x: r, v: vr };
    } else if (vr < simplex[n - 1]!.v) simplex[n] = { x: r, v: vr };
    else {
      const k = vr < worst.v ? at(-0.5) : at(0.5);
      const vk = f(k);
      if (vk < Math.min(vr, worst.v)) simplex[n] = { x: k, v: vk };
      else {
        const b = simplex[0]!.x;
        simplex = simplex.map((p, i) => {
          if (i === 0) return p;
          const x = p.x.map((xj, j) => b[j]! + 0.5 * (xj - b[j]!));
          return { x, v: f(x) };
        });
      }
    }
  }
  simplex.sort((a, b) => a.v - b.v);
  return simplex[0]!.x;
}
