/**
 * The strategy library's front door: the registry of strategies by their stored `type` name, and
 * re-exports of the contract, the seeded generators, the samplers and the context encoder.
 * Names are stored in the database and in logs: once shipped, never rename them.
 */
import type { BaseState, Strategy } from "./types.ts";
import { StrategyParamError } from "./types.ts";
import { thompson } from "./thompson.ts";
import { ucb1 } from "./ucb1.ts";
import { epsilonGreedy } from "./epsilon_greedy.ts";
import { softmax } from "./softmax.ts";
import { gaussianThompson } from "./gaussian_thompson.ts";
import { topTwoThompson } from "./top_two_thompson.ts";
import { linucb } from "./linucb.ts";
import { linTs } from "./lin_ts.ts";
import { logisticTs } from "./logistic_ts.ts";

export * from "./types.ts";
export * from "./rng.ts";
export * from "./features.ts";
export { normal, gamma, beta } from "./samplers.ts";
export { NoActiveArmsError, applyFloor } from "./common.ts";
export { thompson, ucb1, epsilonGreedy, softmax, gaussianThompson, topTwoThompson, linucb, linTs, logisticTs };

export const STRATEGIES: Record<string, Strategy> = {
  thompson,
  ucb1,
  epsilon_greedy: epsilonGreedy,
  softmax,
  gaussian_thompson: gaussianThompson,
  top_two_thompson: topTwoThompson,
  linucb,
  lin_ts: linTs,
  logistic_ts: logisticTs,
} as unknown as Record<string, Strategy>;

export function getStrategy(type: string): Strategy<BaseState, Record<string, unknown>> {
  const s = Object.hasOwn(STRATEGIES, type) ? STRATEGIES[type] : undefined;
  if (!s)
    throw new StrategyParamError("type", `unknown strategy "${type}"; known: ${Object.keys(STRATEGIES).join(", ")}`);
  return s;
}
