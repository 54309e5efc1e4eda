/**
 * gaussian_thompson — Thompson sampling for real-valued rewards (revenue or profit per decision) with a
 * Normal–Inverse-Gamma posterior per arm (conjugate for unknown mean and variance; Murphy 2007,
 * "Conjugate Bayesian analysis of the Gaussian distribution", §6; Honda & Takemura 2014 for the bandit):
 *
 *     σ² ~ IG(α_n, β_n),  μ | σ² ~ N(μ_n, σ²/κ_n),
 *     κ_n = κ0 + n,  μ_n = (κ0 μ0 + n x̄)/κ_n,  α_n = α0 + n/2,
 *     β_n = β0 + ½ M2 + κ0 n (x̄ − μ0)² / (2 κ_n),   M2 = Σ (r − x̄)².
 *
 * The marginal posterior of μ is Student-t with 2α_n degrees of freedom, location μ_n and scale
 * sqrt(β_n / (α_n κ_n)); Thompson sampling plays the arm with the largest draw of μ, so the propensity
 * is P(arm's t draw is the largest), integrated like thompson's (argmax.ts; the tangent grid covers the
 * t's heavy tails without truncation). `select` draws σ² then μ (the fast path).
 *
 * Heavy-tailed revenue: the state keeps x̄ and M2 by Welford's update (no Σr² − (Σr)²/n cancellation),
 * so a $10,000 order among $0 rows raises the arm's variance — more exploration — instead of breaking
 * the arithmetic. With `rewardCap` c, rewards are winsorized to [−c, c] before learning, which bounds
 * the influence of any one order (a bias you choose; off by default).
 * Sufficient statistics: n, sum, sumSq → x̄ = sum/n, M2 = max(0, sumSq − sum²/n).
 */
import { z } from "zod";
import type { ArmStats, Features, Strategy, BaseState } from "./types.ts";
import { StrategyParamError } from "./types.ts";
import type { Rng } from "./rng.ts";
import { gamma, normal } from "./samplers.ts";
import { probMax, studentTable, type DistTable } from "./argmax.ts";
import {
  addSlot,
  applyFloor,
  checkArm,
  checkBaseJSON,
  checkFinite,
  floorSchema,
  makeSlots,
  parseWith,
  PmfCache,
  repeatCount,
  sampleIndex,
  setSlotStatus,
  chooseFromPmf,
  learnBatch,
} from "./common.ts";

export const gaussianThompsonParams = z
  .object({
    mu0: z.number().finite().default(0),
    kappa0: z.number().positive().finite().default(1),
    alpha0: z.number().positive().finite().default(1),
    beta0: z.number().positive().finite().default(1),
    rewardCap: z.number().positive().optional(),
    explorationFloor: floorSchema,
  })
  .strict();
export type GaussianThompsonParams = z.infer<typeof gaussianThompsonParams>;

export interface GaussianThompsonState extends BaseState {
  type: "gaussian_thompson";
  params: GaussianThompsonParams;
  n: number[];
  mean: number[];
  m2: number[];
}

interface Post {
  loc: number;
  scale: number;
  nu: number;
  alpha: number;
  beta: number;
  kappa: number;
}

export function posterior(p: GaussianThompsonParams, n: number, mean: number, m2: number): Post {
  const kappa = p.kappa0 + n;
  const loc = (p.kappa0 * p.mu0 + n * mean) / kappa;
  const alpha = p.alpha0 + n / 2;
  const d = mean - p.mu0;
  const beta = p.beta0 + 0.5 * m2 + (n > 0 ? (p.kappa0 * n * d * d) / (2 * kappa) : 0);
  return { loc, scale: Math.sqrt(beta / (alpha * kappa)), nu: 2 * alpha, alpha, beta, kappa };
}

const pmfCache = new PmfCache<GaussianThompsonState>();
const tableCache = new WeakMap<GaussianThompsonState, { key: string; t: DistTable }[]>();

function pmf(state: GaussianThompsonState): Float64Array {
  return pmfCache.get(state, () => {
    const K = state.arms.length;
    let cache = tableCache.get(state);
    if (!cache) tableCache.set(state, (cache = []));
    const tables: (DistTable | null)[] = new Array(K).fill(null);
    for (let a = 0; a < K; a++) {
      if (state.arms[a]!.status !== "active") continue;
      const q = posterior(state.params, state.n[a]!, state.mean[a]!, state.m2[a]!);
      const key = `${q.loc},${q.scale},${q.nu}`;
      let c = cache[a];
      if (!c || c.key !== key) cache[a] = c = { key, t: studentTable(q.loc, q.scale, q.nu) };
      tables[a] = c.t;
    }
    return applyFloor(probMax(tables, new Float64Array(K)), state.arms, state.params.explorationFloor);
  });
}

function learn(state: GaussianThompsonState, arm: number, reward: number): void {
  const cap = state.params.rewardCap;
  const r = cap === undefined ? reward : Math.max(-cap, Math.min(cap, reward));
  const n = state.n[arm]! + 1;
  const delta = r - state.mean[arm]!;
  const mean = state.mean[arm]! + delta / n;
  state.m2[arm] = state.m2[arm]! + delta * (r - mean);
  state.mean[arm] = mean;
  state.n[arm] = n;
}

export const gaussianThompson: Strategy<GaussianThompsonState, GaussianThompsonParams> & {
  select(state: GaussianThompsonState, x: Features | undefined, rng: Rng): number;
} = {
  type: "gaussian_thompson",
  contextual: false,
  parseParams: (p) => parseWith(gaussianThompsonParams, p),
  init(keys, params) {
    const p = parseWith(gaussianThompsonParams, params);
    const K = keys.length;
    return {
      type: "gaussian_thompson",
      arms: makeSlots(keys),
      explorationFloor: p.explorationFloor,
      dim: 0,
      version: 0,
      params: p,
      n: new Array(K).fill(0),
      mean: new Array(K).fill(0),
      m2: new Array(K).fill(0),
    };
  },
  probabilities: (state) => Float64Array.from(pmf(state)),
  choose: (state, _x, rng) => chooseFromPmf(pmf(state), rng),
  select(state, _x, rng) {
    // Repeated decisions on an unchanged state (batched): the cached exact pmf is cheaper than K draws.
    if (state.params.explorationFloor > 0 || repeatCount(state) > 2) return sampleIndex(pmf(state), rng);
    let best = -1;
    let bestV = -Infinity;
    for (let a = 0; a < state.arms.length; a++) {
      if (state.arms[a]!.status !== "active") continue;
      const q = posterior(state.params, state.n[a]!, state.mean[a]!, state.m2[a]!);
      const sigma2 = q.beta / gamma(rng, q.alpha);
      const v = q.loc + Math.sqrt(sigma2 / q.kappa) * normal(rng);
      if (v > bestV) {
        bestV = v;
        best = a;
      }
    }
    return best >= 0 ? best : sampleIndex([], rng);
  },
  update(state, arm, reward) {
    checkArm(state, arm);
    checkFinite(reward);
    learn(state, arm, reward);
    state.version++;
  },
  updateBatch: (state, arms, rewards) => learnBatch(state, arms, rewards, checkFinite, learn),
  setArmStats(state, arm, stats: ArmStats) {
    checkArm(state, arm);
    if (!(stats.n >= 0) || !Number.isFinite(stats.sum) || !Number.isFinite(stats.sumSq))
      throw new StrategyParamError("stats", "need n ≥ 0 and finite sums");
    state.n[arm] = stats.n;
    state.mean[arm] = stats.n > 0 ? stats.sum / stats.n : 0;
    state.m2[arm] = stats.n > 0 ? Math.max(0, stats.sumSq - (stats.sum * stats.sum) / stats.n) : 0;
    state.version++;
  },
  addArm(state, key) {
    const i = addSlot(state, key);
    state.n.push(0);
    state.mean.push(0);
    state.m2.push(0);
    return i;
  },
  setArmStatus: setSlotStatus,
  setParams(state, params) {
    state.params = parseWith(gaussianThompsonParams, params);
    state.explorationFloor = state.params.explorationFloor;
    state.version++;
  },
  toJSON: (s) => ({
    ...s,
    params: { ...s.params },
    arms: s.arms.map((a) => ({ ...a })),
    n: [...s.n],
    mean: [...s.mean],
    m2: [...s.m2],
  }),
  fromJSON(json) {
    const o = checkBaseJSON(json, "gaussian_thompson") as unknown as GaussianThompsonState;
    const p = parseWith(gaussianThompsonParams, o.params);
    const K = o.arms.length;
    for (const f of ["n", "mean", "m2"] as const)
      if (!Array.isArray(o[f]) || o[f].length !== K)
        throw new StrategyParamError(`state.${f}`, "must hold one value per arm");
    return {
      type: "gaussian_thompson",
      arms: o.arms.map((a) => ({ key: a.key, status: a.status })),
      explorationFloor: p.explorationFloor,
      dim: 0,
      version: Number(o.version) || 0,
      params: p,
      n: [...o.n],
      mean: [...o.mean],
      m2: [...o.m2],
    };
  },
};
