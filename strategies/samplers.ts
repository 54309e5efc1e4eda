/**
 * Samplers on an injected `Rng` (jstat's samplers use Math.random, so we write our own).
 *
 * - normal: Marsaglia's polar method (exact, no trigonometry; the spare deviate is not cached so that
 *   a sampler holds no hidden state and a draw depends only on the Rng's stream).
 * - gamma(shape, 1): Marsaglia & Tsang (2000), "A simple method for generating gamma variables",
 *   ACM TOMS 26(3). For shape < 1 the boost Gamma(a) = Gamma(a + 1) · U^(1/a) (same paper, §6),
 *   done in log space so tiny shapes do not underflow to a hard 0 more often than they must.
 * - beta(a, b) = X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b).
 * - normals(rng, out): polar pairs, both deviates used (for samplers that need many at once).
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

/** Fills out[0..n) with standard normals, two per polar draw (half the logarithms of n single draws). */
export function normals(rng: Rng, out: Float64Array, n = out.length): Float64Array {
  for (let i = 0; i < n; i += 2) {
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * rng.next() - 1;
      v = 2 * rng.next() - 1;
      s = u * u + v * v;
    } while (!(s > 0 && s < 1));
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    out[i] = u * f;
    if (i + 1 < n) out[i + 1] = v * f;
  }
  return out;
}

/** Marsaglia–Tsang for shape ≥ 1, starting from a given first normal deviate (z = NaN: draw one). */
function gammaMT(rng: Rng, shape: number, z: number): number {
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = Number.isNaN(z) ? normal(rng) : z;
      z = Number.NaN;
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    const x2 = x * x;
    if (u < 1 - 0.0331 * x2 * x2) return d * v;
    if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
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

const pair = new Float64Array(2);

/**
 * Beta(a, b), a, b > 0. When both shapes are ≥ 1 the two gammas start from the two normals of one
 * polar draw (independent deviates, one logarithm fewer per Beta — this is Thompson sampling's hot path).
 */
export function beta(rng: Rng, a: number, b: number): number {
  let x: number;
  let y: number;
  if (a >= 1 && b >= 1) {
    normals(rng, pair, 2);
    x = gammaMT(rng, a, pair[0]!);
    y = gammaMT(rng, b, pair[1]!);
  } else {
    x = gamma(rng, a);
    y = gamma(rng, b);
  }
  const s = x + y;
  // Both can underflow to 0 only for absurdly small shapes; fall back to the mean's side.
  if (s === 0) return a >= b ? 1 : 0;
  return x / s;
}
