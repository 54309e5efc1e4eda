/**
 * Strategy benchmark on the shared scenarios (bench/shared): per strategy, scenario and pattern,
 * decisions/s, updates/s, cumulative pseudo-regret, final best-arm share and memory, beside the
 * peer's (MABWiser 2.7.4) figures from bench/shared/README.md.
 *
 * Rules, as the scenarios define them: K warm-up rounds play arm t and are learned from (one batch
 * update), then online = decide 1, update 1; batched = B decisions from the same state, then one
 * updateBatch of those B. Regret = Σ_t (max_a mu_a(t) − mu_{a_t}(t)) over all rounds, warm-up included.
 * decisions/s = rounds / wall time from creating the state to the last update (environment excluded),
 * i.e. it includes the updates, like the peer's. updates/s is measured separately: the same
 * (arm, reward, context) sequence replayed through update/updateBatch alone on a fresh state.
 *
 * Two decision paths are timed, and every row says which:
 *  - "select": the strategy's fast path (no propensity) — what the peer does, and what simulations use;
 *  - "choose": the service's path, which also computes the exact propensity of the drawn arm.
 * Regret is the median over the policy seeds; decisions/s the median over seeds of each run's rate,
 * per wall-clock second (the peer's definition) and per CPU second of this process (the same on an idle
 * machine; on a shared one it leaves out the time other jobs held the cores).
 */
import type { BaseState, Strategy } from "../strategies/types.ts";
import { Xoshiro128 } from "../strategies/rng.ts";
import { FINAL_WINDOW_FRAC, type Scenario } from "./scenarios.ts";

export type Path = "select" | "choose";

export interface RunResult {
  regret: number;
  finalBestShare: number;
  totalReward: number;
  seconds: number;
  /** CPU seconds of this process over the run (user + system): robust to other jobs on a shared machine. */
  cpuSeconds: number;
  arms: Int32Array;
  rewards: Float64Array;
  stateBytes: number;
  propensityMin: number;
}

/** Runs one policy over a scenario. batch = 1 → online. */
export function runPolicy(
  strategy: Strategy,
  params: unknown,
  sc: Scenario,
  batch: number,
  path: Path,
  seed: number,
  rows: Float64Array[] | undefined,
): RunResult {
  const { K, T } = sc;
  const rng = new Xoshiro128(seed);
  const armsPlayed = new Int32Array(T);
  const rewards = new Float64Array(T);
  let propensityMin = 1;
  const keys = Array.from({ length: K }, (_, a) => String(a));
  const useSelect = path === "select" && typeof strategy.select === "function";
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const state: BaseState = strategy.init(keys, strategy.parseParams(params), sc.d);
  // Warm-up: arm t at round t, learned from in one batch (as the peer's fit()).
  const warm = Math.min(K, T);
  for (let t = 0; t < warm; t++) {
    armsPlayed[t] = t;
    rewards[t] = sc.reward[t * K + t]!;
  }
  strategy.updateBatch(state, armsPlayed.subarray(0, warm), rewards.subarray(0, warm), rows?.slice(0, warm));
  if (batch === 1) {
    for (let t = warm; t < T; t++) {
      const x = rows?.[t];
      let a: number;
      if (useSelect) a = strategy.select!(state, x, rng);
      else {
        const c = strategy.choose(state, x, rng);
        a = c.arm;
        if (c.propensity < propensityMin) propensityMin = c.propensity;
      }
      const r = sc.reward[t * K + a]!;
      armsPlayed[t] = a;
      rewards[t] = r;
      strategy.update(state, a, r, x);
    }
  } else {
    for (let t0b = warm; t0b < T; t0b += batch) {
      const end = Math.min(T, t0b + batch);
      for (let t = t0b; t < end; t++) {
        const x = rows?.[t];
        let a: number;
        if (useSelect) a = strategy.select!(state, x, rng);
        else {
          const c = strategy.choose(state, x, rng);
          a = c.arm;
          if (c.propensity < propensityMin) propensityMin = c.propensity;
        }
        armsPlayed[t] = a;
        rewards[t] = sc.reward[t * K + a]!;
      }
      strategy.updateBatch(state, armsPlayed.subarray(t0b, end), rewards.subarray(t0b, end), rows?.slice(t0b, end));
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  let regret = 0;
  let total = 0;
  let bestHits = 0;
  const from = T - Math.round(FINAL_WINDOW_FRAC * T);
  for (let t = 0; t < T; t++) {
    const a = armsPlayed[t]!;
    regret += sc.best[t]! - sc.mu[t * K + a]!;
    total += rewards[t]!;
    if (t >= from && a === sc.bestArm[t]) bestHits++;
  }
  const stateBytes = JSON.stringify(strategy.toJSON(state)).length;
  return {
    regret,
    finalBestShare: bestHits / (T - from),
    totalReward: total,
    seconds,
    cpuSeconds,
    arms: armsPlayed,
    rewards,
    stateBytes,
    propensityMin,
  };
}

/** Replays a run's (arm, reward, context) through the learning functions alone; returns seconds. */
export function timeUpdates(
  strategy: Strategy,
  params: unknown,
  sc: Scenario,
  batch: number,
  run: RunResult,
  rows: Float64Array[] | undefined,
): number {
  const keys = Array.from({ length: sc.K }, (_, a) => String(a));
  const state = strategy.init(keys, strategy.parseParams(params), sc.d);
  const t0 = performance.now();
  if (batch === 1) for (let t = 0; t < sc.T; t++) strategy.update(state, run.arms[t]!, run.rewards[t]!, rows?.[t]);
  else
    for (let s = 0; s < sc.T; s += batch) {
      const e = Math.min(sc.T, s + batch);
      strategy.updateBatch(state, run.arms.subarray(s, e), run.rewards.subarray(s, e), rows?.slice(s, e));
    }
  return (performance.now() - t0) / 1000;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : 0.5 * (s[n / 2 - 1]! + s[n / 2]!);
}

export function contextRows(sc: Scenario): Float64Array[] | undefined {
  if (sc.d === 0) return undefined;
  return Array.from({ length: sc.T }, (_, t) => sc.X.subarray(t * sc.d, (t + 1) * sc.d));
}
