/**
 * ucb1 — Upper Confidence Bound (Auer, Cesa-Bianchi & Fischer 2002, "Finite-time analysis of the
 * multiarmed bandit problem"), with MABWiser's exploration weight α:
 *
 *     score_a = mean_a + α · sqrt(2 ln N / n_a),   N = all updates so far, untried arms score +∞.
 *
 * Deterministic: the pmf puts 1 on the argmax (exact ties split equally, or all on the lowest index with
 * ties: "lowest"), then the exploration floor. Rewards: any finite number (the bound assumes [0, 1]).
 */
import { z } from "zod";
import type { Strategy } from "./types.ts";
import {
  applyFloor,
  argmaxPmf,
  floorSchema,
  parseWith,
  PmfCache,
  repeatCount,
  sampleIndex,
  chooseFromPmf,
} from "./common.ts";
import { initMeans, type MeansState, meansMethods } from "./means.ts";

export const ucb1Params = z
  .object({
    alpha: z.number().min(0).finite().default(1),
    ties: z.enum(["split", "lowest"]).default("split"),
    explorationFloor: floorSchema,
  })
  .strict();
export type Ucb1Params = z.infer<typeof ucb1Params>;
export type Ucb1State = MeansState<Ucb1Params>;

const cache = new PmfCache<Ucb1State>();

function scores(state: Ucb1State): Float64Array {
  const K = state.arms.length;
  const out = new Float64Array(K);
  const c = 2 * Math.log(state.total);
  const { alpha } = state.params;
  for (let a = 0; a < K; a++) {
    const n = state.n[a]!;
    out[a] = n > 0 ? state.sum[a]! / n + alpha * Math.sqrt(c / n) : Infinity;
  }
  return out;
}

function pmf(state: Ucb1State): Float64Array {
  return cache.get(state, () => {
    const p = new Float64Array(state.arms.length);
    argmaxPmf(state.arms, scores(state), state.params.ties, p);
    return applyFloor(p, state.arms, state.params.explorationFloor);
  });
}

export const ucb1: Strategy<Ucb1State, Ucb1Params> = {
  type: "ucb1",
  contextual: false,
  parseParams: (p) => parseWith(ucb1Params, p),
  init: (keys, params) => initMeans("ucb1", keys, parseWith(ucb1Params, params)),
  probabilities: (state) => Float64Array.from(pmf(state)),
  choose: (state, _x, rng) => chooseFromPmf(pmf(state), rng),
  // First decision after an update: argmax directly (no allocation); repeated decisions on an unchanged
  // state (batched): the cached pmf, O(K). Same law either way.
  select(state, _x, rng) {
    if (state.params.explorationFloor > 0 || repeatCount(state) > 1) return sampleIndex(pmf(state), rng);
    const { alpha, ties } = state.params;
    const c = 2 * Math.log(state.total);
    let best = -Infinity;
    let arg = -1;
    let count = 0;
    for (let a = 0; a < state.arms.length; a++) {
      if (state.arms[a]!.status !== "active") continue;
      const n = state.n[a]!;
      const v = n > 0 ? state.sum[a]! / n + alpha * Math.sqrt(c / n) : Infinity;
      if (arg < 0 || v > best) {
        best = v;
        arg = a;
        count = 1;
      } else if (v === best && ties === "split" && rng.next() * ++count < 1) arg = a;
    }
    return arg >= 0 ? arg : sampleIndex([], rng);
  },
  ...meansMethods("ucb1", ucb1Params),
};
