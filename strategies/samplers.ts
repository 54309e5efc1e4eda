/**
 * Samplers on an injected `Rng` (jstat's samplers use Math.random, so we write our own).
 *
 * - normal: Marsaglia's polar method (exact, no trigonometry; the spare deviate is not cached so that
 *   a sampler holds no hidden state and a draw depends only on the Rng's stream).
 * - gamma(shape, 1): Marsaglia & Tsang (2000), "A simple method for generating gamma variables",
 *   ACM TOMS 26(3). For shape < 1 the boost Gamma(a) = Gamma(a + 1) · U^(1/a) (same paper, §6),
 *   done in log space so tiny shapes do not underflow to a hard 0 more often than they must.
 * - beta(a, b) = X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b).
 * Checked against jstat's CDFs by Kolmogorov–Smirnov tests in test/strategies/samplers.test.ts.
 */
import type { Rng } from "./rng.ts";

/** Standard normal N(0, 1). */
export function normal(rng: Rng): number {
  for (;;) {
    const u = 2 * rng.next() - 1;
    const v = 2 * rng.next() - 1;
    const s = u * u + v * v;
    if (s > 0 && s < 1) return u * Math.sqrt((-2 * Math.log(s)) / s);
  }
}

/** Gamma(shape, scale = 1). shape > 0. */
export function gamma(rng: Rng, shape: number): number {
  if (shape < 1) {
    // Boost: G(a) = G(a+1) · U^(1/a); log form keeps precision for very small a.
    const g = gamma(rng, shape + 1);
    const u = 1 - rng.next(); // (0, 1]
    return Math.exp(Math.log(g) + Math.log(u) / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    const x2 = x * x;
    // Squeeze first (cheap), then the exact log test.
    if (u < 1 - 0.0331 * x2 * x2) return d * v;
    if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(a, b), a, b > 0. */
export function beta(rng: Rng, a: number, b: number): number {
  const x = gamma(rng, a);
  const y = gamma(rng, b);
  const s = x + y;
  // Both can underflow to 0 only for absurdly small shapes; fall back to the mean's side.
  if (s === 0) return a >= b ? 1 : 0;
  return x / s;
}
