/**
 * lin_ts — linear Thompson sampling (Agrawal & Goyal 2013, "Thompson sampling for contextual bandits
 * with linear payoffs"): per-arm ridge regression (linear.ts), θ̃_a ~ N(θ̂_a, v² A_a⁻¹), play argmax θ̃_aᵀx.
 *
 * For a given x each arm's score θ̃_aᵀx is itself normal, N(θ̂_aᵀx, v² xᵀA_a⁻¹x), and independent across
 * arms, so drawing one normal per arm is an exact draw of the scores (no d×d Cholesky per decision),
 * and the propensity P(a's score is the largest) is a one-dimensional integral over those normals,
 * computed deterministically as for thompson (argmax.ts, error < 5e-4; no Monte Carlo needed).
 * `choose` draws the arm from that pmf after the exploration floor; `select` draws the normals.
 * Params: alpha (= v, default 1; `v` accepted as an alias), lambda (ridge, default 1).
 * ArmStats: xx = Σxxᵀ, xr = Σrx (exact rebuild).
 */
import { z } from "zod";
import type { Features, Strategy } from "./types.ts";
import type { Rng } from "./rng.ts";
import { normalTable, probMax, type DistTable } from "./argmax.ts";
import {
  applyFloor,
  floorSchema,
  parseWith,
  sampleIndex,
  sanePmf,
  chooseFromPmf,
  selectByNormalScores,
} from "./common.ts";
import { checkX, dot, initRidge, quadForm, type RidgeState, ridgeMethods } from "./linear.ts";

export const linTsParams = z.preprocess(
  (p) => {
    // `v` is the paper's name for the exploration scale; store it as alpha.
    if (p && typeof p === "object" && "v" in p) {
      const { v, ...rest } = p as Record<string, unknown>;
      return { alpha: v, ...rest };
    }
    return p;
  },
  z
    .object({
      alpha: z.number().min(0).finite().default(1),
      lambda: z.number().positive().finite().default(1),
      explorationFloor: floorSchema,
    })
    .strict(),
);
export type LinTsParams = z.infer<typeof linTsParams>;
export type LinTsState = RidgeState<LinTsParams>;

let u = new Float64Array(0);

/** Mean and standard deviation of each active arm's score at x. */
export function scoreMoments(
  state: RidgeState<{ alpha: number }>,
  x: ArrayLike<number>,
  mean: Float64Array,
  sd: Float64Array,
): void {
  const d = state.dim;
  if (u.length !== d) u = new Float64Array(d);
  for (let a = 0; a < state.arms.length; a++) {
    if (state.arms[a]!.status !== "active") continue;
    mean[a] = dot(state.theta[a]!, x, d);
    sd[a] = state.params.alpha * Math.sqrt(Math.max(0, quadForm(state.ainv[a]!, x, d)));
  }
}

/** P(argmax) of independent normal scores, floor applied. A zero sd is widened to a negligible one. */
export function normalArgmaxPmf(
  arms: RidgeState<unknown>["arms"],
  mean: Float64Array,
  sd: Float64Array,
  floor: number,
): Float64Array {
  const K = arms.length;
  const tables: (DistTable | null)[] = new Array(K).fill(null);
  for (let a = 0; a < K; a++)
    if (arms[a]!.status === "active")
      tables[a] = normalTable(mean[a]!, Math.max(sd[a]!, 1e-9 * (1 + Math.abs(mean[a]!))));
  return applyFloor(probMax(tables, new Float64Array(K)), arms, floor);
}

function pmf(state: LinTsState, x: Features | undefined): Float64Array {
  const K = state.arms.length;
  const mean = new Float64Array(K);
  const sd = new Float64Array(K);
  scoreMoments(state, checkX(state, x), mean, sd);
  return sanePmf(state, normalArgmaxPmf(state.arms, mean, sd, state.params.explorationFloor));
}

export const linTs: Strategy<LinTsState, LinTsParams> & {
  select(state: LinTsState, x: Features | undefined, rng: Rng): number;
} = {
  type: "lin_ts",
  contextual: true,
  parseParams: (p) => parseWith(linTsParams, p),
  init: (keys, params, d) => initRidge("lin_ts", keys, parseWith(linTsParams, params), d),
  probabilities: (state, x) => pmf(state, x),
  choose: (state, x, rng) => chooseFromPmf(pmf(state, x), rng),
  select(state, x, rng) {
    if (state.params.explorationFloor > 0) return sampleIndex(pmf(state, x), rng);
    const xv = checkX(state, x);
    return selectByNormalScores(state.arms, (m, sd) => scoreMoments(state, xv, m, sd), rng);
  },
  ...ridgeMethods("lin_ts", linTsParams),
};
