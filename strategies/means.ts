/**
 * Shared state of the baselines that act on empirical means (ucb1, epsilon_greedy, softmax):
 * per arm n (pulls), Σ reward and Σ reward², plus N = Σ n (UCB1's total count). These are exactly the
 * ArmStats totals, so setArmStats is exact and updates commute.
 */
import type { ArmStats, BaseState } from "./types.ts";
import { StrategyParamError } from "./types.ts";
import {
  addSlot,
  checkArm,
  checkBaseJSON,
  checkFinite,
  makeSlots,
  parseWith,
  setSlotStatus,
  learnBatch,
} from "./common.ts";
import type { z } from "zod";
import type { Strategy } from "./types.ts";

export interface MeansState<P> extends BaseState {
  params: P;
  n: number[];
  sum: number[];
  sumSq: number[];
  total: number;
}

export function initMeans<P extends { explorationFloor: number }>(
  type: string,
  armKeys: readonly string[],
  params: P,
): MeansState<P> {
  const K = armKeys.length;
  return {
    type,
    arms: makeSlots(armKeys),
    explorationFloor: params.explorationFloor,
    dim: 0,
    version: 0,
    params,
    n: new Array(K).fill(0),
    sum: new Array(K).fill(0),
    sumSq: new Array(K).fill(0),
    total: 0,
  };
}

export function learnMean(state: MeansState<unknown>, arm: number, r: number): void {
  state.n[arm] = state.n[arm]! + 1;
  state.sum[arm] = state.sum[arm]! + r;
  state.sumSq[arm] = state.sumSq[arm]! + r * r;
  state.total++;
}

export function updateMeans(state: MeansState<unknown>, arm: number, r: number): void {
  checkArm(state, arm);
  checkFinite(r);
  learnMean(state, arm, r);
  state.version++;
}

export function updateMeansBatch(
  state: MeansState<unknown>,
  arms: ArrayLike<number>,
  rewards: ArrayLike<number>,
): void {
  learnBatch(state, arms, rewards, checkFinite, learnMean);
}

export function setMeansStats(state: MeansState<unknown>, arm: number, stats: ArmStats): void {
  checkArm(state, arm);
  if (!(stats.n >= 0) || !Number.isFinite(stats.sum) || !Number.isFinite(stats.sumSq))
    throw new StrategyParamError("stats", "need n ≥ 0 and finite sums");
  state.total += stats.n - state.n[arm]!;
  state.n[arm] = stats.n;
  state.sum[arm] = stats.sum;
  state.sumSq[arm] = stats.sumSq;
  state.version++;
}

export function addMeansArm(state: MeansState<unknown>, key: string): number {
  const i = addSlot(state, key);
  state.n.push(0);
  state.sum.push(0);
  state.sumSq.push(0);
  return i;
}

/** Empirical means; an untried arm gets `untried` (its treatment differs per strategy). */
export function means(state: MeansState<unknown>, untried: number, out: Float64Array): Float64Array {
  for (let a = 0; a < state.n.length; a++) out[a] = state.n[a]! > 0 ? state.sum[a]! / state.n[a]! : untried;
  return out;
}

export function meansToJSON<P>(state: MeansState<P>): unknown {
  return {
    ...state,
    params: { ...state.params },
    arms: state.arms.map((a) => ({ ...a })),
    n: [...state.n],
    sum: [...state.sum],
    sumSq: [...state.sumSq],
  };
}

export function meansFromJSON<P extends { explorationFloor: number }>(
  json: unknown,
  type: string,
  parse: (p: unknown) => P,
): MeansState<P> {
  const o = checkBaseJSON(json, type) as unknown as MeansState<P>;
  const p = parse(o.params);
  const K = o.arms.length;
  for (const f of ["n", "sum", "sumSq"] as const)
    if (!Array.isArray(o[f]) || o[f].length !== K)
      throw new StrategyParamError(`state.${f}`, "must hold one value per arm");
  return {
    type,
    arms: o.arms.map((a) => ({ key: a.key, status: a.status })),
    explorationFloor: p.explorationFloor,
    dim: 0,
    version: Number(o.version) || 0,
    params: p,
    n: [...o.n],
    sum: [...o.sum],
    sumSq: [...o.sumSq],
    total: Number(o.total) || 0,
  };
}

/**
 * Everything but the decision rule, for the strategies over running means (ucb1, epsilon_greedy, softmax):
 * they differ only in how means become a pmf.
 */
export function meansMethods<P extends { explorationFloor: number }>(
  type: string,
  schema: z.ZodType<P>,
): Pick<
  Strategy<MeansState<P>, P>,
  "update" | "updateBatch" | "setArmStats" | "addArm" | "setArmStatus" | "setParams" | "toJSON" | "fromJSON"
> {
  return {
    update: updateMeans,
    updateBatch: (state, arms, rewards) => updateMeansBatch(state, arms, rewards),
    setArmStats: setMeansStats,
    addArm: addMeansArm,
    setArmStatus: setSlotStatus,
    setParams(state, params) {
      state.params = parseWith(schema, params);
      state.explorationFloor = state.params.explorationFloor;
      state.version++;
    },
    toJSON: meansToJSON,
    fromJSON: (json) => meansFromJSON(json, type, (p) => parseWith(schema, p)),
  };
}
