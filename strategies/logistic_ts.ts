/**
 * logistic_ts — Thompson sampling for logistic regression with a diagonal Laplace approximation
 * (Chapelle & Li 2011, "An empirical evaluation of Thompson sampling", NIPS, Algorithm 3 — their
 * display-advertising model). Per arm, w_j ~ N(m_j, 1/q_j) independently; prior m = 0, q = λ.
 *
 * Update on one observation (x, y), y ∈ [0, 1] (a click or a conversion; fractional y is the
 * cross-entropy target): w = argmin ½ Σ q_j (w_j − m_j)² + ℓ(y, wᵀx). The minimizer lies on
 * m + c·(x ⊘ q), so it is a one-dimensional problem: c = y − σ(mᵀx + c·s), s = Σ x_j²/q_j, solved by
 * Newton's method (monotone, converges in a few steps). Then m ← w and q_j ← q_j + x_j² p(1 − p),
 * p = σ(wᵀx) — Algorithm 3 applied one observation at a time (assumed density filtering), which is
 * what updateBatch does too, in order.
 *
 * Decision: the score wᵀx is N(mᵀx, α² Σ x_j²/q_j) and independent across arms (α scales the
 * exploration, default 1); σ is increasing, so the argmax of σ(w̃ᵀx) is that of w̃ᵀx and the propensity
 * is the normal argmax integral of lin_ts (exact up to < 5e-4, no Monte Carlo).
 *
 * setArmStats cannot be exact: the Laplace posterior depends on the order and values of every x, not on
 * Σxxᵀ and Σrx alone. It rebuilds one full Newton step of the MAP problem from the intercept-only fit
 * w0 = (logit p̄, 0, …), p̄ = (sum + ½)/(n + 1), where σ(w0ᵀx) = p̄ on every row, so the gradient
 * xr − p̄·Σx − λw0 and the Hessian λI + p̄(1 − p̄)·xx need only the sums (Σx is row 0 of xx when x₀ ≡ 1,
 * `intercept: true`, the encoder's default; without an intercept p̄ = ½, w0 = 0 and Σx is taken as 0).
 * m = w0 + H⁻¹g, q = diag(H). Close to the sequential state when rates are not extreme (tested), but
 * not equal: persist toJSON() for logistic_ts where possible and treat setArmStats as the fallback.
 */
import { z } from "zod";
import type { ArmStats, Features, Strategy, BaseState } from "./types.ts";
import type { Rng } from "./rng.ts";
import {
  addSlot,
  checkArm,
  checkBaseJSON,
  checkReward01,
  floorSchema,
  makeSlots,
  parseWith,
  sampleIndex,
  setSlotStatus,
  chooseFromPmf,
  sanePmf,
  selectByNormalScores,
  warn,
} from "./common.ts";
import { checkContextStats, checkX, dot, regularisedInverse } from "./linear.ts";
import { normalArgmaxPmf } from "./lin_ts.ts";
import { StrategyParamError } from "./types.ts";

export const logisticTsParams = z
  .object({
    alpha: z.number().min(0).finite().default(1),
    lambda: z.number().positive().finite().default(1),
    intercept: z.boolean().default(true),
    explorationFloor: floorSchema,
  })
  .strict();
export type LogisticTsParams = z.infer<typeof logisticTsParams>;

export interface LogisticTsState extends BaseState {
  type: "logistic_ts";
  params: LogisticTsParams;
  m: Float64Array[];
  q: Float64Array[];
  n: number[];
  sum: number[];
  sumSq: number[];
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/** m finite and q finite and positive. */
function armHealthy(state: LogisticTsState, arm: number): boolean {
  const m = state.m[arm]!;
  const q = state.q[arm]!;
  for (let j = 0; j < state.dim; j++) if (!(Number.isFinite(m[j]!) && q[j]! > 0 && q[j]! < Infinity)) return false;
  return true;
}

/** The arm's posterior back to the prior N(0, I/λ); its counts stay. */
function resetArm(state: LogisticTsState, arm: number, why: string): void {
  state.m[arm] = new Float64Array(state.dim);
  state.q[arm] = new Float64Array(state.dim).fill(state.params.lambda);
  warn(state, `arm "${state.arms[arm]!.key}": ${why}; its model was reset to the prior`);
}

function learn(state: LogisticTsState, arm: number, y: number, x: ArrayLike<number>): void {
  const d = state.dim;
  const m = state.m[arm]!;
  const q = state.q[arm]!;
  let s = 0;
  for (let j = 0; j < d; j++) s += (x[j]! * x[j]!) / q[j]!;
  const z0 = dot(m, x, d);
  if (!(Number.isFinite(s) && Number.isFinite(z0))) {
    warn(
      state,
      `arm "${state.arms[arm]!.key}": an observation with a non-finite score was dropped (context too large)`,
    );
    return;
  }
  // Newton on h(c) = c − y + σ(z0 + c s), h' = 1 + s σ(1 − σ) ≥ 1: a contraction-free, monotone solve.
  let c = 0;
  for (let it = 0; it < 50; it++) {
    const p = sigmoid(z0 + c * s);
    const step = (c - y + p) / (1 + s * p * (1 - p));
    c -= step;
    if (Math.abs(step) < 1e-12) break;
  }
  for (let j = 0; j < d; j++) m[j] = m[j]! + (c * x[j]!) / q[j]!;
  const p = sigmoid(dot(m, x, d));
  const w = p * (1 - p);
  for (let j = 0; j < d; j++) q[j] = q[j]! + x[j]! * x[j]! * w;
  state.n[arm] = state.n[arm]! + 1;
  state.sum[arm] = state.sum[arm]! + y;
  state.sumSq[arm] = state.sumSq[arm]! + y * y;
  if (!armHealthy(state, arm)) resetArm(state, arm, "its Laplace posterior became ill-conditioned");
}

function moments(state: LogisticTsState, x: ArrayLike<number>, mean: Float64Array, sd: Float64Array): void {
  const d = state.dim;
  for (let a = 0; a < state.arms.length; a++) {
    if (state.arms[a]!.status !== "active") continue;
    const m = state.m[a]!;
    const q = state.q[a]!;
    let mu = 0;
    let v = 0;
    for (let j = 0; j < d; j++) {
      mu += m[j]! * x[j]!;
      v += (x[j]! * x[j]!) / q[j]!;
    }
    mean[a] = mu;
    sd[a] = state.params.alpha * Math.sqrt(v);
  }
}

function pmf(state: LogisticTsState, x: Features | undefined): Float64Array {
  const K = state.arms.length;
  const mean = new Float64Array(K);
  const sd = new Float64Array(K);
  moments(state, checkX(state, x), mean, sd);
  return sanePmf(state, normalArgmaxPmf(state.arms, mean, sd, state.params.explorationFloor));
}

export const logisticTs: Strategy<LogisticTsState, LogisticTsParams> & {
  select(state: LogisticTsState, x: Features | undefined, rng: Rng): number;
} = {
  type: "logistic_ts",
  contextual: true,
  parseParams: (p) => parseWith(logisticTsParams, p),
  init(keys, params, d) {
    const p = parseWith(logisticTsParams, params);
    if (!Number.isInteger(d) || d < 1)
      throw new StrategyParamError("dim", 'contextual strategy "logistic_ts" needs a context dimension ≥ 1');
    const K = keys.length;
    return {
      type: "logistic_ts",
      arms: makeSlots(keys),
      explorationFloor: p.explorationFloor,
      dim: d,
      version: 0,
      params: p,
      m: Array.from({ length: K }, () => new Float64Array(d)),
      q: Array.from({ length: K }, () => new Float64Array(d).fill(p.lambda)),
      n: new Array(K).fill(0),
      sum: new Array(K).fill(0),
      sumSq: new Array(K).fill(0),
    };
  },
  probabilities: (state, x) => pmf(state, x),
  choose: (state, x, rng) => chooseFromPmf(pmf(state, x), rng),
  select(state, x, rng) {
    if (state.params.explorationFloor > 0) return sampleIndex(pmf(state, x), rng);
    const xv = checkX(state, x);
    return selectByNormalScores(state.arms, (m, sd) => moments(state, xv, m, sd), rng);
  },
  update(state, arm, reward, x) {
    checkArm(state, arm);
    checkReward01(reward);
    learn(state, arm, reward, checkX(state, x));
    state.version++;
  },
  updateBatch(state, arms, rewards, xs) {
    if (arms.length !== rewards.length || !xs || xs.length !== arms.length)
      throw new RangeError("arms, rewards and contexts must have the same length");
    for (let i = 0; i < arms.length; i++) {
      checkArm(state, arms[i]!);
      checkReward01(rewards[i]!);
      checkX(state, xs[i]);
    }
    for (let i = 0; i < arms.length; i++) learn(state, arms[i]!, rewards[i]!, xs[i]!);
    state.version++;
  },
  setArmStats(state, arm, stats: ArmStats) {
    checkArm(state, arm);
    const { xx, xr } = checkContextStats(state, stats);
    const d = state.dim;
    const { lambda, intercept } = state.params;
    // Start at the intercept-only fit w0 = (logit p̄, 0, …): there σ(w0ᵀx) = p̄ for every row, so the
    // gradient and Hessian of the log posterior need only the sums. Then one full Newton step.
    const w0 = new Float64Array(d);
    let pbar = 0.5;
    if (intercept && stats.n > 0) {
      pbar = Math.min(1 - 1e-6, Math.max(1e-6, (stats.sum + 0.5) / (stats.n + 1)));
      w0[0] = Math.log(pbar / (1 - pbar));
    }
    const wgt = pbar * (1 - pbar);
    const H = new Float64Array(d * d);
    const g = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) H[i * d + j] = wgt * xx[i * d + j]!;
      H[i * d + i] = H[i * d + i]! + lambda;
      const sx = intercept ? xx[i]! : 0; // Σ x_i = row 0 of Σxxᵀ when x₀ ≡ 1
      g[i] = xr[i]! - pbar * sx - lambda * w0[i]!;
    }
    state.n[arm] = stats.n;
    state.sum[arm] = stats.sum;
    state.sumSq[arm] = stats.sumSq;
    state.version++;
    const r = g.every(Number.isFinite) ? regularisedInverse(H, d) : null;
    if (!r) {
      resetArm(state, arm, "its stored statistics are not finite or the Hessian does not invert");
      return;
    }
    if (r.ridge > 0)
      warn(state, `arm "${state.arms[arm]!.key}": the Hessian was ill-conditioned; regularised by +${r.ridge}·I`);
    const Hinv = r.inv;
    const m = new Float64Array(d);
    const q = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let step = 0;
      for (let j = 0; j < d; j++) step += Hinv[i * d + j]! * g[j]!;
      m[i] = w0[i]! + step;
      q[i] = H[i * d + i]! + r.ridge;
    }
    state.m[arm] = m;
    state.q[arm] = q;
    if (!armHealthy(state, arm)) resetArm(state, arm, "its Laplace estimate is not finite");
  },
  addArm(state, key) {
    const i = addSlot(state, key);
    state.m.push(new Float64Array(state.dim));
    state.q.push(new Float64Array(state.dim).fill(state.params.lambda));
    state.n.push(0);
    state.sum.push(0);
    state.sumSq.push(0);
    return i;
  },
  setArmStatus: setSlotStatus,
  setParams(state, params) {
    const p = parseWith(logisticTsParams, params);
    // λ is the prior precision already folded into q: move q by the difference.
    if (p.lambda !== state.params.lambda)
      for (const q of state.q) for (let j = 0; j < q.length; j++) q[j] = q[j]! - state.params.lambda + p.lambda;
    state.params = p;
    state.explorationFloor = p.explorationFloor;
    state.version++;
  },
  toJSON: (s) => ({
    type: s.type,
    arms: s.arms.map((a) => ({ ...a })),
    explorationFloor: s.explorationFloor,
    dim: s.dim,
    version: s.version,
    params: { ...s.params },
    m: s.m.map((v) => Array.from(v)),
    q: s.q.map((v) => Array.from(v)),
    n: [...s.n],
    sum: [...s.sum],
    sumSq: [...s.sumSq],
  }),
  fromJSON(json) {
    const o = checkBaseJSON(json, "logistic_ts") as unknown as Record<string, unknown> & {
      arms: LogisticTsState["arms"];
      dim: number;
      version: number;
    };
    const p = parseWith(logisticTsParams, o.params);
    const K = o.arms.length;
    const d = Number(o.dim);
    const mats = (f: string) => {
      const v = o[f];
      if (!Array.isArray(v) || v.length !== K || v.some((m) => !Array.isArray(m) || m.length !== d))
        throw new StrategyParamError(`state.${f}`, `must hold one array of ${d} numbers per arm`);
      return (v as number[][]).map((m) => Float64Array.from(m));
    };
    const vec = (f: string) => {
      const v = o[f];
      if (!Array.isArray(v) || v.length !== K)
        throw new StrategyParamError(`state.${f}`, "must hold one value per arm");
      return [...(v as number[])];
    };
    return {
      type: "logistic_ts",
      arms: o.arms.map((a) => ({ key: a.key, status: a.status })),
      explorationFloor: p.explorationFloor,
      dim: d,
      version: Number(o.version) || 0,
      params: p,
      m: mats("m"),
      q: mats("q"),
      n: vec("n"),
      sum: vec("sum"),
      sumSq: vec("sumSq"),
    };
  },
};
