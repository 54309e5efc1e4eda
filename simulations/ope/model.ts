/**
 * Context encoding of logged rows, and the direct method's reward model.
 *
 * Encoding: intercept, numeric features standardised by the log's own mean and sd, categorical features
 * (strings, booleans) one-hot over the values seen in the log; a missing value encodes as 0 ("baseline").
 * Reward model q̂(x, a): one ridge regression per action, θ_a = (X_aᵀX_a + λI)⁻¹ X_aᵀ r_a, solved by
 * Cholesky. With only an intercept it is the action's shrunk mean reward.
 *
 * The sums behind it (XᵀX as a packed upper triangle, Xᵀr) are kept per group of rows so that cross-fitting
 * (a fold's model = all sums minus the fold's) and bootstrap refits (sums weighted by each group's multiplicity)
 * cost O(groups) instead of O(rows) per fit.
 */
import type { ContextValue, LogRow } from "./logs.ts";

export interface LogEncoder {
  dim: number;
  columns: string[];
  encode(ctx: Record<string, ContextValue>, out?: Float64Array): Float64Array;
}

export function logEncoder(rows: readonly LogRow[]): LogEncoder {
  const kinds = new Map<string, { numeric: boolean; sum: number; sumSq: number; n: number; levels: Set<string> }>();
  for (const r of rows)
    for (const [k, v] of Object.entries(r.context)) {
      if (v === null) continue;
      let e = kinds.get(k);
      if (!e) kinds.set(k, (e = { numeric: true, sum: 0, sumSq: 0, n: 0, levels: new Set() }));
      if (typeof v === "number") {
        e.sum += v;
        e.sumSq += v * v;
        e.n++;
      } else e.numeric = false;
      e.levels.add(String(v));
    }
  const columns = ["(intercept)"];
  const slots: { name: string; col: number; numeric: boolean; mean: number; sd: number; index: Map<string, number> }[] =
    [];
  for (const name of [...kinds.keys()].sort()) {
    const e = kinds.get(name)!;
    if (e.numeric) {
      const mean = e.sum / e.n;
      const sd = Math.sqrt(Math.max(0, e.sumSq / e.n - mean * mean));
      slots.push({ name, col: columns.length, numeric: true, mean, sd: sd > 0 ? sd : 1, index: new Map() });
      columns.push(name);
    } else {
      const levels = [...e.levels].sort();
      slots.push({
        name,
        col: columns.length,
        numeric: false,
        mean: 0,
        sd: 1,
        index: new Map(levels.map((l, i) => [l, i])),
      });
      for (const l of levels) columns.push(`${name}=${l}`);
    }
  }
  const dim = columns.length;
  return {
    dim,
    columns,
    encode(ctx, out = new Float64Array(dim)) {
      out.fill(0);
      out[0] = 1;
      for (const s of slots) {
        const v = ctx[s.name];
        if (v === null || v === undefined) continue;
        if (s.numeric) out[s.col] = typeof v === "number" ? (v - s.mean) / s.sd : 0;
        else {
          const i = s.index.get(String(v));
          if (i !== undefined) out[s.col + i] = 1;
        }
      }
      return out;
    },
  };
}

/** Solves (A) θ = b for symmetric positive definite A (row-major d×d) by Cholesky; A and b are not modified. */
export function solveSpd(A: Float64Array, b: Float64Array, d: number): Float64Array {
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j <= i; j++) {
      let s = A[i * d + j];
      for (let k = 0; k < j; k++) s -= L[i * d + k] * L[j * d + k];
      L[i * d + j] = i === j ? Math.sqrt(Math.max(s, 1e-300)) : s / L[j * d + j];
    }
  const y = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * d + k] * y[k];
    y[i] = s / L[i * d + i];
  }
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < d; k++) s -= L[k * d + i] * x[k];
    x[i] = s / L[i * d + i];
  }
  return x;
}

/** Length of a packed upper triangle of a d × d symmetric matrix. */
export const packedSize = (d: number) => (d * (d + 1)) / 2;

/** Indices of x's non-zero entries into `nz` (ascending); returns their count. One-hot contexts are mostly zeros. */
export function nonZeros(x: Float64Array, nz: Int32Array): number {
  let c = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) nz[c++] = i;
  return c;
}

/** Adds x xᵀ into the packed upper triangle `gram` (at offset o) and r·x into `mom` (at offset m); x's non-zeros in nz[0..c). */
export function addOuter(
  gram: Float64Array,
  o: number,
  mom: Float64Array,
  m: number,
  x: Float64Array,
  r: number,
  nz: Int32Array,
  c: number,
): void {
  const d = x.length;
  for (let p = 0; p < c; p++) {
    const i = nz[p];
    const xi = x[i];
    mom[m + i] += xi * r;
    const row = o + i * d - (i * (i - 1)) / 2 - i;
    for (let q = p; q < c; q++) gram[row + nz[q]] += xi * x[nz[q]];
  }
}

/**
 * Ridge solutions θ_a = (λI + G_a)⁻¹ b_a for K actions, from packed Gram sums (K × packedSize(d)) and moments
 * (K × d); returns K × d coefficients.
 */
export function solveRidgePacked(
  gram: Float64Array,
  mom: Float64Array,
  d: number,
  K: number,
  lambda: number,
): Float64Array {
  const P = packedSize(d);
  const out = new Float64Array(K * d);
  const A = new Float64Array(d * d);
  for (let a = 0; a < K; a++) {
    let k = a * P;
    for (let i = 0; i < d; i++)
      for (let j = i; j < d; j++) {
        const v = gram[k++] + (i === j ? lambda : 0);
        A[i * d + j] = v;
        A[j * d + i] = v;
      }
    out.set(solveSpd(A, mom.subarray(a * d, (a + 1) * d), d), a * d);
  }
  return out;
}
