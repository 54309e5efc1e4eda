/**
 * Context encoding of logged rows, and the direct method's reward model.
 *
 * Encoding: intercept, numeric features standardised by the log's own mean and sd, categorical features
 * (strings, booleans) one-hot over the values seen in the log; a missing value encodes as 0 ("baseline").
 * Reward model q̂(x, a): one ridge regression per action, θ_a = (X_aᵀX_a + λI)⁻¹ X_aᵀ r_a, solved by
 * Cholesky. With only an intercept it is the action's shrunk mean reward.
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

/** Per-action ridge regression of the reward on the encoded context. */
export function fitRewardModel(
  X: Float64Array,
  dim: number,
  actions: Int32Array,
  rewards: Float64Array,
  K: number,
  lambda = 1,
): Float64Array[] {
  const thetas: Float64Array[] = [];
  for (let a = 0; a < K; a++) {
    const A = new Float64Array(dim * dim);
    const b = new Float64Array(dim);
    for (let i = 0; i < dim; i++) A[i * dim + i] = lambda;
    for (let n = 0; n < actions.length; n++) {
      if (actions[n] !== a) continue;
      const o = n * dim;
      for (let i = 0; i < dim; i++) {
        const xi = X[o + i];
        if (xi === 0) continue;
        b[i] += xi * rewards[n];
        for (let j = 0; j < dim; j++) A[i * dim + j] += xi * X[o + j];
      }
    }
    thetas.push(solveSpd(A, b, dim));
  }
  return thetas;
}
