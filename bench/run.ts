/**
 * `npm run bench` — the strategy benchmark on the shared scenarios (bench/strategies.ts explains the
 * rules and the two decision paths), printed as JSON lines while it runs and as a table at the end,
 * beside the peer's figures; then, if bench/simulations.ts exists, the simulation benchmark.
 *
 *   npx tsx bench/run.ts [--only strategies|simulations] [--seeds 5] [--choose-rounds 20000] [--quick]
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command } from "commander";
import { getStrategy } from "../strategies/index.ts";
import { bernoulliScenario, contextualScenario, type Scenario } from "./scenarios.ts";
import { contextRows, median, runPolicy, timeUpdates, type Path } from "./strategies.ts";

/** MABWiser 2.7.4 on this kind of machine, from bench/shared/README.md (median of 3 runs; regret medians over 5 seeds where given). */
const PEER: Record<string, { online: Peer; batched: Peer }> = {
  "bernoulli/thompson": {
    online: { dps: 3768, regret: 169.49, regretMedian5: 160.6, share: 0.863 },
    batched: { dps: 442340, regret: 183.01, regretMedian5: 176.1, share: 0.941 },
  },
  "bernoulli/ucb1": {
    online: { dps: 5546, regret: 1359.28, share: 0.284 },
    batched: { dps: 1013818, regret: 1422.38, share: 0.301 },
  },
  "bernoulli/epsilon_greedy": {
    online: { dps: 4973, regret: 221.1, regretMedian5: 221.1, share: 0.911 },
    batched: { dps: 556327, regret: 261.26, regretMedian5: 275.9, share: 0.913 },
  },
  "contextual/linucb": {
    online: { dps: 1140, regret: 746.2, share: 0.66 },
    batched: { dps: 335334, regret: 1451.72, share: 0.603 },
  },
  "contextual/lin_ts": {
    online: { dps: 863, regret: 801.77, regretMedian5: 801.8, share: 0.66 },
    batched: { dps: 233251, regret: 976.71, regretMedian5: 979.7, share: 0.661 },
  },
};
interface Peer {
  dps: number;
  regret: number;
  regretMedian5?: number;
  share: number;
}

interface Row {
  scenario: Scenario;
  family: "bernoulli" | "contextual";
  policy: string;
  type: string;
  params: Record<string, unknown>;
  /** Deterministic policies: the regret the peer's rules give exactly. */
  exact?: { online: number; batched: number };
  /** Fewer seeds for slow select paths. */
  maxSeeds?: number;
}

const program = new Command()
  .option("--only <what>", "strategies | simulations")
  .option("--seeds <n>", "policy seeds for the select path (regret medians; one seed is noisy)", "51")
  .option(
    "--choose-rounds <n>",
    "rounds of the Bernoulli runs on the choose path (propensity computed every decision)",
    "20000",
  )
  .option("--quick", "short horizons (smoke test; figures not comparable)")
  .parse();
const opts = program.opts<{ only?: string; seeds: string; chooseRounds: string; quick?: boolean }>();
if (opts.only && opts.only !== "strategies" && opts.only !== "simulations") {
  console.error(`--only must be "strategies" or "simulations"`);
  process.exit(2);
}

async function strategiesBench(): Promise<void> {
  const S = Math.max(1, Number(opts.seeds));
  const seeds = Array.from({ length: S }, (_, i) => i + 1);
  const bern = bernoulliScenario(opts.quick ? 10000 : undefined);
  const ctx = contextualScenario(opts.quick ? 4000 : undefined);
  const rows: Row[] = [
    { scenario: bern, family: "bernoulli", policy: "Thompson sampling Beta(1,1)", type: "thompson", params: {} },
    {
      scenario: bern,
      family: "bernoulli",
      policy: "UCB1 (α=1)",
      type: "ucb1",
      params: { alpha: 1, ties: "lowest" },
      exact: { online: 1359.28, batched: 1422.38 },
    },
    { scenario: bern, family: "bernoulli", policy: "ε-greedy (0.1)", type: "epsilon_greedy", params: { epsilon: 0.1 } },
    {
      scenario: bern,
      family: "bernoulli",
      policy: "softmax (τ=0.005)",
      type: "softmax",
      params: { temperature: 0.005 },
    },
    { scenario: bern, family: "bernoulli", policy: "Gaussian TS (NIG)", type: "gaussian_thompson", params: {} },
    {
      scenario: bern,
      family: "bernoulli",
      policy: "top-two TS (β=0.5)",
      type: "top_two_thompson",
      params: {},
      maxSeeds: 3,
    },
    {
      scenario: ctx,
      family: "contextual",
      policy: "LinUCB (α=1, λ=1)",
      type: "linucb",
      params: { alpha: 1, lambda: 1, ties: "lowest" },
      exact: { online: 746.2, batched: 1451.72 },
    },
    {
      scenario: ctx,
      family: "contextual",
      policy: "LinTS (α=1, λ=1)",
      type: "lin_ts",
      params: { alpha: 1, lambda: 1 },
    },
    {
      scenario: ctx,
      family: "contextual",
      policy: "LinTS (α=0.5, λ=1)",
      type: "lin_ts",
      params: { alpha: 0.5, lambda: 1 },
    },
    {
      scenario: ctx,
      family: "contextual",
      policy: "logistic TS (Laplace)",
      type: "logistic_ts",
      params: { intercept: false },
    },
    { scenario: ctx, family: "contextual", policy: "context-blind Thompson", type: "thompson", params: {} },
  ];
  const table: string[][] = [];
  const checks: string[] = [];
  for (const row of rows) {
    const s = getStrategy(row.type);
    const sc = row.scenario;
    const rowsX = contextRows(sc);
    const peer = row.policy.includes("α=0.5") ? undefined : PEER[`${row.family}/${row.type}`];
    for (const batch of [1, sc.batch]) {
      const pattern = batch === 1 ? "online" : "batched";
      const paths: Path[] = s.select ? ["select", "choose"] : ["choose"];
      for (const path of paths) {
        // Choose-path runs compute a propensity per decision: one seed, and for Bernoulli a shorter horizon.
        const isChoose = path === "choose" && !!s.select;
        const T = isChoose && row.family === "bernoulli" ? Math.min(sc.T, Number(opts.chooseRounds)) : sc.T;
        const scT = T === sc.T ? sc : row.family === "bernoulli" ? bernoulliScenario(T) : contextualScenario(T);
        const runSeeds = isChoose ? [1] : seeds.slice(0, row.maxSeeds ?? seeds.length);
        // Untimed warm-up so the JIT has compiled the hot path before the clock runs.
        const warmT = isChoose ? Math.min(2000, T) : Math.min(20000, T);
        runPolicy(
          s,
          row.params,
          row.family === "bernoulli" ? bernoulliScenario(warmT) : contextualScenario(warmT),
          batch,
          path,
          999,
          rowsX,
        );
        const runs = runSeeds.map((seed) =>
          runPolicy(s, row.params, scT, batch, path, seed, T === sc.T ? rowsX : contextRows(scT)),
        );
        const regrets = runs.map((r) => r.regret);
        const rates = runs.map((r) => scT.T / r.seconds);
        const cpuRates = runs.map((r) => scT.T / Math.max(r.cpuSeconds, 1e-9));
        const upd = scT.T / timeUpdates(s, row.params, scT, batch, runs[0]!, T === sc.T ? rowsX : contextRows(scT));
        const p = peer?.[pattern as "online" | "batched"];
        const regret = median(regrets);
        const dps = median(rates);
        const cps = median(cpuRates);
        const rec = {
          scenario: sc.id,
          policy: row.policy,
          strategy: row.type,
          params: row.params,
          pattern,
          batch_size: batch,
          path,
          rounds: scT.T,
          seeds: runSeeds,
          decisions_per_sec: Math.round(dps),
          decisions_per_sec_runs: rates.map(Math.round),
          decisions_per_cpu_sec: Math.round(cps),
          updates_per_sec: Math.round(upd),
          cumulative_regret: round2(regret),
          regret_runs: regrets.map(round2),
          final_best_arm_share: round3(median(runs.map((r) => r.finalBestShare))),
          min_propensity: path === "choose" ? Math.min(...runs.map((r) => r.propensityMin)) : undefined,
          state_bytes: runs[0]!.stateBytes,
          max_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
          peer: p
            ? {
                decisions_per_sec: p.dps,
                cumulative_regret: p.regretMedian5 ?? p.regret,
                final_best_arm_share: p.share,
              }
            : null,
          speedup_vs_peer: p ? round2(dps / p.dps) : null,
          speedup_vs_peer_cpu: p ? round2(cps / p.dps) : null,
        };
        console.log(JSON.stringify(rec));
        table.push([
          row.family,
          row.policy,
          batch === 1 ? "online" : `batched ${batch}`,
          path,
          fmtInt(scT.T),
          fmtInt(dps),
          fmtInt(cps),
          fmtInt(upd),
          runSeeds.length > 1
            ? `${regret.toFixed(2)} (${Math.min(...regrets).toFixed(1)}–${Math.max(...regrets).toFixed(1)})`
            : regret.toFixed(2),
          rec.final_best_arm_share.toFixed(3),
          p ? fmtInt(p.dps) : "—",
          p ? `${(dps / p.dps).toFixed(1)}× / ${(cps / p.dps).toFixed(1)}×` : "—",
          p ? (p.regretMedian5 ?? p.regret).toFixed(2) : "—",
          (rec.state_bytes / 1024).toFixed(1),
        ]);
        if (row.exact && T === sc.T && !opts.quick) {
          const want = batch === 1 ? row.exact.online : row.exact.batched;
          checks.push(
            `${Math.abs(regret - want) < 0.005 ? "ok  " : "FAIL"} ${row.policy} ${pattern} (${path}) regret ${regret.toFixed(2)} = peer's ${want.toFixed(2)} (deterministic rules)`,
          );
        }
        if (p && path === "select" && !opts.quick) {
          // Goals judged on CPU-second rates (see bench/strategies.ts); wall rates are in the table.
          const ok100 = cps >= 100 * peer!.online.dps || pattern !== "online";
          const okBatch = pattern !== "online" || cps >= peer!.batched.dps;
          const okRegret = regret <= (p.regretMedian5 ?? p.regret) + 0.005;
          checks.push(
            `${ok100 && okBatch && okRegret ? "ok  " : "MISS"} ${row.policy} ${pattern}: ${pattern === "online" ? `${(cps / peer!.online.dps).toFixed(0)}× peer online (goal ≥ 100×), ${(cps / peer!.batched.dps).toFixed(2)}× peer batched (goal ≥ 1), per CPU second; ` : ""}regret ${regret.toFixed(2)} vs ${(p.regretMedian5 ?? p.regret).toFixed(2)}`,
          );
        }
      }
    }
  }
  const head = [
    "scenario",
    "policy",
    "pattern",
    "path",
    "rounds",
    "decisions/s (wall)",
    "decisions/CPU-s",
    "updates/s",
    `regret (median over seeds; range)`,
    "best-arm share",
    "peer dec/s",
    "ours/peer (wall / CPU)",
    "peer regret",
    "state KB",
  ];
  console.log(`\n${renderTable(head, table)}`);
  console.log(`\nchecks:\n${checks.join("\n")}`);
  console.log(
    `\nselect = fast path without propensity (what the peer does); choose = the service path with the exact propensity, 1 seed${opts.quick ? "" : `, Bernoulli on the first ${opts.chooseRounds} rounds`}.`,
  );
  console.log(
    `max RSS of the bench process: ${Math.round(process.resourceUsage().maxRSS / 1024)} MB; node ${process.version}.`,
  );
}

function renderTable(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i >= 4 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join(" | ")} |`;
  return [
    line(head),
    `|${w.map((n, i) => (i >= 4 ? `${"-".repeat(n + 1)}:` : "-".repeat(n + 2))).join("|")}|`,
    ...rows.map(line),
  ].join("\n");
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const round3 = (x: number) => Math.round(x * 1000) / 1000;
const fmtInt = (x: number) => Math.round(x).toLocaleString("en-US");

async function main(): Promise<void> {
  if (opts.only !== "simulations") await strategiesBench();
  if (opts.only !== "strategies") {
    const sim = join(dirname(fileURLToPath(import.meta.url)), "simulations.ts");
    if (existsSync(sim)) {
      const mod = (await import(pathToFileURL(sim).href)) as { runSimulationBench?: () => Promise<void> };
      if (typeof mod.runSimulationBench === "function") await mod.runSimulationBench();
    } else if (opts.only === "simulations") console.log("bench/simulations.ts not found: nothing to run");
  }
}

await main();
