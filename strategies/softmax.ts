/**
 * softmax — Boltzmann exploration (Sutton & Barto 2018, §2.8; Vermorel & Mohri 2005):
 *
 *     p_a ∝ exp(mean_a / τ)   over active arms,
 *
 * computed as exp((mean_a − max mean)/τ) so it never overflows; the pmf is exact, then the floor.
 * τ is in reward units: with click rates around 1–5% a τ of 0.01 already discriminates, with revenue
 * in dollars use dollars. An untried arm takes the best tried mean (it is neither favoured nor starved).
 */
import { z } from "zod";
import type { Strategy } from "./types.ts";
import { applyFloor, floorSchema, parseWith, PmfCache, sampleIndex, chooseFromPmf } from "./common.ts";
import { initMeans, type MeansState, meansMethods } from "./means.ts";

export const softmaxParams = z
  .object({
    temperature: z.number().positive().finite().default(0.1),
    explorationFloor: floorSchema,
  })
  .strict();
export type SoftmaxParams = z.infer<typeof softmaxParams>;
export type SoftmaxState = MeansState<SoftmaxParams>;

const cache = new PmfCache<SoftmaxState>();

function pmf(state: SoftmaxState): Float64Array {
  return cache.get(state, () => {
    const K = state.arms.length;
    const p = new Float64Array(K);
    let best = -Infinity;
    for (let a = 0; a < K; a++)
      if (state.arms[a]!.status === "active" && state.n[a]! > 0) best = Math.max(best, state.sum[a]! / state.n[a]!);
    if (best === -Infinity) best = 0;
    let z = 0;
    for (let a = 0; a < K; a++) {
      if (state.arms[a]!.status !== "active") continue;
      const m = state.n[a]! > 0 ? state.sum[a]! / state.n[a]! : best;
      p[a] = Math.exp((m - best) / state.params.temperature);
      z += p[a]!;
    }
    if (z > 0) for (let a = 0; a < K; a++) p[a] = p[a]! / z;
    return applyFloor(p, state.arms, state.params.explorationFloor);
  });
}

export const softmax: Strategy<SoftmaxState, SoftmaxParams> = {
  type: "softmax",
  contextual: false,
  parseParams: (p) => parseWith(softmaxParams, p),
  init: (keys, params) => initMeans("softmax", keys, parseWith(softmaxParams, params)),
  probabilities: (state) => Float64Array.from(pmf(state)),
  choose: (state, _x, rng) => chooseFromPmf(pmf(state), rng),
  select: (state, _x, rng) => sampleIndex(pmf(state), rng),
  ...meansMethods("softmax", softmaxParams),
};
