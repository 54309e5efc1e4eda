/**
 * Distribution functions and seeded samplers shared by the ROI report and the fraud detectors.
 *
 * Densities, CDFs and quantiles come from jstat (typed here through createRequire, so no global
 * `declare module` can clash with another engineer's). jstat's own samplers use Math.random, so the
 * samplers below draw from an injected `Rng`: Box–Muller normals, Marsaglia–Tsang gammas
 * (Marsaglia & Tsang 2000, "A simple method for generating gamma variables"), Beta as a gamma ratio.
 */
import { createRequire } from "node:module";
import { beta, gamma } from "../../strategies/samplers.ts";
import type { Rng } from "../../strategies/rng.ts";

interface JStat {
  beta: { inv(p: number, a: number, b: number): number; cdf(x: number, a: number, b: number): number };
  normal: { inv(p: number, mu: number, sd: number): number; cdf(x: number, mu: number, sd: number): number };
  ibeta(x: number, a: number, b: number): number;
  lowRegGamma(a: number, x: number): number;
}

const jStat = createRequire(import.meta.url)("jstat") as JStat;

/** Quantile of Beta(a, b). */
export function betaQuantile(p: number, a: number, b: number): number {
  return jStat.beta.inv(p, a, b);
}

export function normalQuantile(p: number): number {
  return jStat.normal.inv(p, 0, 1);
}

/** Upper tail of the standard normal, P(Z ≥ z). */
export function normalUpperTail(z: number): number {
  return 1 - jStat.normal.cdf(z, 0, 1);
}

/** P(X ≥ k) for X ~ Poisson(λ), through the regularized lower gamma P(k, λ) (exact, fast for large λ). */
export function poissonUpperTail(k: number, lambda: number): number {
  if (k <= 0) return 1;
  if (lambda <= 0) return 0;
  return jStat.lowRegGamma(k, lambda);
}

/** P(X ≥ k) for X ~ Binomial(n, p), through the regularized incomplete beta I_p(k, n − k + 1). */
export function binomialUpperTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  return jStat.ibeta(p, k, n - k + 1);
}

/** P(X ≤ k) for X ~ Binomial(n, p). */
export function binomialLowerTail(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  return 1 - binomialUpperTail(k + 1, n, p);
}

/** Standard normal draw (Box–Muller, cosine branch, as the bench specifies). */
export function sampleNormal(rng: Rng): number {
  const u1 = rng.next();
  const u2 = rng.next();
  return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
}

/** Gamma(shape, 1) and Beta(a, b) draws: the strategy library's samplers (KS-tested against jstat). */
export function sampleGamma(shape: number, rng: Rng): number {
  return gamma(rng, shape);
}

export function sampleBeta(a: number, b: number, rng: Rng): number {
  return beta(rng, a, b);
}

/** Empirical quantile of a sorted array (linear interpolation, type 7). */
export function sortedQuantile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}
