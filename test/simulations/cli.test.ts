/** The two command lines, end to end in a child process: `npm run simulate` and `npm run evaluate`. */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "adbandit-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const run = (script: string, args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", join("simulations/cli", script), ...args], {
    encoding: "utf8",
    timeout: 60_000,
  });

describe("simulate CLI", () => {
  it("writes JSON, CSV and HTML results, with the same numbers for the same seed", () => {
    const scenario = join(dir, "s.yaml");
    writeFileSync(
      scenario,
      "name: cli\narms: [{key: a, rate: 0.02}, {key: b, rate: 0.04}]\ntraffic: {rounds: 2000}\nrepetitions: 2\ncheckpoints: 10\nstrategies: [{type: thompson}, {type: ucb1}]\n",
    );
    const a = run("simulate.ts", [scenario, "--workers", "0", "--out", join(dir, "a"), "--seed", "9"]);
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/thompson .*\n.*ucb1/);
    for (const f of ["results.json", "figures.csv", "series.csv", "report.html"])
      expect(existsSync(join(dir, "a", f)), f).toBe(true);
    const _b = run("simulate.ts", [scenario, "--workers", "0", "--out", join(dir, "b"), "--seed", "9"]);
    expect(readFileSync(join(dir, "b", "results.json"), "utf8")).toBe(
      readFileSync(join(dir, "a", "results.json"), "utf8"),
    );
    expect(JSON.parse(readFileSync(join(dir, "a", "results.json"), "utf8")).scenario.seed).toBe(9);
  });

  it("exits 2 naming the bad field", () => {
    const scenario = join(dir, "bad.json");
    writeFileSync(
      scenario,
      JSON.stringify({
        name: "bad",
        arms: [{ key: "a", rate: -1 }],
        traffic: { rounds: 10 },
        strategies: [{ type: "thompson" }],
      }),
    );
    const r = run("simulate.ts", [scenario, "--workers", "0"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("arms.0.rate: Too small: expected number to be >=0");
  });
});

describe("evaluate CLI", () => {
  it("prints every estimator with the logged value and the lift", () => {
    const logs = join(dir, "logs.csv");
    const lines = ["action,propensity,reward,x_age"];
    for (let i = 0; i < 300; i++) lines.push(`${i % 2 ? "a" : "b"},0.5,${i % 3 === 0 ? 1 : 0},${20 + (i % 40)}`);
    writeFileSync(logs, `${lines.join("\n")}\n`);
    const r = run("evaluate.ts", ["--logs", logs, "--policy", "arm:a", "--bootstrap", "50", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.estimates.map((e: { estimator: string }) => e.estimator)).toEqual([
      "replay",
      "ips",
      "snips",
      "dm",
      "dr",
      "sndr",
      "switch_dr",
      "dros",
    ]);
    expect(out.rows).toBe(300);
    const bad = run("evaluate.ts", ["--logs", logs, "--policy", "best"]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^policy: expected "uniform"/);
  });

  it("states clipping and the diagnostics, writes the HTML report, evaluates the logged policy", () => {
    const logs = join(dir, "logs2.jsonl");
    const lines: string[] = [];
    for (let i = 0; i < 200; i++)
      lines.push(
        JSON.stringify({ action: i % 4 ? "a" : "b", propensity: i % 4 ? 0.75 : 0.25, reward: i % 5 === 0 ? 1 : 0 }),
      );
    writeFileSync(logs, `${lines.join("\n")}\n`);
    const off = run("evaluate.ts", ["--logs", logs, "--policy", "arm:b", "--bootstrap", "30"]);
    expect(off.status, off.stderr).toBe(0);
    expect(off.stdout).toContain("clipping: off;");
    expect(off.stdout).toMatch(/importance weights: mean 1\.000, max 4\.000 \(line 1\)/);
    expect(off.stdout).toMatch(/interval: percentile bootstrap over rows; reward model refitted on every resample/);
    const html = join(dir, "r.html");
    const on = run("evaluate.ts", [
      "--logs",
      logs,
      "--policy",
      "arm:b",
      "--bootstrap",
      "30",
      "--clip",
      "3",
      "--html",
      html,
    ]);
    expect(on.stdout).toContain("clipping: importance weights clipped at 3 (50 rows)");
    expect(readFileSync(html, "utf8")).toContain('<svg id="forest"');
    const logged = JSON.parse(
      run("evaluate.ts", ["--logs", logs, "--policy", "logged", "--bootstrap", "30", "--json"]).stdout,
    );
    const ips = logged.estimates.find((e: { estimator: string }) => e.estimator === "ips");
    expect(ips.value).toBe(logged.logged.value);
  });

  it("exits 1 naming the line for a missing propensity, a reward outside the objective, an action outside --actions", () => {
    const logs = join(dir, "bad.csv");
    writeFileSync(logs, "action,propensity,reward\na,0.5,1\nb,,0\n");
    const missing = run("evaluate.ts", ["--logs", logs, "--policy", "uniform"]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^line 3: propensity: missing/);
    expect(
      run("evaluate.ts", ["--logs", logs, "--policy", "uniform", "--estimate-propensity", "--bootstrap", "5"]).status,
    ).toBe(0);
    writeFileSync(logs, "action,propensity,reward\na,0.5,2\n");
    expect(run("evaluate.ts", ["--logs", logs, "--policy", "uniform"]).stderr).toMatch(
      /^line 2: reward: must be in \[0, 1\] for objective conversions, got 2/,
    );
    writeFileSync(logs, "action,propensity,reward\na,0.5,1\nc,0.5,0\n");
    expect(run("evaluate.ts", ["--logs", logs, "--policy", "uniform", "--actions", "a,b"]).stderr).toMatch(
      /^line 3: action: "c" is not in the action set \(a, b\)/,
    );
  });
});
