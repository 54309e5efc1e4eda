/**
 * epsilon_greedy — with probability ε a uniformly random active arm, otherwise the arm with the highest
 * empirical mean (Sutton & Barto 2018, §2.2). Exact pmf: ε/m for each of the m active arms plus
 * (1 − ε) on the greedy arm (shared among exact ties, or on the lowest index with ties: "lowest"),
 * then the exploration floor. An untried arm counts as the best, so the greedy step tries it first.
 */
import { z } from "zod";
import type { Strategy } from "./types.ts";
import {
  activeCount,
  applyFloor,
  argmaxPmf,
  floorSchema,
  parseWith,
  PmfCache,
  repeatCount,
  sampleIndex,
  chooseFromPmf,
} from "./common.ts";
import { initMeans, means, type MeansState, meansMethods } from "./means.ts";

export const epsilonGreedyParams = z
  .object({
    epsilon: z.number().min(0).max(1).default(0.1),
    ties: z.enum(["split", "lowest"]).default("split"),
    explorationFloor: floorSchema,
  })
  .strict();
export type EpsilonGreedyParams = z.infer<typeof epsilonGreedyParams>;
export type EpsilonGreedyState = MeansState<EpsilonGreedyParams>;

const cache = new PmfCache<EpsilonGreedyState>();

function pmf(state: EpsilonGreedyState): Float64Array {
  return cache.get(state, () => {
    const K = state.arms.length;
    const p = new Float64Array(K);
    const m = activeCount(state.arms);
    if (m === 0) return p;
    const { epsilon } = state.params;
    for (let a = 0; a < K; a++) if (state.arms[a]!.status === "active") p[a] = epsilon / m;
    argmaxPmf(state.arms, means(state, Infinity, new Float64Array(K)), state.params.ties, p, 1 - epsilon);
    return applyFloor(p, state.arms, state.params.explorationFloor);
  });
}

export const epsilonGreedy: Strategy<EpsilonGreedyState, EpsilonGreedyParams> = {
  type: "epsilon_greedy",
  contextual: false,
  parseParams: (p) => parseWith(epsilonGreedyParams, p),
  init: (keys, params) => initMeans("epsilon_greedy", keys, parseWith(epsilonGreedyParams, params)),
  probabilities: (state) => Float64Array.from(pmf(state)),
  choose: (state, _x, rng) => chooseFromPmf(pmf(state), rng),
  // First decision after an update: the two-step draw (explore or exploit) without allocation;
  // repeated decisions on an unchanged state (batched): the cached pmf. Same law either way.
  select(state, _x, rng) {
    if (state.params.explorationFloor > 0 || repeatCount(state) > 1) return sampleIndex(pmf(state), rng);
    const K = state.arms.length;
    if (rng.next() < state.params.epsilon) {
      const m = activeCount(state.arms);
      let j = Math.floor(rng.next() * m);
      for (let a = 0; a < K; a++) if (state.arms[a]!.status === "active" && j-- === 0) return a;
      return sampleIndex([], rng);
    }
    let best = -Infinity;
    let arg = -1;
    let count = 0;
    for (let a = 0; a < K; a++) {
      if (state.arms[a]!.status !== "active") continue;
      const n = state.n[a]!;
      const v = n > 0 ? state.sum[a]! / n : Infinity;
      if (arg < 0 || v > best) {
        best = v;
        arg = a;
        count = 1;
      } else if (v === best && state.params.ties === "split" && rng.next() * ++count < 1) arg = a;
    }
    return arg >= 0 ? arg : sampleIndex([], rng);
  },
  ...meansMethods("epsilon_greedy", epsilonGreedyParams),
};
