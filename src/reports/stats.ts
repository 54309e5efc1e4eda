/**
 * Distribution functions and seeded samplers shared by the ROI report and the fraud detectors.
 *
 * Densities, CDFs and quantiles come from jstat (typed here through createRequire, so no global
 * `declare module` can clash with another engineer's). jstat's own samplers use Math.random, so the
 * samplers below draw from an injected `Rng`: Box–Muller normals, Marsaglia–Tsang gammas
 * (Marsaglia & Tsang 2000, "A simple method for generating gamma variables"), Beta as a gamma ratio.
 */
import { createRequire } from "node:module";
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

/** Gamma(shape, 1) draw by Marsaglia–Tsang; shape < 1 through the boost Gamma(a+1)·U^(1/a). */
export function sampleGamma(shape: number, rng: Rng): number {
  if (shape < 1) {
    const u = 1 - rng.next();
    return sampleGamma(shape + 1, rng) * Math.pow(u, 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = sampleNormal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.next();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function sampleBeta(a: number, b: number, rng: Rng): number {
  const x = sampleGamma(a, rng);
  const y = sampleGamma(b, rng);
  return x / (x + y);
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
