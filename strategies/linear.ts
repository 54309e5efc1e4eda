/**
 * Per-arm ridge regression shared by linucb and lin_ts (as MABWiser's linear.py shares one
 * _RidgeRegression): A_a = λI + Σ x xᵀ, b_a = Σ r x, θ̂_a = A_a⁻¹ b_a.
 *
 * A⁻¹ is kept and updated by Sherman–Morrison (Sherman & Morrison 1950), a rank-one O(d²) step:
 *     A⁻¹ ← A⁻¹ − (A⁻¹x)(A⁻¹x)ᵀ / (1 + xᵀA⁻¹x),
 * so no d×d matrix is refactorized per decision or update. θ̂ follows by recursive least squares,
 * θ̂ ← θ̂ + A⁻¹x (r − xᵀθ̂)/(1 + xᵀA⁻¹x) (O(d)); b = Σ r x is kept too. setArmStats rebuilds A = λI + xx from the persisted sums and inverts it once
 * (Gauss–Jordan with partial pivoting; A is symmetric positive definite, so this is stable).
 *
 * Numerical robustness (nothing here throws at decision time or at load): an observation whose xᵀA⁻¹x is
 * not finite is dropped; an arm whose A⁻¹ or θ̂ stops being finite, or whose A⁻¹ loses its positive
 * diagonal, is reset to the prior; at load an ill-conditioned λI + xx is regularised with a growing ridge
 * (`regularisedInverse`) and, failing that, the arm starts from the prior. Each is a `warn`ing on the state.
 */
import type { ArmStats, BaseState } from "./types.ts";
import { StrategyParamError } from "./types.ts";
import { addSlot, checkArm, checkBaseJSON, checkFinite, makeSlots, parseWith, setSlotStatus, warn } from "./common.ts";
import type { z } from "zod";
import type { Strategy } from "./types.ts";

export interface RidgeState<P> extends BaseState {
  params: P;
  /** Row-major d × d inverse of A per arm. */
  ainv: Float64Array[];
  b: Float64Array[];
  theta: Float64Array[];
  n: number[];
  sum: number[];
  sumSq: number[];
}

export function identityOver(d: number, lambda: number): Float64Array {
  const m = new Float64Array(d * d);
  for (let i = 0; i < d; i++) m[i * d + i] = 1 / lambda;
  return m;
}

export function initRidge<P extends { explorationFloor: number; lambda: number }>(
  type: string,
  keys: readonly string[],
  params: P,
  d: number,
): RidgeState<P> {
  if (!Number.isInteger(d) || d < 1)
    throw new StrategyParamError("dim", `contextual strategy "${type}" needs a context dimension ≥ 1`);
  const K = keys.length;
  return {
    type,
    arms: makeSlots(keys),
    explorationFloor: params.explorationFloor,
    dim: d,
    version: 0,
    params,
    ainv: Array.from({ length: K }, () => identityOver(d, params.lambda)),
    b: Array.from({ length: K }, () => new Float64Array(d)),
    theta: Array.from({ length: K }, () => new Float64Array(d)),
    n: new Array(K).fill(0),
    sum: new Array(K).fill(0),
    sumSq: new Array(K).fill(0),
  };
}

export function checkX(state: BaseState, x: ArrayLike<number> | undefined): ArrayLike<number> {
  if (!x || x.length !== state.dim)
    throw new RangeError(`context of length ${x?.length ?? "none"} given, ${state.dim} expected`);
  return x;
}

/** xᵀ A⁻¹ x and A⁻¹x (written into u). */
export function quad(ainv: Float64Array, x: ArrayLike<number>, d: number, u: Float64Array): number {
  let q = 0;
  for (let i = 0; i < d; i++) {
    let s = 0;
    const row = i * d;
    for (let j = 0; j < d; j++) s += ainv[row + j]! * x[j]!;
    u[i] = s;
    q += s * x[i]!;
  }
  return q;
}

/** xᵀ M x for a symmetric row-major M, reading the upper triangle only (half the work of quad). */
export function quadForm(M: Float64Array, x: ArrayLike<number>, d: number): number {
  let q = 0;
  for (let i = 0; i < d; i++) {
    const xi = x[i]!;
    const row = i * d;
    let s = 0;
    for (let j = i + 1; j < d; j++) s += M[row + j]! * x[j]!;
    q += xi * (M[row + i]! * xi + 2 * s);
  }
  return q;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += a[j]! * b[j]!;
  return s;
}

/** out = M v for a row-major d × d M. */
export function matVec(M: ArrayLike<number>, v: ArrayLike<number>, d: number, out: Float64Array): Float64Array {
  for (let i = 0; i < d; i++) {
    let s = 0;
    const row = i * d;
    for (let j = 0; j < d; j++) s += M[row + j]! * v[j]!;
    out[i] = s;
  }
  return out;
}

const scratch = new Map<number, Float64Array>();
function tmp(d: number): Float64Array {
  let u = scratch.get(d);
  if (!u) scratch.set(d, (u = new Float64Array(d)));
  return u;
}

/** θ̂ finite and A⁻¹'s diagonal finite and positive (A⁻¹ is positive definite in exact arithmetic). */
export function ridgeArmHealthy(state: RidgeState<unknown>, arm: number): boolean {
  const d = state.dim;
  const ainv = state.ainv[arm]!;
  const th = state.theta[arm]!;
  for (let i = 0; i < d; i++)
    if (!(ainv[i * d + i]! > 0 && ainv[i * d + i]! < Infinity && Number.isFinite(th[i]!))) return false;
  return true;
}

/** The arm's model back to the prior (A = λI, b = 0); its counts stay. */
export function ridgeResetArm(state: RidgeState<{ lambda: number }>, arm: number, why: string): void {
  const d = state.dim;
  state.ainv[arm] = identityOver(d, state.params.lambda);
  state.b[arm] = new Float64Array(d);
  state.theta[arm] = new Float64Array(d);
  warn(state, `arm "${state.arms[arm]!.key}": ${why}; its model was reset to the prior`);
}

export function ridgeLearn(state: RidgeState<unknown>, arm: number, r: number, x: ArrayLike<number>): void {
  const d = state.dim;
  const ainv = state.ainv[arm]!;
  const u = tmp(d);
  const q = quad(ainv, x, d, u);
  if (!(q > -1 && q < Infinity)) {
    warn(state, `arm "${state.arms[arm]!.key}": an observation with xᵀA⁻¹x = ${q} was dropped (context too large)`);
    return;
  }
  const k = 1 / (1 + q);
  for (let i = 0; i < d; i++) {
    const ui = u[i]! * k;
    const row = i * d;
    for (let j = 0; j < d; j++) ainv[row + j] = ainv[row + j]! - ui * u[j]!;
  }
  const b = state.b[arm]!;
  for (let j = 0; j < d; j++) b[j] = b[j]! + r * x[j]!;
  // Recursive least squares: θ̂' = θ̂ + A⁻¹x (r − xᵀθ̂) / (1 + xᵀA⁻¹x), O(d) with u = A⁻¹x from before the
  // update — algebraically A'⁻¹b', and it keeps the update O(d²) overall.
  const th = state.theta[arm]!;
  const e = (r - dot(th, x, d)) * k;
  for (let i = 0; i < d; i++) th[i] = th[i]! + u[i]! * e;
  state.n[arm] = state.n[arm]! + 1;
  state.sum[arm] = state.sum[arm]! + r;
  state.sumSq[arm] = state.sumSq[arm]! + r * r;
  if (!ridgeArmHealthy(state, arm))
    ridgeResetArm(state as RidgeState<{ lambda: number }>, arm, "its ridge state became ill-conditioned");
}

export function ridgeUpdate(
  state: RidgeState<unknown>,
  arm: number,
  r: number,
  x: ArrayLike<number> | undefined,
): void {
  checkArm(state, arm);
  checkFinite(r);
  ridgeLearn(state, arm, r, checkX(state, x));
  state.version++;
}

export function ridgeUpdateBatch(
  state: RidgeState<unknown>,
  arms: ArrayLike<number>,
  rewards: ArrayLike<number>,
  xs: readonly ArrayLike<number>[] | undefined,
): void {
  if (arms.length !== rewards.length || !xs || xs.length !== arms.length)
    throw new RangeError("arms, rewards and contexts must have the same length");
  for (let i = 0; i < arms.length; i++) {
    checkArm(state, arms[i]!);
    checkFinite(rewards[i]!);
    checkX(state, xs[i]);
  }
  for (let i = 0; i < arms.length; i++) ridgeLearn(state, arms[i]!, rewards[i]!, xs[i]!);
  state.version++;
}

/** Inverse of a symmetric positive-definite d × d matrix (Gauss–Jordan, partial pivoting). */
export function invert(A: ArrayLike<number>, d: number): Float64Array {
  const m = Float64Array.from(A);
  const inv = identityOver(d, 1);
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(m[r * d + c]!) > Math.abs(m[p * d + c]!)) p = r;
    const piv = m[p * d + c]!;
    if (!(Math.abs(piv) > 1e-300)) throw new StrategyParamError("stats.xx", "λI + xx is singular");
    if (p !== c)
      for (let j = 0; j < d; j++) {
        [m[p * d + j], m[c * d + j]] = [m[c * d + j]!, m[p * d + j]!];
        [inv[p * d + j], inv[c * d + j]] = [inv[c * d + j]!, inv[p * d + j]!];
      }
    const ip = 1 / piv;
    for (let j = 0; j < d; j++) {
      m[c * d + j] = m[c * d + j]! * ip;
      inv[c * d + j] = inv[c * d + j]! * ip;
    }
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = m[r * d + c]!;
      if (f === 0) continue;
      for (let j = 0; j < d; j++) {
        m[r * d + j] = m[r * d + j]! - f * m[c * d + j]!;
        inv[r * d + j] = inv[r * d + j]! - f * inv[c * d + j]!;
      }
    }
  }
  return inv;
}

/**
 * Inverse of the symmetric positive-semidefinite-plus-ridge A, regularised if need be: A itself, else
 * A + εI with ε growing from 1e-10 to 1× the mean diagonal (scaled to A, so it helps at any magnitude).
 * Null if A has non-finite entries or nothing inverts to a finite matrix with a positive diagonal.
 */
export function regularisedInverse(A: Float64Array, d: number): { inv: Float64Array; ridge: number } | null {
  let trace = 0;
  for (let i = 0; i < A.length; i++) if (!Number.isFinite(A[i]!)) return null;
  for (let i = 0; i < d; i++) trace += Math.abs(A[i * d + i]!);
  const scale = trace / d || 1;
  for (let k = -1; k <= 5; k++) {
    const ridge = k < 0 ? 0 : scale * 10 ** (2 * k - 10);
    const M = Float64Array.from(A);
    for (let i = 0; i < d; i++) M[i * d + i] = M[i * d + i]! + ridge;
    try {
      const inv = invert(M, d);
      let ok = true;
      for (let i = 0; i < inv.length && ok; i++) if (!Number.isFinite(inv[i]!)) ok = false;
      for (let i = 0; i < d && ok; i++) if (!(inv[i * d + i]! > 0)) ok = false;
      if (ok) return { inv, ridge };
    } catch (e) {
      if (!(e instanceof StrategyParamError)) throw e;
    }
  }
  return null;
}

export function checkContextStats(state: BaseState, stats: ArmStats): { xx: number[]; xr: number[] } {
  const d = state.dim;
  if (!(stats.n >= 0) || !Number.isFinite(stats.sum) || !Number.isFinite(stats.sumSq))
    throw new StrategyParamError("stats", "need n ≥ 0 and finite sums");
  if (!Array.isArray(stats.xx) || stats.xx.length !== d * d)
    throw new StrategyParamError("stats.xx", `must be a row-major ${d}×${d} array`);
  if (!Array.isArray(stats.xr) || stats.xr.length !== d)
    throw new StrategyParamError("stats.xr", `must have length ${d}`);
  return { xx: stats.xx, xr: stats.xr };
}

export function ridgeSetStats(state: RidgeState<{ lambda: number }>, arm: number, stats: ArmStats): void {
  checkArm(state, arm);
  const { xx, xr } = checkContextStats(state, stats);
  const d = state.dim;
  const A = Float64Array.from(xx);
  for (let i = 0; i < d; i++) A[i * d + i] = A[i * d + i]! + state.params.lambda;
  state.n[arm] = stats.n;
  state.sum[arm] = stats.sum;
  state.sumSq[arm] = stats.sumSq;
  state.version++;
  const r = xr.every(Number.isFinite) ? regularisedInverse(A, d) : null;
  if (!r) {
    ridgeResetArm(state, arm, "its stored statistics are not finite or λI + xx does not invert");
    return;
  }
  if (r.ridge > 0)
    warn(state, `arm "${state.arms[arm]!.key}": λI + xx was ill-conditioned; regularised by +${r.ridge}·I`);
  state.ainv[arm] = r.inv;
  state.b[arm] = Float64Array.from(xr);
  state.theta[arm] = matVec(r.inv, xr, d, new Float64Array(d));
  if (!ridgeArmHealthy(state, arm)) ridgeResetArm(state, arm, "its ridge estimate is not finite");
}

export function ridgeAddArm(state: RidgeState<{ lambda: number }>): void {
  const d = state.dim;
  state.ainv.push(identityOver(d, state.params.lambda));
  state.b.push(new Float64Array(d));
  state.theta.push(new Float64Array(d));
  state.n.push(0);
  state.sum.push(0);
  state.sumSq.push(0);
}

/** λ changes A = λI + Σxxᵀ: rebuild each arm from A (recovered as inv(A⁻¹)) with the new λ. */
export function ridgeChangeLambda(state: RidgeState<{ lambda: number }>, oldLambda: number): void {
  const d = state.dim;
  for (let a = 0; a < state.ainv.length; a++) {
    const back = regularisedInverse(state.ainv[a]!, d);
    if (!back) {
      ridgeResetArm(state, a, "its A⁻¹ does not invert back to A");
      continue;
    }
    const A = back.inv;
    for (let i = 0; i < d; i++) A[i * d + i] = A[i * d + i]! - oldLambda + state.params.lambda;
    const r = regularisedInverse(A, d);
    if (!r) {
      ridgeResetArm(state, a, "λI + xx does not invert with the new λ");
      continue;
    }
    state.ainv[a] = r.inv;
    matVec(state.ainv[a]!, state.b[a]!, d, state.theta[a]!);
  }
}

export function ridgeToJSON<P>(s: RidgeState<P>): unknown {
  return {
    type: s.type,
    arms: s.arms.map((a) => ({ ...a })),
    explorationFloor: s.explorationFloor,
    dim: s.dim,
    version: s.version,
    params: { ...s.params },
    ainv: s.ainv.map((m) => Array.from(m)),
    b: s.b.map((v) => Array.from(v)),
    theta: s.theta.map((v) => Array.from(v)),
    n: [...s.n],
    sum: [...s.sum],
    sumSq: [...s.sumSq],
  };
}

export function ridgeFromJSON<P extends { explorationFloor: number }>(
  json: unknown,
  type: string,
  parse: (p: unknown) => P,
): RidgeState<P> {
  const o = checkBaseJSON(json, type) as unknown as Record<string, unknown> & {
    arms: { key: string; status: "active" | "paused" | "removed" }[];
    dim: number;
  };
  const p = parse(o.params);
  const K = o.arms.length;
  const d = Number(o.dim);
  const mats = (f: string, len: number) => {
    const v = o[f];
    if (!Array.isArray(v) || v.length !== K || v.some((m) => !Array.isArray(m) || m.length !== len))
      throw new StrategyParamError(`state.${f}`, `must hold one array of ${len} numbers per arm`);
    return (v as number[][]).map((m) => Float64Array.from(m));
  };
  const vec = (f: string) => {
    const v = o[f];
    if (!Array.isArray(v) || v.length !== K) throw new StrategyParamError(`state.${f}`, "must hold one value per arm");
    return [...(v as number[])];
  };
  return {
    type,
    arms: o.arms.map((a) => ({ key: a.key, status: a.status })),
    explorationFloor: p.explorationFloor,
    dim: d,
    version: Number(o.version) || 0,
    params: p,
    ainv: mats("ainv", d * d),
    b: mats("b", d),
    theta: mats("theta", d),
    n: vec("n"),
    sum: vec("sum"),
    sumSq: vec("sumSq"),
  };
}

/**
 * Everything but the score, for the ridge-regression strategies (linucb, lin_ts): one model, two ways of
 * scoring an arm (as MABWiser's linear.py shares it).
 */
export function ridgeMethods<P extends { explorationFloor: number; lambda: number }>(
  type: string,
  schema: z.ZodType<P>,
): Pick<
  Strategy<RidgeState<P>, P>,
  "update" | "updateBatch" | "setArmStats" | "addArm" | "setArmStatus" | "setParams" | "toJSON" | "fromJSON"
> {
  return {
    update: (state, arm, reward, x) => ridgeUpdate(state, arm, reward, x),
    updateBatch: (state, arms, rewards, xs) => ridgeUpdateBatch(state, arms, rewards, xs),
    setArmStats: ridgeSetStats,
    addArm(state, key) {
      const i = addSlot(state, key);
      ridgeAddArm(state);
      return i;
    },
    setArmStatus: setSlotStatus,
    setParams(state, params) {
      const p = parseWith(schema, params);
      const old = state.params.lambda;
      state.params = p;
      if (p.lambda !== old) ridgeChangeLambda(state, old);
      state.explorationFloor = p.explorationFloor;
      state.version++;
    },
    toJSON: ridgeToJSON,
    fromJSON: (json) => ridgeFromJSON(json, type, (p) => parseWith(schema, p)),
  };
}
