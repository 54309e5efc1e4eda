/**
 * Samplers on an injected `Rng` (jstat's samplers use Math.random, so we write our own).
 *
 * - normal: ziggurat (Marsaglia & Tsang 2000, "The ziggurat method for generating random variables", JSS 5(8)),
 *   exact: 128 strips, one uniform for most draws, Marsaglia's exact tail method beyond 3.44. It holds no
 *   hidden state (tables are constants), so a draw depends only on the Rng's stream.
 * - gamma(shape, 1): Marsaglia & Tsang (2000), "A simple method for generating gamma variables",
 *   ACM TOMS 26(3). For shape < 1 the boost Gamma(a) = Gamma(a + 1) · U^(1/a) (same paper, §6),
 *   done in log space so tiny shapes do not underflow to a hard 0 more often than they must.
 *   The squeeze u < 1 − 0.0331 x⁴ accepts most candidates without evaluating a logarithm.
 * - beta(a, b) = X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) (Thompson sampling's hot path: ≈ 4 uniforms and
 *   no logarithm for most draws).
 * - normals(rng, out): Marsaglia's polar method, both deviates of a pair used (for samplers that need many).
 * Checked against jstat's CDFs by Kolmogorov–Smirnov tests in test/strategies/samplers.test.ts.
 */
import type { Rng } from "./rng.ts";

// Ziggurat tables (Marsaglia & Tsang 2000, 128 strips of equal area ZV under exp(−x²/2), x ≥ 0).
// Strip i ≥ 1 is [0, ZW[i]] × [ZF[i], ZF[i − 1]] with ZW[i] = x_i increasing in i (x_127 = ZR, ZF[0] = 1 for
// the top strip); strip 0 is the base [0, ZR] × [0, f(ZR)] plus the tail beyond ZR, seen as one rectangle of
// width ZW[0] = ZV / f(ZR). ZK[i] = x_{i−1} / x_i: below it a point of strip i lies under the curve for sure.
const ZN = 128;
const ZR = 3.442619855899;
const ZV = 9.91256303526217e-3;
const ZW = new Float64Array(ZN);
const ZK = new Float64Array(ZN);
const ZF = new Float64Array(ZN);
{
  const fr = Math.exp(-0.5 * ZR * ZR);
  ZW[0] = ZV / fr;
  ZK[0] = ZR / ZW[0];
  ZF[0] = 1;
  ZW[ZN - 1] = ZR;
  ZF[ZN - 1] = fr;
  for (let i = ZN - 1; i >= 2; i--) {
    const x = Math.sqrt(-2 * Math.log(ZV / ZW[i]! + ZF[i]!)); // x_{i−1}: strip i has area ZV
    ZW[i - 1] = x;
    ZF[i - 1] = Math.exp(-0.5 * x * x);
    ZK[i] = x / ZW[i]!;
  }
  ZF[0] = 1;
  ZK[1] = 0; // the top strip has no part surely under the curve
}
/** ZKS[b] = ZK[b & 127], ZWS[b] = ±ZW[b & 127] (minus when b ≥ 128). */
const ZKS = new Float64Array(2 * ZN);
const ZWS = new Float64Array(2 * ZN);
for (let b = 0; b < 2 * ZN; b++) {
  ZKS[b] = ZK[b & 127]!;
  ZWS[b] = b & 128 ? -ZW[b & 127]! : ZW[b & 127]!;
}

/**
 * Standard normal N(0, 1) by the ziggurat (Marsaglia & Tsang 2000). One uniform u = rng.next() gives
 * independent parts: its top bit the sign, the next 7 bits the strip, the remaining bits (24 for a 32-bit
 * generator) the position f ∈ [0, 1) in the strip — unlike the paper's RNOR, the strip index and the
 * position share no bits (Doornik 2005). 97.2 % of draws return after one uniform, a multiply and a compare.
 */
export function normal(rng: Rng): number {
  const s = rng.next() * 256;
  const b = s | 0; // 0..255: sign (bit 7) and strip (bits 0–6)
  const f = s - b; // exact: the bits of u below the top 8, uniform on [0, 1) and independent of b
  // Tables indexed by sign and strip together: no branch on the (unpredictable) sign.
  if (f < ZKS[b]!) return f * ZWS[b]!;
  return normalSlow(rng, b, f);
}

/** The ziggurat's rare cases: the tail beyond ZR (strip 0), or a wedge (strip i ≥ 1: test under the curve). */
function normalSlow(rng: Rng, b: number, f: number): number {
  for (;;) {
    const i = b & 127;
    if (f < ZK[i]!) {
      const x = f * ZW[i]!;
      return b & 128 ? -x : x;
    }
    if (i === 0) {
      // Tail x > ZR (Marsaglia 1964): x = ZR + E1 / ZR, accepted when 2 E2 > (E1 / ZR)², E1, E2 ~ Exp(1).
      let t: number;
      let e: number;
      do {
        t = -Math.log(1 - rng.next()) / ZR;
        e = -Math.log(1 - rng.next());
      } while (e + e < t * t);
      return b & 128 ? -(ZR + t) : ZR + t;
    }
    const x = f * ZW[i]!;
    if (ZF[i]! + rng.next() * (ZF[i - 1]! - ZF[i]!) < Math.exp(-0.5 * x * x)) return b & 128 ? -x : x;
    const s = rng.next() * 256;
    b = s | 0;
    f = s - b;
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

/** Marsaglia–Tsang's rejection loop for Gamma(shape ≥ 1), given d = shape − 1/3 and c = 1/√(9d). */
function gammaMT(rng: Rng, d: number, c: number): number {
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

/** Gamma(shape, scale = 1). shape > 0. */
export function gamma(rng: Rng, shape: number): number {
  if (shape < 1) {
    // Boost: G(a) = G(a+1) · U^(1/a); log form keeps precision for very small a.
    const g = gamma(rng, shape + 1);
    const u = 1 - rng.next(); // (0, 1]
    return Math.exp(Math.log(g) + Math.log(u) / shape);
  }
  const d = shape - 1 / 3;
  return gammaMT(rng, d, 1 / Math.sqrt(9 * d));
}

/** Beta(a, b), a, b > 0: X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) (Thompson sampling's hot path). */
export function beta(rng: Rng, a: number, b: number): number {
  let x: number;
  let y: number;
  if (a >= 1 && b >= 1) {
    const da = a - 1 / 3;
    const db = b - 1 / 3;
    x = gammaMT(rng, da, 1 / Math.sqrt(9 * da));
    y = gammaMT(rng, db, 1 / Math.sqrt(9 * db));
  } else {
    x = gamma(rng, a);
    y = gamma(rng, b);
  }
  const s = x + y;
  // Both can underflow to 0 only for absurdly small shapes; fall back to the mean's side.
  if (s === 0) return a >= b ? 1 : 0;
  return x / s;
}
