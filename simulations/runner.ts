/**
 * Drives one strategy through one repetition's environment and accumulates the figures.
 *
 * Learning follows the service: without delays or decay the reward teaches right after the decision (or at
 * the end of a block of `learning.updateEvery` decisions, all chosen from the same posterior). With
 * conversion delays or a campaign-level decay, the runner keeps the service's time-aware statistics
 * (src/engine/timed.ts — the same code): each decision is a trial in its hour bucket (reward 0, or −cost
 * for profit), a conversion arriving inside the attribution window adds its value to the DECISION's bucket
 * and its delay to the delay model's counts, and the strategy is synced through `setArmStats` with the
 * fold of the buckets at the simulated `now` — counted at decision, matured only, or delay-aware (the
 * service's default), decayed by a half-life or a window when asked. The buckets' weights move at a
 * "refresh": each block, or every tenth of an hour of traffic when feedback is per decision (as the
 * engine refreshes from the database); arms that learned something in between are refolded at once.
 * Invalid (fraud) events teach unless the service flags them.
 *
 * Decisions use the strategy's `select` (its fast path: same distribution as `choose`, no propensity) when it
 * has one, else `choose`. Block fast path: a context-free strategy whose feedback arrives in blocks chooses the whole block from one
 * posterior, so its choices are i.i.d. from `probabilities()`; we compute that pmf once per block and draw by
 * inverse CDF instead of calling `choose` per decision (same distribution when the pmf is exact).
 * The inner loop allocates nothing per decision (typed arrays, scratch buffers).
 */
import type { TrialCounting } from "../src/engine/buckets.ts";
import type { DecaySpec } from "../src/engine/decay.ts";
import type { ConversionDelaySpec } from "../src/engine/delay.ts";
import { TimedStats } from "../src/engine/timed.ts";
import { Mulberry32 } from "../strategies/rng.ts";
import type { ArmStats, BaseState, Strategy } from "../strategies/types.ts";
import type { Environment } from "./environment.ts";
import { deriveSeed } from "./random.ts";

export type StrategyResolver = (type: string) => Strategy;

/** How decisions were drawn: per decision via `select` (the library's fast path) or `choose`, or per block from the pmf. */
export type RunPath = "select-online" | "choose-online" | "select-block" | "choose-block" | "pmf-block";

export interface StrategyRun {
  label: string;
  path: RunPath;
  totals: {
    decisions: number;
    regret: number;
    conversions: number;
    revenue: number;
    cost: number;
    profit: number;
    /** Fake conversions reported by invalid traffic (counted in no figure above). */
    invalidConversions: number;
    /** Share of decisions on arms in the worst quartile (by expected objective at that moment). */
    wastedShare: number;
    /** First round from which the best arm gets ≥ half of every later checkpoint window; −1 = never. */
    timeToBest: number;
    /** Share of all decisions on the round's best arm. */
    bestShare: number;
    /** Mean |change| of the best arm's share between consecutive checkpoint windows (swings of the allocation). */
    oscillation: number;
  };
  /** Cumulative values at the end of each checkpoint window. */
  series: { regret: Float64Array; conversions: Float64Array; revenue: Float64Array; cost: Float64Array };
  /** Decisions per arm in each checkpoint window, C·K. */
  armCounts: Int32Array;
  /** Share of decisions on the round's best arm, per window. */
  bestShare: Float64Array;
}

export interface RunOptions {
  checkpoints: number;
  updateEvery: number;
  /** Use the per-block pmf fast path where it applies (default true). */
  pmfFastPath?: boolean;
  /** The campaign's statistics settings, as in the service (used with delays or decay). */
  statistics?: StatisticsOptions;
}

export interface StatisticsOptions {
  /** How a pending decision counts (default "delay-aware", the service's). */
  counting?: TrialCounting;
  conversionDelay?: ConversionDelaySpec;
  decay?: DecaySpec;
}

/**
 * What one decision teaches, as the service computes it (src/engine/rewards.ts: `baseReward` at the decision,
 * then `applyEvent` per attributed conversion): conversions 0/1, revenue the value, profit value − cost.
 * A test checks the two agree.
 */
export function decisionReward(
  objective: Environment["objective"],
  cost: number,
  converted: boolean,
  value: number,
): number {
  const base = objective === "profit" ? -cost : 0;
  if (!converted) return base;
  return base + (objective === "conversions" ? 1 : value);
}

/** Round at which checkpoint window w ends (exclusive). */
export function windowEnd(w: number, C: number, T: number): number {
  return Math.floor(((w + 1) * T) / C);
}

export function runStrategy(
  env: Environment,
  strategy: Strategy,
  params: unknown,
  label: string,
  seed: number,
  opts: RunOptions,
): StrategyRun {
  const { K, T, u, mu, muStride, kVal, kCost, best, bestArm, worstThreshold, arms, objective } = env;
  const rng = new Mulberry32(deriveSeed(seed, label));
  const parsed = strategy.parseParams(params);
  const contextual = strategy.contextual;
  const dim = contextual ? env.layout.dim : 0;
  const state: BaseState = strategy.init(
    arms.map((a) => a.key),
    parsed,
    dim,
  );
  const xs = env.x;
  const xbuf = new Float64Array(dim);
  // Copies round t's encoded context into the scratch row (a subarray view would allocate per decision).
  const loadX = (t: number) => {
    const o = t * dim;
    for (let j = 0; j < dim; j++) xbuf[j] = xs[o + j];
  };
  const C = opts.checkpoints;
  const B = opts.updateEvery;
  const delayed = env.delayRounds !== null;
  const stat = opts.statistics ?? {};
  const statsPath = delayed || stat.decay !== undefined;
  const select = strategy.select?.bind(strategy);
  const path: RunPath =
    !contextual && !delayed && B > 1 && opts.pmfFastPath !== false
      ? "pmf-block"
      : `${select ? "select" : "choose"}-${B > 1 ? "block" : "online"}`;

  const costs = new Float64Array(K);
  const values = new Float64Array(K);
  const sigmas = new Float64Array(K);
  for (let a = 0; a < K; a++) {
    costs[a] = arms[a].cost;
    values[a] = arms[a].value;
    sigmas[a] = arms[a].valueSigma;
  }

  const series = {
    regret: new Float64Array(C),
    conversions: new Float64Array(C),
    revenue: new Float64Array(C),
    cost: new Float64Array(C),
  };
  const armCounts = new Int32Array(C * K);
  const bestShare = new Float64Array(C);

  // Block buffers (updateBatch) and the pmf of the pmf-block path.
  const blockArms = new Int32Array(B);
  const blockRewards = new Float64Array(B);
  const blockRounds = new Int32Array(B);
  let blockLen = 0;
  const cdf = new Float64Array(K);

  // Delayed feedback: a calendar queue of pending events (due round → linked list in typed arrays).
  const fraud = env.fraud;
  const delays = env.delayRounds;
  const horizonQ = delayed ? Math.min(T, env.windowRounds + 2) : 1;
  const qHead = new Int32Array(horizonQ).fill(-1);
  const poolSize = delayed ? Math.min(T, env.windowRounds + 2) + B + 1 : 1;
  const qNext = new Int32Array(poolSize);
  const qArm = new Int32Array(poolSize);
  const qRound = new Int32Array(poolSize);
  const qReward = new Float64Array(poolSize);
  let qFree = 0;
  for (let i = 0; i < poolSize; i++) qNext[i] = i + 1 < poolSize ? i + 1 : -1;
  const schedule = (due: number, arm: number, round: number, reward: number) => {
    if (due >= T) return; // resolves after the horizon: teaches nothing within the run
    const i = qFree;
    if (i < 0) throw new Error("delay queue overflow");
    qFree = qNext[i];
    qArm[i] = arm;
    qRound[i] = round;
    qReward[i] = reward;
    const slot = due % horizonQ;
    qNext[i] = qHead[slot];
    qHead[slot] = i;
  };
  // The service's time-aware statistics. Without delays every reward is known at once: counted at decision.
  const timed = statsPath
    ? new TimedStats(K, dim, {
        windowHours: env.windowHours,
        counting: delayed ? stat.counting : "at-decision",
        conversionDelay: stat.conversionDelay,
        decay: stat.decay,
      })
    : null;
  const perHour = env.perHour;
  const refreshEvery = B > 1 ? B : Math.max(1, Math.round(perHour / 10));
  const trialDelta: ArmStats = contextual
    ? { n: 1, sum: 0, sumSq: 0, xx: new Array<number>(dim * dim).fill(0), xr: new Array<number>(dim).fill(0) }
    : { n: 1, sum: 0, sumSq: 0 };
  const rewardDelta: ArmStats = contextual
    ? { n: 1, sum: 0, sumSq: 0, xx: new Array<number>(dim * dim).fill(0), xr: new Array<number>(dim).fill(0) }
    : { n: 1, sum: 0, sumSq: 0 };
  /** Trial of the decision at round t on arm a (context in xbuf), with its decision-time reward r0. */
  const countTrial = (t: number, a: number, r0: number) => {
    trialDelta.sum = r0;
    trialDelta.sumSq = r0 * r0;
    if (contextual) {
      const xx = trialDelta.xx!;
      const xr = trialDelta.xr!;
      for (let i = 0; i < dim; i++) {
        const xi = xbuf[i];
        xr[i] = r0 * xi;
        for (let j = 0; j < dim; j++) xx[i * dim + j] = xi * xbuf[j];
      }
    }
    timed!.trial(a, Math.floor(t / perHour), trialDelta);
    dirty[a] = 1;
  };
  /** The decision at round `round` on arm a, first counted with r0, now earns `reward` (seen at round t). */
  const countReward = (t: number, round: number, a: number, r0: number, reward: number) => {
    const dr = reward - r0;
    rewardDelta.sum = dr;
    rewardDelta.sumSq = reward * reward - r0 * r0;
    if (contextual) {
      const xr = rewardDelta.xr!;
      const o = round * dim;
      for (let j = 0; j < dim; j++) xr[j] = dr * xs[o + j];
    }
    timed!.reward(a, Math.floor(round / perHour), rewardDelta, (t - round) / perHour);
    dirty[a] = 1;
  };
  const dirty = new Uint8Array(K);
  const syncArm = (a: number) => strategy.setArmStats(state, a, timed!.fold(a));

  const deliver = (t: number) => {
    // Events due at round t (delayed path).
    const slot = t % horizonQ;
    let i = qHead[slot];
    qHead[slot] = -1;
    while (i >= 0) {
      const nxt = qNext[i];
      const a = qArm[i];
      // The trial was counted at decision with its decision-time reward; the conversion adds its value.
      countReward(t, qRound[i], a, decisionReward(objective, costs[a], false, 0), qReward[i]);
      qNext[i] = qFree;
      qFree = i;
      i = nxt;
    }
  };
  const flushDirty = () => {
    for (let a = 0; a < K; a++)
      if (dirty[a]) {
        dirty[a] = 0;
        syncArm(a);
      }
  };
  /**
   * The buckets' weights move (as the engine's refresh from the database): every arm is refolded. "now":
   * the model refits on every new count, as the service's does at each of its refreshes (a simulated
   * refresh stands for one); the service's once-a-second cap between refreshes is a matter of CPU, not of
   * what is learned.
   */
  const refresh = (t: number) => {
    timed!.refresh(t / perHour, "now");
    dirty.fill(1);
  };

  let regret = 0;
  let conversions = 0;
  let revenue = 0;
  let cost = 0;
  let invalid = 0;
  let wasted = 0;
  let bestHits = 0;
  let w = 0;
  let wEnd = windowEnd(0, C, T);
  let wStart = 0;

  for (let t = 0; t < T; t++) {
    const blockStart = t % B === 0;
    if (blockStart) {
      if (blockLen > 0) {
        if (contextual) {
          for (let i = 0; i < blockLen; i++) {
            loadX(blockRounds[i]);
            strategy.update(state, blockArms[i], blockRewards[i], xbuf);
          }
        } else strategy.updateBatch(state, blockArms.subarray(0, blockLen), blockRewards.subarray(0, blockLen));
        blockLen = 0;
      }
      if (statsPath) {
        if (t % refreshEvery === 0) refresh(t);
        flushDirty();
      }
      if (path === "pmf-block") {
        const p = strategy.probabilities(state, undefined, rng);
        let acc = 0;
        for (let a = 0; a < K; a++) cdf[a] = acc += p[a];
      }
    }
    if (delayed) deliver(t);
    if (B === 1 && statsPath) {
      if (t % refreshEvery === 0) refresh(t);
      flushDirty();
    }

    // Decide.
    let a: number;
    if (path === "pmf-block") {
      const r = rng.next() * cdf[K - 1];
      a = 0;
      while (a < K - 1 && r >= cdf[a]) a++;
    } else if (contextual) {
      loadX(t);
      a = select ? select(state, xbuf, rng) : strategy.choose(state, xbuf, rng).arm;
    } else a = select ? select(state, undefined, rng) : strategy.choose(state, undefined, rng).arm;

    // Outcome (common random numbers: the uniform belongs to (t, a), not to the strategy).
    const mi = t * muStride + a;
    const bi = muStride === 0 ? 0 : t;
    const eo = mu[mi] * kVal[a] - kCost[a];
    regret += best[bi] - eo;
    // Ties count as best and never as wasted (e.g. invalid traffic, where every arm is worth the same).
    if (eo <= worstThreshold[bi] && eo < best[bi]) wasted++;
    if (a === bestArm[bi] || eo >= best[bi]) bestHits++;
    armCounts[w * K + a]++;
    cost += costs[a];

    const converted = u[t * K + a] < mu[mi];
    let fake = false;
    if (fraud !== null && fraud.fakeRate[t] > 0) {
      fake = (fraud.arm[t] < 0 || fraud.arm[t] === a) && fraud.u[t] < fraud.fakeRate[t];
      if (fake) invalid++;
    }
    const d = delays === null ? 0 : delays[t];
    const attributed = converted && d !== Infinity;
    let value = 0;
    if (attributed) {
      value =
        env.valueZ === null || sigmas[a] === 0
          ? values[a]
          : values[a] * Math.exp(sigmas[a] * env.valueZ[t] - (sigmas[a] * sigmas[a]) / 2);
      conversions++;
      revenue += value;
    }
    // What the strategy is told: a fake conversion looks like a real one unless the service flags it.
    const teaches = !(fake && fraud!.detected[t] === 1);
    const seen = attributed || (fake && teaches);
    const seenValue = attributed ? value : fake ? values[a] : 0;
    const reward = decisionReward(objective, costs[a], seen, seenValue);

    if (!statsPath) {
      if (B === 1) {
        if (contextual) strategy.update(state, a, reward, xbuf);
        else strategy.update(state, a, reward);
      } else {
        blockArms[blockLen] = a;
        blockRewards[blockLen] = reward;
        blockRounds[blockLen] = t;
        blockLen++;
      }
    } else {
      const r0 = decisionReward(objective, costs[a], false, 0);
      countTrial(t, a, r0);
      if (!delayed) {
        if (reward !== r0) countReward(t, t, a, r0, reward);
      } else if (seen) schedule(t + (d === Infinity || fake ? 1 : d), a, t, reward);
    }

    if (t + 1 === wEnd) {
      series.regret[w] = regret;
      series.conversions[w] = conversions;
      series.revenue[w] = revenue;
      series.cost[w] = cost;
      bestShare[w] = bestHits / (wEnd - wStart);
      bestHits = 0;
      w++;
      wStart = wEnd;
      if (w < C) wEnd = windowEnd(w, C, T);
    }
  }

  let firstGood = -1;
  for (let i = C - 1; i >= 0 && bestShare[i] >= 0.5; i--) firstGood = i;
  let swing = 0;
  for (let i = 1; i < C; i++) swing += Math.abs(bestShare[i] - bestShare[i - 1]);
  let allBest = 0;
  for (let i = 0; i < C; i++) allBest += bestShare[i] * (windowEnd(i, C, T) - (i === 0 ? 0 : windowEnd(i - 1, C, T)));
  return {
    label,
    path,
    totals: {
      decisions: T,
      regret,
      conversions,
      revenue,
      cost,
      profit: revenue - cost,
      invalidConversions: invalid,
      wastedShare: wasted / T,
      timeToBest: firstGood < 0 ? -1 : firstGood === 0 ? 0 : windowEnd(firstGood - 1, C, T),
      bestShare: allBest / T,
      oscillation: C > 1 ? swing / (C - 1) : 0,
    },
    series,
    armCounts,
    bestShare,
  };
}
