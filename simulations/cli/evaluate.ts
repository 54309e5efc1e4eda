/**
 * `npm run evaluate -- --logs <file.jsonl|csv> --policy <uniform | arm:<key> | '{"type":"thompson","params":{}}'>`
 *   [--seed n] [--bootstrap n] [--json]
 * Estimates what the policy would have earned on the logged traffic (replay, IPS, SNIPS, DM, DR with seeded
 * bootstrap intervals), next to the logging policy's own value and the lift. Log format: simulations/README.md.
 */
import { Command, InvalidArgumentError } from "commander";
import { evaluateLogs, type EvaluationResult } from "../ope/evaluate.ts";
import { readLogs } from "../ope/logs.ts";
import { parsePolicySpec } from "../ope/policy.ts";
import type { StrategyResolver } from "../runner.ts";

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};

function table(r: EvaluationResult): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toPrecision(4) : "–");
  const pct = (x: number | null) =>
    x === null || !Number.isFinite(x) ? "–" : `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`;
  const lines = [
    `policy ${r.policy} on ${r.rows} logged decisions over ${r.actions.length} actions (bootstrap ${r.bootstrap}, seed ${r.seed}, ${r.level * 100}% intervals)`,
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
    `effective sample size ${r.ess.toFixed(1)} (${(r.essShare * 100).toFixed(1)}% of rows); propensities min ${f(r.propensity.min)} max ${f(r.propensity.max)}, missing ${r.propensity.missing}, tiny ${r.propensity.tiny}`,
    ...r.warnings.map((w) => `warning: ${w}`),
  ];
  return lines.join("\n");
}

async function main() {
  const program = new Command()
    .name("evaluate")
    .description("Off-policy evaluation of a policy on logged decisions.")
    .requiredOption("--logs <file>", "logged decisions (JSONL or CSV, see simulations/README.md)")
    .requiredOption("--policy <spec>", 'uniform | arm:<key> | strategy spec JSON, e.g. \'{"type":"thompson"}\'')
    .option("--seed <n>", "bootstrap and policy seed", int("seed"), 1)
    .option("--bootstrap <n>", "bootstrap resamples", int("bootstrap"), 500)
    .option("--json", "print the full result as JSON")
    .parse();
  const o = program.opts<{ logs: string; policy: string; seed: number; bootstrap: number; json?: boolean }>();
  const parsed = parsePolicySpec(o.policy);
  let resolve: StrategyResolver | undefined;
  if (parsed.kind === "strategy") resolve = await (await import("../resolve.ts")).libraryResolver();
  const rows = readLogs(o.logs);
  const r = evaluateLogs(rows, o.policy, { seed: o.seed, bootstrap: o.bootstrap, resolve });
  console.log(o.json ? JSON.stringify(r, null, 2) : table(r));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
