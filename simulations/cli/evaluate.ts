/**
 * `npm run evaluate -- --logs <file.jsonl|csv> --policy <uniform | logged | arm:<key> | '{"type":"thompson","params":{}}'>`
 *   [--seed n] [--bootstrap n] [--clip M] [--objective clicks|conversions|revenue|profit] [--allow-negative-rewards]
 *   [--estimate-propensity] [--actions a,b,c] [--replays R] [--folds k] [--workers n] [--html report.html] [--json]
 *   [--no-progress]
 * Estimates what the policy would have earned on the logged traffic (replay, IPS, SNIPS, cross-fitted DM, DR, SNDR,
 * Switch-DR, DRos with seeded bootstrap intervals), next to the logging policy's own value and the lift, with the
 * importance-weight diagnostics. Log format: simulations/README.md.
 */
import { writeFileSync } from "node:fs";
import { SingleBar } from "cli-progress";
import { Command, InvalidArgumentError, Option } from "commander";
import { describeRef } from "../ope/diagnostics.ts";
import { availableParallelism } from "node:os";
import { type EvaluationResult, OBJECTIVES, type Objective } from "../ope/evaluate.ts";
import { readLogs } from "../ope/logs.ts";
import { parsePolicySpec } from "../ope/policy.ts";
import { evaluateLogsParallel } from "../ope/pool.ts";
import { evaluationHtml } from "../ope/report.ts";
import type { StrategyResolver } from "../runner.ts";

const int =
  (name: string, min = 0) =>
  (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
    return n;
  };
const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};

const f = (x: number | null | undefined) =>
  x === null || x === undefined || !Number.isFinite(x) ? (x === Infinity ? "∞" : "–") : x.toPrecision(4);

export function table(r: EvaluationResult): string {
  const pct = (x: number | null) =>
    x === null || !Number.isFinite(x) ? "–" : `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`;
  const w = r.weights;
  const lines = [
    `policy ${r.policy} on ${r.rows} logged decisions over ${r.actions.length} actions${r.slots ? `, ${r.slots} slots` : ""} (objective ${r.objective}, bootstrap ${r.bootstrap}, seed ${r.seed}, ${r.level * 100}% intervals)`,
    `logged policy's own value: ${f(r.logged.value)} [${f(r.logged.ciLow)}, ${f(r.logged.ciHigh)}]`,
    "",
    [
      "estimator".padEnd(10),
      "value".padStart(11),
      "interval".padStart(24),
      "lift".padStart(11),
      "lift interval".padStart(24),
      "lift %".padStart(8),
      "rows".padStart(8),
    ].join(" "),
    ...r.estimates.map((e) =>
      [
        e.estimator.padEnd(10),
        f(e.value).padStart(11),
        `[${f(e.ciLow)}, ${f(e.ciHigh)}]`.padStart(24),
        f(e.lift.value).padStart(11),
        `[${f(e.lift.ciLow)}, ${f(e.lift.ciHigh)}]`.padStart(24),
        pct(e.liftRelative).padStart(8),
        String(e.rows).padStart(8),
      ].join(" "),
    ),
    "",
    `interval: ${r.interval.method}`,
    `clipping: ${r.clip ? `importance weights clipped at ${r.clip.at} (${r.clip.rows} rows)` : "off"}; reward model: ridge ${r.model.ridge}, ${r.model.features} features, ${r.model.folds} folds; switch_dr τ ${f(r.model.switchTau)}, dros λ ${f(r.model.drosLambda)}${r.model.tuned ? " (tuned)" : ""}`,
    `importance weights: mean ${f(w.mean)}, max ${f(w.max)} (${describeRef(w.maxRow)}), zero on ${w.zero} rows; effective sample size ${w.ess.toFixed(1)} (${(w.essShare * 100).toFixed(1)}% of rows)`,
    `propensities: min ${f(r.propensity.min)} (${describeRef(r.propensity.minRow)}), max ${f(r.propensity.max)} (${describeRef(r.propensity.maxRow)}), missing ${r.propensity.missing}, tiny ${r.propensity.tiny}, zero ${r.propensity.zero}`,
    `top ${r.topRows.rows.length} rows carry ${(r.topRows.share * 100).toFixed(1)}% of the IPS estimate: ${r.topRows.rows
      .slice(0, 5)
      .map((t) => `${describeRef(t)} (${(t.share * 100).toFixed(1)}%)`)
      .join(", ")}`,
    ...r.warnings.map((x) => `warning: ${x}`),
  ];
  return lines.join("\n");
}

async function main() {
  const program = new Command()
    .name("evaluate")
    .description("Off-policy evaluation of a policy on logged decisions.")
    .requiredOption("--logs <file>", "logged decisions (JSONL or CSV, see simulations/README.md)")
    .requiredOption(
      "--policy <spec>",
      'uniform | logged | arm:<key> | strategy spec JSON, e.g. \'{"type":"thompson"}\'',
    )
    .option("--seed <n>", "bootstrap, folds and policy seed", int("seed"), 1)
    .option("--bootstrap <n>", "bootstrap resamples", int("bootstrap", 1), 500)
    .option("--clip <M>", "clip importance weights at M (off by default)", positive("clip"))
    .addOption(new Option("--objective <name>", "reward range to check").choices(OBJECTIVES).default("conversions"))
    .option("--allow-negative-rewards", "accept negative revenue")
    .option("--estimate-propensity", "replace missing propensities by the action's share of the logs")
    .option("--actions <list>", "the action set, comma-separated (default: the logged and available actions)")
    .option(
      "--replays <R>",
      "replays of a policy with its own randomness (default 10 for strategies)",
      int("replays", 1),
    )
    .option("--folds <k>", "cross-fitting folds", int("folds", 2), 5)
    .option(
      "--workers <n>",
      "worker threads for the bootstrap (default: the cores, from 50,000 rows on)",
      int("workers"),
    )
    .option("--html <file>", "also write the HTML report there")
    .option("--json", "print the full result as JSON")
    .option("--no-progress", "no progress bar")
    .parse();
  const o = program.opts<{
    logs: string;
    policy: string;
    seed: number;
    bootstrap: number;
    clip?: number;
    objective: Objective;
    allowNegativeRewards?: boolean;
    estimatePropensity?: boolean;
    actions?: string;
    replays?: number;
    folds: number;
    workers?: number;
    html?: string;
    json?: boolean;
    progress: boolean;
  }>();
  const parsed = parsePolicySpec(o.policy);
  let resolve: StrategyResolver | undefined;
  if (parsed.kind === "strategy") resolve = await (await import("../resolve.ts")).libraryResolver();
  const rows = readLogs(o.logs);
  const bar =
    o.progress && process.stderr.isTTY ? new SingleBar({ stream: process.stderr, clearOnComplete: true }) : null;
  let started = false;
  const workers = o.workers ?? (rows.length >= 50_000 ? Math.min(4, availableParallelism()) : 0);
  const r = await evaluateLogsParallel(rows, o.policy, {
    workers,
    seed: o.seed,
    bootstrap: o.bootstrap,
    clip: o.clip ?? null,
    objective: o.objective,
    allowNegativeRewards: o.allowNegativeRewards,
    estimatePropensity: o.estimatePropensity,
    actions: o.actions
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    replays: o.replays,
    folds: o.folds,
    resolve,
    onProgress: bar
      ? (done, total) => {
          if (!started) {
            bar.start(total, 0);
            started = true;
          }
          bar.update(done);
        }
      : undefined,
  });
  bar?.stop();
  if (o.html) writeFileSync(o.html, evaluationHtml(r));
  console.log(
    o.json ? JSON.stringify(r, (_k, x) => (typeof x === "number" && !Number.isFinite(x) ? null : x), 2) : table(r),
  );
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
