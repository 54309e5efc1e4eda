/**
 * linucb — disjoint LinUCB (Li, Chu, Langford & Schapire 2010, "A contextual-bandit approach to
 * personalized news article recommendation", Algorithm 1): per-arm ridge regression (linear.ts) and
 *
 *     score_a(x) = θ̂_aᵀx + α · sqrt(xᵀ A_a⁻¹ x).
 *
 * Deterministic given the state and x: the pmf puts 1 on the argmax (exact ties split, or the lowest
 * index with ties: "lowest"), then the exploration floor — so propensities are exact.
 * Params: alpha (default 1), lambda (ridge, default 1). ArmStats: xx = Σxxᵀ, xr = Σrx (exact rebuild).
 */
import { z } from "zod";
import type { Features, Strategy } from "./types.ts";
import type { Rng } from "./rng.ts";
import {
  applyFloor,
  argmaxIndex,
  argmaxPmf,
  floorSchema,
  parseWith,
  sampleIndex,
  sanePmf,
  chooseFromPmf,
  uniformPmf,
} from "./common.ts";
import { checkX, initRidge, type RidgeState, ridgeMethods } from "./linear.ts";

export const linucbParams = z
  .object({
    alpha: z.number().min(0).finite().default(1),
    lambda: z.number().positive().finite().default(1),
    ties: z.enum(["split", "lowest"]).default("split"),
    explorationFloor: floorSchema,
  })
  .strict();
export type LinUcbParams = z.infer<typeof linucbParams>;
export type LinUcbState = RidgeState<LinUcbParams>;

const scratch = { s: new Float64Array(0) };

function scores(state: LinUcbState, x: ArrayLike<number>): Float64Array {
  const d = state.dim;
  const K = state.arms.length;
  if (scratch.s.length < K) scratch.s = new Float64Array(K);
  const out = scratch.s;
  const { alpha } = state.params;
  // θ̂ᵀx and xᵀA⁻¹x inlined (upper triangle of the symmetric A⁻¹): this loop is the decision's whole cost.
  for (let a = 0; a < K; a++) {
    if (state.arms[a]!.status !== "active") continue;
    const M = state.ainv[a]!;
    const th = state.theta[a]!;
    let mean = 0;
    let q = 0;
    for (let i = 0; i < d; i++) {
      const xi = x[i]!;
      mean += th[i]! * xi;
      const row = i * d;
      let t = 0;
      for (let j = i + 1; j < d; j++) t += M[row + j]! * x[j]!;
      q += xi * (M[row + i]! * xi + 2 * t);
    }
    out[a] = mean + alpha * Math.sqrt(Math.max(q, 0));
  }
  return out;
}

function pmf(state: LinUcbState, x: Features | undefined): Float64Array {
  const p = new Float64Array(state.arms.length);
  const sc = scores(state, checkX(state, x));
  for (let a = 0; a < state.arms.length; a++)
    if (state.arms[a]!.status === "active" && !Number.isFinite(sc[a]!)) return uniformPmf(state, p);
  argmaxPmf(state.arms, sc, state.params.ties, p);
  return sanePmf(state, applyFloor(p, state.arms, state.params.explorationFloor));
}

export const linucb: Strategy<LinUcbState, LinUcbParams> & {
  select(state: LinUcbState, x: Features | undefined, rng: Rng): number;
} = {
  type: "linucb",
  contextual: true,
  parseParams: (p) => parseWith(linucbParams, p),
  init: (keys, params, d) => initRidge("linucb", keys, parseWith(linucbParams, params), d),
  probabilities: (state, x) => pmf(state, x),
  choose: (state, x, rng) => chooseFromPmf(pmf(state, x), rng),
  select(state, x, rng) {
    if (state.params.explorationFloor > 0) return sampleIndex(pmf(state, x), rng);
    const a = argmaxIndex(state.arms, scores(state, checkX(state, x)), state.params.ties, rng);
    return a >= 0 ? a : sampleIndex([], rng);
  },
  ...ridgeMethods("linucb", linucbParams),
};
