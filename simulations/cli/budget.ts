/**
 * npm run simulate:budget -- <scenario.json> [--repetitions n] [--seed n] [--out dir]
 *
 * Runs a budget scenario (simulations/budget.ts) under each of its pacing modes on the same seeded
 * traffic, prints the figures and writes budget.json and budget.html into reports/<name>-<seed>/.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compareBudget, type BudgetScenario } from "../budget.ts";
import { budgetReportHtml } from "../report/budget-html.ts";

function main(argv: string[]): number {
  const file = argv.find((a) => !a.startsWith("--"));
  if (!file) {
    console.error("usage: npm run simulate:budget -- <scenario.json> [--repetitions n] [--seed n] [--out dir]");
    return 2;
  }
  const opt = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const s = JSON.parse(readFileSync(file, "utf8")) as BudgetScenario;
  if (opt("repetitions")) s.repetitions = Number(opt("repetitions"));
  if (opt("seed")) s.seed = Number(opt("seed"));
  const r = compareBudget(s);
  const dir = opt("out") ?? join("reports", `${s.name}-${s.seed}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "budget.json"), JSON.stringify(r, null, 1));
  writeFileSync(join(dir, "budget.html"), budgetReportHtml(r));
  const f = (x: number | null | undefined, d = 2) => (x === null || x === undefined ? "–" : x.toFixed(d));
  console.log(`${s.name}: daily budget ${s.dailyBudget}, ${s.repetitions} repetitions (means of the last day)`);
  console.log(
    "pacing   spend  overspend  ran-out  tracking-err  violations  conversions  profit  CPA    regret  above-target",
  );
  for (const [mode, m] of Object.entries(r.summary))
    console.log(
      `${mode.padEnd(8)} ${f(m.spend).padStart(6)} ${f(m.overspend, 3).padStart(9)}  ${`${m.exhaustedRuns}/${s.repetitions}`.padStart(7)}  ${`${f((m.trackingError ?? 0) * 100, 1)} %`.padStart(12)}  ${f(m.violations, 1).padStart(10)}  ${f(m.conversions, 1).padStart(11)}  ${f(m.profit).padStart(6)}  ${f(m.cpa, 3)}  ${f(m.regret).padStart(6)}  ${m.servedAboveTargetShare === null ? "–" : `${f(m.servedAboveTargetShare * 100, 1)} %`}`,
    );
  console.log(`wrote ${join(dir, "budget.html")}`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
