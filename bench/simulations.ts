/**
 * Simulator benchmark: simulated rounds per second for each strategy of the creative scenario
 * (simulations/scenarios/creative.json: 10 arms, 100,000 decisions), on one thread, environment generation
 * excluded (it is shared by all strategies of a repetition). Each row says which decision path ran:
 * "select" (the library's fast path: same distribution as choose, no propensity), "choose", or "pmf-block"
 * (feedback in blocks: one exact pmf per block, then inverse-CDF draws). Median of 3 timed runs after a warm-up.
 * A last row times the library's Thompson select + update alone on the same rewards (no simulator), so the
 * runner's own cost shows as the difference.
 * Prints a table, then one JSON line per row (prefix "json ").
 */
import { fileURLToPath } from "node:url";
import { buildEnvironment } from "../simulations/environment.ts";
import { libraryResolve } from "../simulations/resolve.ts";
import { runStrategy } from "../simulations/runner.ts";
import { Mulberry32 } from "../strategies/rng.ts";
import { loadScenario, strategyLabel } from "../simulations/scenario.ts";

const AIM = 1_000_000;

export async function runSimulationBench(): Promise<void> {
  const path = fileURLToPath(new URL("../simulations/scenarios/creative.json", import.meta.url));
  const s = loadScenario(path);
  const env = buildEnvironment(s, 0);
  const T = s.traffic.rounds;
  const cases = [
    ...s.strategies.map((spec) => ({
      label: strategyLabel(spec),
      type: spec.type,
      params: spec.params,
      updateEvery: 1,
    })),
    { label: "thompson (feedback every 100)", type: "thompson", params: {}, updateEvery: 100 },
    { label: "thompson (feedback every 1000)", type: "thompson", params: {}, updateEvery: 1000 },
  ];
  const rows: {
    scenario: string;
    strategy: string;
    path: string;
    updateEvery: number;
    rounds: number;
    roundsPerSec: number;
    regret: number;
  }[] = [];
  for (const c of cases) {
    const strategy = libraryResolve(c.type);
    const run = (seed: number) =>
      runStrategy(env, strategy, c.params, c.label, seed, { checkpoints: s.checkpoints, updateEvery: c.updateEvery });
    run(0); // warm-up (JIT)
    const rates: number[] = [];
    let last = run(0);
    for (let i = 1; i <= 3; i++) {
      const t0 = performance.now();
      last = run(i);
      rates.push(T / ((performance.now() - t0) / 1000));
    }
    rates.sort((a, b) => a - b);
    rows.push({
      scenario: s.name,
      strategy: c.label,
      path: last.path,
      updateEvery: c.updateEvery,
      rounds: T,
      roundsPerSec: Math.round(rates[1]),
      regret: Number(last.totals.regret.toFixed(2)),
    });
  }
  // The library alone (select + update on the same rewards, no simulator), to separate its cost from the runner's.
  {
    const ts = libraryResolve("thompson");
    const keys = env.arms.map((a) => a.key);
    const once = (seed: number) => {
      const st = ts.init(keys, ts.parseParams({}), 0);
      const rng = new Mulberry32(seed);
      const t0 = performance.now();
      for (let t = 0; t < T; t++) {
        const a = ts.select ? ts.select(st, undefined, rng) : ts.choose(st, undefined, rng).arm;
        ts.update(st, a, env.u[t * env.K + a] < env.mu[a] ? 1 : 0);
      }
      return T / ((performance.now() - t0) / 1000);
    };
    once(0);
    const rates = [once(1), once(2), once(3)].sort((a, b) => a - b);
    rows.push({
      scenario: s.name,
      strategy: "thompson: library alone",
      path: ts.select ? "select" : "choose",
      updateEvery: 1,
      rounds: T,
      roundsPerSec: Math.round(rates[1]),
      regret: NaN,
    });
  }
  console.log(
    `\nsimulations: ${s.name} scenario (${env.K} arms, ${T.toLocaleString("en-US")} rounds), one thread, environment excluded, median of 3`,
  );
  console.log(["strategy".padEnd(32), "path".padEnd(14), "rounds/s".padStart(12), "regret".padStart(10)].join(" "));
  for (const r of rows)
    console.log(
      [
        r.strategy.padEnd(32),
        r.path.padEnd(14),
        r.roundsPerSec.toLocaleString("en-US").padStart(12),
        (Number.isFinite(r.regret) ? r.regret.toFixed(1) : "–").padStart(10),
      ].join(" "),
    );
  const ts = rows.find((r) => r.strategy === "thompson" && r.updateEvery === 1);
  if (ts)
    console.log(
      `thompson online: ${ts.roundsPerSec.toLocaleString("en-US")} rounds/s (aim ${AIM.toLocaleString("en-US")}: ${ts.roundsPerSec >= AIM ? "met" : "not met"})`,
    );
  for (const r of rows) console.log(`json ${JSON.stringify({ bench: "simulations", ...r })}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await runSimulationBench();
