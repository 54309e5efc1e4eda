/**
 * `npm run simulate -- <scenario.json|yaml> [--seed n] [--repetitions n] [--rounds n] [--workers n] [--out dir]`
 * Runs every strategy of the scenario over the same seeded traffic, shows a progress bar, prints the figures
 * and writes results.json, figures.csv, series.csv and report.html to reports/<scenario>-<seed>/.
 */
import { SingleBar, Presets } from "cli-progress";
import { Command, InvalidArgumentError } from "commander";
import { loadScenario, parseScenario, ScenarioError } from "../scenario.ts";
import { defaultWorkers, simulate, type SimulationResult } from "../simulate.ts";
import { writeResults } from "../report/write.ts";

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};

function summaryTable(r: SimulationResult): string {
  const head = [
    "strategy",
    "regret",
    "conversions",
    "revenue",
    "cost",
    "profit",
    "ROI",
    "h to best",
    "found",
    "worst-arm share",
  ];
  const f = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(d));
  const rows = r.strategies.map((s) => [
    s.label,
    `${f(s.figures.regret.mean)} [${f(s.figures.regret.p05)}–${f(s.figures.regret.p95)}]`,
    f(s.figures.conversions.mean, 0),
    f(s.figures.revenue.mean, 0),
    f(s.figures.cost.mean, 0),
    f(s.figures.profit.mean, 0),
    s.figures.roi ? `${f(s.figures.roi.mean * 100)}%` : "–",
    f(s.figures.timeToBest.hours.mean),
    `${f(s.figures.timeToBest.foundShare * 100, 0)}%`,
    `${f(s.figures.wastedShare.mean * 100)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), ...rows.map(line)].join("\n");
}

async function main() {
  const program = new Command()
    .name("simulate")
    .description("Compare strategies on a synthetic market (common random numbers, repetitions, worker threads).")
    .argument("<scenario>", "scenario file (JSON or YAML), e.g. simulations/scenarios/creative.json")
    .option("--seed <n>", "override the scenario seed", int("seed"))
    .option("--repetitions <n>", "override the number of repetitions", int("repetitions"))
    .option("--rounds <n>", "override traffic.rounds", int("rounds"))
    .option("--workers <n>", "worker threads (0 = in this thread)", int("workers"), defaultWorkers())
    .option("--out <dir>", "output folder (default reports/<scenario>-<seed>)")
    .option("--no-progress", "no progress bar")
    .parse();
  const opts = program.opts<{
    seed?: number;
    repetitions?: number;
    rounds?: number;
    workers: number;
    out?: string;
    progress: boolean;
  }>();
  let scenario: ReturnType<typeof parseScenario>;
  try {
    const raw = loadScenario(program.args[0]);
    scenario = parseScenario({
      ...raw,
      ...(opts.seed !== undefined && { seed: opts.seed }),
      ...(opts.repetitions !== undefined && { repetitions: opts.repetitions }),
      traffic: { ...raw.traffic, ...(opts.rounds !== undefined && { rounds: opts.rounds }) },
    });
  } catch (e) {
    if (e instanceof ScenarioError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  const bar =
    opts.progress && process.stderr.isTTY
      ? new SingleBar({ format: "{bar} {value}/{total} repetitions | {duration_formatted}" }, Presets.shades_classic)
      : null;
  bar?.start(scenario.repetitions, 0);
  const t0 = performance.now();
  const result = await simulate(scenario, { workers: opts.workers, onProgress: (done) => bar?.update(done) });
  bar?.stop();
  const secs = (performance.now() - t0) / 1000;
  const rounds = scenario.traffic.rounds * scenario.repetitions * scenario.strategies.length;
  console.log(
    `${scenario.name}: ${scenario.repetitions} repetitions × ${scenario.strategies.length} strategies × ${scenario.traffic.rounds} rounds in ${secs.toFixed(1)} s (${Math.round(rounds / secs).toLocaleString("en-US")} rounds/s incl. environment generation, ${opts.workers} workers)`,
  );
  console.log(summaryTable(result));
  const { dir } = writeResults(result, opts.out);
  console.log(`written: ${dir}/{results.json,figures.csv,series.csv,report.html}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
