/**
 * Runs a scenario: for each repetition, one environment (common random numbers) and every strategy through
 * it; repetitions are spread over worker threads (piscina). Each repetition's seeds derive from
 * (scenario seed, repetition), each strategy's from (repetition seed, strategy label), so the numbers do not
 * depend on the worker count or the order in which repetitions finish. Figures are then summarised across
 * repetitions (mean, 5–95 % spread, 95 % CI of the mean).
 */
import { availableParallelism } from "node:os";
import { buildEnvironment, type Environment } from "./environment.ts";
import { deriveSeed } from "./random.ts";
import { runStrategy, windowEnd, type RunPath, type StrategyResolver, type StrategyRun } from "./runner.ts";
import { strategyLabel, type Scenario } from "./scenario.ts";
import { band, summarize, type Band, type Summary } from "./stats.ts";

export interface RepResult {
  rep: number;
  runs: StrategyRun[];
}

export function runRepetition(s: Scenario, rep: number, resolve: StrategyResolver, env?: Environment): RepResult {
  const e = env ?? buildEnvironment(s, rep);
  const repSeed = deriveSeed(deriveSeed(s.seed, rep), "policy");
  const runs = s.strategies.map((spec) =>
    runStrategy(e, resolve(spec.type), spec.params, strategyLabel(spec), repSeed, {
      checkpoints: s.checkpoints,
      updateEvery: s.learning.updateEvery,
      statistics: { counting: spec.counting, conversionDelay: spec.conversionDelay, decay: spec.decay },
    }),
  );
  return { rep, runs };
}

export interface StrategyResult {
  label: string;
  type: string;
  params: Record<string, unknown>;
  path: RunPath;
  figures: {
    regret: Summary;
    conversions: Summary;
    revenue: Summary;
    cost: Summary;
    profit: Summary;
    /** profit / cost; null when nothing was spent. */
    roi: Summary | null;
    wastedShare: Summary;
    invalidConversions: Summary;
    /** Share of decisions on the best arm, and the mean swing of that share between checkpoint windows. */
    bestShare: Summary;
    oscillation: Summary;
    /** Over repetitions that found it; `foundShare` = share of repetitions that did. */
    timeToBest: { rounds: Summary; hours: Summary; foundShare: number };
  };
  /** Cumulative figures over time, and the best arm's share of each checkpoint window. */
  series: { regret: Band; conversions: Band; revenue: Band; profit: Band; roi: Band | null; bestShare: Band };
  /** Mean share of traffic per arm in each checkpoint window: arms[i] ↔ share[i][window]. */
  armShare: { arms: string[]; share: number[][] };
}

export interface SimulationResult {
  scenario: {
    name: string;
    description: string;
    objective: Scenario["objective"];
    seed: number;
    repetitions: number;
    rounds: number;
    perHour: number;
    arms: string[];
    updateEvery: number;
  };
  /** Round at the end of each checkpoint window. */
  checkpoints: number[];
  strategies: StrategyResult[];
}

export function aggregate(s: Scenario, reps: RepResult[], armKeys: string[]): SimulationResult {
  const sorted = reps.slice().sort((a, b) => a.rep - b.rep);
  const C = s.checkpoints;
  const T = s.traffic.rounds;
  const K = armKeys.length;
  const checkpoints = Array.from({ length: C }, (_, w) => windowEnd(w, C, T));
  const strategies = s.strategies.map((spec, i): StrategyResult => {
    const runs = sorted.map((r) => r.runs[i]);
    const tot = (f: (r: StrategyRun) => number) => summarize(runs.map(f));
    const anyCost = runs.some((r) => r.totals.cost > 0);
    const found = runs.filter((r) => r.totals.timeToBest >= 0);
    const profitSeries = runs.map((r) => r.series.revenue.map((v, w) => v - r.series.cost[w]));
    const share: number[][] = [];
    for (let a = 0; a < K; a++) {
      const row: number[] = [];
      for (let w = 0; w < C; w++) {
        const len = windowEnd(w, C, T) - (w === 0 ? 0 : windowEnd(w - 1, C, T));
        let sum = 0;
        for (const r of runs) sum += r.armCounts[w * K + a];
        row.push(sum / (len * runs.length));
      }
      share.push(row);
    }
    return {
      label: strategyLabel(spec),
      type: spec.type,
      params: spec.params,
      path: runs[0].path,
      figures: {
        regret: tot((r) => r.totals.regret),
        conversions: tot((r) => r.totals.conversions),
        revenue: tot((r) => r.totals.revenue),
        cost: tot((r) => r.totals.cost),
        profit: tot((r) => r.totals.profit),
        roi: anyCost ? tot((r) => r.totals.profit / r.totals.cost) : null,
        wastedShare: tot((r) => r.totals.wastedShare),
        invalidConversions: tot((r) => r.totals.invalidConversions),
        bestShare: tot((r) => r.totals.bestShare),
        oscillation: tot((r) => r.totals.oscillation),
        timeToBest: {
          rounds: summarize(found.map((r) => r.totals.timeToBest)),
          hours: summarize(found.map((r) => r.totals.timeToBest / s.traffic.perHour)),
          foundShare: found.length / runs.length,
        },
      },
      series: {
        regret: band(runs.map((r) => r.series.regret)),
        conversions: band(runs.map((r) => r.series.conversions)),
        revenue: band(runs.map((r) => r.series.revenue)),
        profit: band(profitSeries),
        roi: anyCost
          ? band(runs.map((r, k) => profitSeries[k].map((p, w) => (r.series.cost[w] > 0 ? p / r.series.cost[w] : NaN))))
          : null,
        bestShare: band(runs.map((r) => r.bestShare)),
      },
      armShare: { arms: armKeys, share },
    };
  });
  return {
    scenario: {
      name: s.name,
      description: s.description,
      objective: s.objective,
      seed: s.seed,
      repetitions: s.repetitions,
      rounds: T,
      perHour: s.traffic.perHour,
      arms: armKeys,
      updateEvery: s.learning.updateEvery,
    },
    checkpoints,
    strategies,
  };
}

export interface SimulateOptions {
  /** Worker threads; 0 runs in this thread (needed for an injected resolver). Default: cores − 1, at least 1. */
  workers?: number;
  /** Strategy lookup for in-thread runs; workers always use the library's registry. */
  resolve?: StrategyResolver;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism() - 1);
}

export async function simulate(s: Scenario, opts: SimulateOptions = {}): Promise<SimulationResult> {
  const reps: RepResult[] = [];
  const total = s.repetitions;
  const workers = Math.min(opts.workers ?? defaultWorkers(), total);
  const { armDefs } = await import("./environment.ts");
  const armKeys = armDefs(s).map((a) => a.key);
  if (workers <= 0) {
    const resolve = opts.resolve ?? (await (await import("./resolve.ts")).libraryResolver());
    for (let rep = 0; rep < total; rep++) {
      if (opts.signal?.aborted) throw new Error("simulation cancelled");
      reps.push(runRepetition(s, rep, resolve));
      opts.onProgress?.(reps.length, total);
      // Let the event loop breathe between repetitions (progress bar, HTTP status requests).
      await new Promise((r) => setImmediate(r));
    }
  } else {
    const { runOnPool } = await import("./pool.ts");
    await runOnPool(
      s,
      workers,
      (r) => {
        reps.push(r);
        opts.onProgress?.(reps.length, total);
      },
      opts.signal,
    );
  }
  return aggregate(s, reps, armKeys);
}
