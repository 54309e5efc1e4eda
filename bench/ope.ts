/**
 * `npm run bench:ope`: off-policy evaluation of 1,000,000 logged rows (a synthetic log shaped like the Open
 * Bandit Dataset, 34 items, 3 slots, uniform-random logging; simulations/ope/synthetic.ts) with every estimator
 * and 200 bootstrap resamples, through the CLI's path (the JSONL file is written, then read and evaluated).
 * Prints the wall-clock seconds of each step (and this thread's CPU seconds: the machine is shared, so wall time
 * depends on the load, printed too). `--rows n`, `--bootstrap n`, `--policy spec`, `--workers n` change the run.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { availableParallelism } from "node:os";
import { readLogs } from "../simulations/ope/logs.ts";
import { evaluateLogsParallel } from "../simulations/ope/pool.ts";
import { syntheticObd } from "../simulations/ope/synthetic.ts";
import { libraryResolve } from "../simulations/resolve.ts";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    bootstrap: { type: "string", default: "200" },
    policy: { type: "string", default: "uniform" },
    items: { type: "string", default: "34" },
    workers: { type: "string", default: String(availableParallelism()) },
  },
});
const n = Number(values.rows);
const dir = mkdtempSync(join(tmpdir(), "adbandit-bench-ope-"));
try {
  let t = performance.now();
  const lap = () => {
    const s = (performance.now() - t) / 1000;
    t = performance.now();
    return s.toFixed(1);
  };
  const K = Number(values.items);
  const log = syntheticObd({ items: K, rows: n, logging: "random", seed: 7 });
  const truth = values.policy === "uniform" ? log.value(() => new Float64Array(K).fill(1 / K)) : NaN;
  const file = join(dir, "log.jsonl");
  writeFileSync(file, `${log.rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
  log.rows.length = 0;
  console.log(`generated and wrote ${n.toLocaleString("en-US")} rows: ${lap()} s`);
  const cpu0 = process.cpuUsage();
  const rows = readLogs(file);
  const read = lap();
  const cpuRead = process.cpuUsage(cpu0).user / 1e6;
  const r = await evaluateLogsParallel(rows, values.policy, {
    workers: Number(values.workers),
    bootstrap: Number(values.bootstrap),
    resolve: libraryResolve,
  });
  const evaluated = lap();
  const cpuAll = process.cpuUsage(cpu0).user / 1e6;
  console.log(
    `read: ${read} s; evaluated (${values.workers} workers, ${r.estimates.length} estimators, ${r.bootstrap} resamples, ${r.interval.groups} groups, ${r.interval.replays} replays): ${evaluated} s`,
  );
  console.log(`total read + evaluate: ${(Number(read) + Number(evaluated)).toFixed(1)} s wall`);
  console.log(
    `main-thread CPU: read ${cpuRead.toFixed(1)} s, evaluate ${(cpuAll - cpuRead).toFixed(1)} s (bootstrap workers not included); load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")} on ${availableParallelism()} cores`,
  );
  if (Number.isFinite(truth))
    console.log(`true value of the uniform policy on this synthetic market: ${truth.toPrecision(5)}`);
  for (const e of r.estimates)
    console.log(
      `  ${e.estimator.padEnd(10)} ${e.value.toPrecision(5)} [${e.ciLow.toPrecision(5)}, ${e.ciHigh.toPrecision(5)}]`,
    );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
