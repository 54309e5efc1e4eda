/**
 * top_two_thompson — Top-Two Thompson Sampling for best-arm identification (Russo 2016, "Simple Bayesian
 * algorithms for best arm identification", COLT / Operations Research 2020), on thompson's
 * Beta–Bernoulli posterior. Draw a leader I by Thompson sampling; with probability β play it, else
 * re-draw until the argmax J ≠ I and play J. With p_i = P(i is the argmax) the challenger's law given
 * leader i is p_a / (1 − p_i) (independent re-draws, conditioned on a different winner), so
 *
 *     q_a = β p_a + (1 − β) Σ_{i≠a} p_i · p_a / (1 − p_i),
 *
 * exact given p (argmax.ts). `choose` draws from q. `select` (fast path) runs the algorithm itself with
 * Beta draws, re-drawing at most 64 times for a challenger; past that it draws the challenger from the
 * exact conditional law p_a / (1 − p_I) — so its law is q too, without an unbounded loop when one arm
 * dominates (if Σ_{j≠i} p_j underflows to 0 the challenger is uniform over the other active arms).
 * Then the exploration floor. Params: β (`beta`, default ½) and the prior (`priorAlpha`, `priorBeta`).
 * Sufficient statistics as thompson's: α = α0 + sum, β = β0 + n − sum.
 */
import { z } from "zod";
import type { ArmStats, Strategy, BaseState } from "./types.ts";
import { StrategyParamError } from "./types.ts";
import { betaArgmaxPmf } from "./thompson.ts";
import { beta as sampleBeta } from "./samplers.ts";
import {
  addSlot,
  applyFloor,
  checkArm,
  checkBaseJSON,
  checkReward01,
  floorSchema,
  makeSlots,
  parseWith,
  PmfCache,
  sampleIndex,
  setSlotStatus,
  chooseFromPmf,
  learnBatch,
} from "./common.ts";

export const topTwoParams = z
  .object({
    beta: z.number().min(0).max(1).default(0.5),
    priorAlpha: z.number().positive().finite().default(1),
    priorBeta: z.number().positive().finite().default(1),
    explorationFloor: floorSchema,
  })
  .strict();
export type TopTwoParams = z.infer<typeof topTwoParams>;

export interface TopTwoState extends BaseState {
  type: "top_two_thompson";
  params: TopTwoParams;
  s: number[];
  f: number[];
}

const cache = new PmfCache<TopTwoState>();

function learnBeta(state: TopTwoState, arm: number, r: number): void {
  state.s[arm] = state.s[arm]! + r;
  state.f[arm] = state.f[arm]! + 1 - r;
}

/** q from p (Russo's top-two law); exported for tests. */
export function topTwoFromArgmax(p: Float64Array, active: readonly boolean[], beta: number): Float64Array {
  const K = p.length;
  const q = new Float64Array(K);
  let S = 0;
  for (let a = 0; a < K; a++) S += p[a]!;
  const m = active.filter(Boolean).length;
  for (let i = 0; i < K; i++) {
    if (!(p[i]! > 0)) continue;
    q[i] = q[i]! + beta * p[i]!;
    const rest = S - p[i]!;
    for (let a = 0; a < K; a++) {
      if (a === i || !active[a]) continue;
      const c = rest > 1e-300 ? p[a]! / rest : m > 1 ? 1 / (m - 1) : 0;
      q[a] = q[a]! + (1 - beta) * p[i]! * c;
    }
    if (m === 1) q[i] = q[i]! + (1 - beta) * p[i]!;
  }
  return q;
}

function pmf(state: TopTwoState): Float64Array {
  return cache.get(state, () => {
    const { priorAlpha, priorBeta, beta, explorationFloor } = state.params;
    const p = betaArgmaxPmf(
      state,
      state.s.map((s) => priorAlpha + s),
      state.f.map((f) => priorBeta + f),
    );
    const q = topTwoFromArgmax(
      p,
      state.arms.map((a) => a.status === "active"),
      beta,
    );
    return applyFloor(q, state.arms, explorationFloor);
  });
}

export const topTwoThompson: Strategy<TopTwoState, TopTwoParams> = {
  type: "top_two_thompson",
  contextual: false,
  parseParams: (p) => parseWith(topTwoParams, p),
  init(keys, params) {
    const p = parseWith(topTwoParams, params);
    return {
      type: "top_two_thompson",
      arms: makeSlots(keys),
      explorationFloor: p.explorationFloor,
      dim: 0,
      version: 0,
      params: p,
      s: new Array(keys.length).fill(0),
      f: new Array(keys.length).fill(0),
    };
  },
  probabilities: (state) => Float64Array.from(pmf(state)),
  choose: (state, _x, rng) => chooseFromPmf(pmf(state), rng),
  select(state, _x, rng) {
    const { priorAlpha, priorBeta, beta, explorationFloor } = state.params;
    if (explorationFloor > 0) return sampleIndex(pmf(state), rng);
    const draw = () => {
      let best = -1;
      let bestV = -Infinity;
      for (let a = 0; a < state.arms.length; a++) {
        if (state.arms[a]!.status !== "active") continue;
        const v = sampleBeta(rng, priorAlpha + state.s[a]!, priorBeta + state.f[a]!);
        if (v > bestV) {
          bestV = v;
          best = a;
        }
      }
      return best;
    };
    const leader = draw();
    if (leader < 0) return sampleIndex([], rng);
    if (rng.next() < beta) return leader;
    for (let i = 0; i < 64; i++) {
      const j = draw();
      if (j !== leader) return j;
    }
    // The leader dominates: draw the challenger from its exact conditional law given "not the leader".
    const p = betaArgmaxPmf(
      state,
      state.s.map((s) => priorAlpha + s),
      state.f.map((f) => priorBeta + f),
    );
    const c = topTwoFromArgmax(
      Float64Array.from(p.map((_v, a) => (a === leader ? 1 : 0))),
      state.arms.map((a) => a.status === "active"),
      0,
    );
    const rest = p.reduce((t, v, a) => (a === leader ? t : t + v), 0);
    const cond = rest > 1e-300 ? Float64Array.from(p.map((v, a) => (a === leader ? 0 : v / rest))) : c;
    return sampleIndex(cond, rng);
  },
  update(state, arm, reward) {
    checkArm(state, arm);
    checkReward01(reward);
    learnBeta(state, arm, reward);
    state.version++;
  },
  updateBatch: (state, arms, rewards) => learnBatch(state, arms, rewards, checkReward01, learnBeta),
  setArmStats(state, arm, stats: ArmStats) {
    checkArm(state, arm);
    if (!(stats.n >= 0) || !(stats.sum >= 0) || stats.sum > stats.n)
      throw new StrategyParamError("stats", "need 0 ≤ sum ≤ n");
    state.s[arm] = stats.sum;
    state.f[arm] = stats.n - stats.sum;
    state.version++;
  },
  addArm(state, key) {
    const i = addSlot(state, key);
    state.s.push(0);
    state.f.push(0);
    return i;
  },
  setArmStatus: setSlotStatus,
  setParams(state, params) {
    state.params = parseWith(topTwoParams, params);
    state.explorationFloor = state.params.explorationFloor;
    state.version++;
  },
  toJSON: (s) => ({ ...s, params: { ...s.params }, arms: s.arms.map((a) => ({ ...a })), s: [...s.s], f: [...s.f] }),
  fromJSON(json) {
    const o = checkBaseJSON(json, "top_two_thompson") as unknown as TopTwoState;
    const p = parseWith(topTwoParams, o.params);
    const K = o.arms.length;
    if (!Array.isArray(o.s) || !Array.isArray(o.f) || o.s.length !== K || o.f.length !== K)
      throw new StrategyParamError("state.s", "must hold one count per arm");
    return {
      type: "top_two_thompson",
      arms: o.arms.map((a) => ({ key: a.key, status: a.status })),
      explorationFloor: p.explorationFloor,
      dim: 0,
      version: Number(o.version) || 0,
      params: p,
      s: [...o.s],
      f: [...o.f],
    };
  },
};
