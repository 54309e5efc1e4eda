/**
 * The simulator: scenario validation messages, environments against their closed forms, the runner's figures
 * for policies whose regret is known exactly, reproducibility (same seed → same numbers, any worker count)
 * and the shipped scenarios.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { STRATEGIES } from "../../strategies/index.ts";
import { buildEnvironment } from "../../simulations/environment.ts";
import { libraryResolve } from "../../simulations/resolve.ts";
import { decisionReward, runStrategy } from "../../simulations/runner.ts";
import { applyEvent, baseReward } from "../../src/engine/rewards.ts";
import { loadScenario, parseScenario, parseScenarioText, type ScenarioInput } from "../../simulations/scenario.ts";
import { simulate } from "../../simulations/simulate.ts";
import { jStat } from "../../simulations/jstat.ts";
import { doubles } from "./doubles.ts";

const base: ScenarioInput = {
  name: "t",
  arms: [
    { key: "a", rate: 0.02 },
    { key: "b", rate: 0.05 },
    { key: "c", rate: 0.03 },
  ],
  traffic: { rounds: 2000 },
  repetitions: 2,
  checkpoints: 20,
  strategies: [{ type: "thompson" }],
};
const scen = (over: Record<string, unknown>) => parseScenario({ ...base, ...over });
const opts = { checkpoints: 20, updateEvery: 1 };

describe("scenario validation", () => {
  const bad: [string, Record<string, unknown>, string][] = [
    ["rate above 1", { arms: [{ key: "a", rate: 1.5 }] }, "arms.0.rate: Too big: expected number to be <=1"],
    ["no arms", { arms: undefined }, "arms: give `arms` or `hourOfWeekArms`"],
    [
      "both arm kinds",
      { hourOfWeekArms: { rate: 0.1 } },
      "hourOfWeekArms: give either `arms` or `hourOfWeekArms`, not both",
    ],
    [
      "duplicate arm",
      {
        arms: [
          { key: "a", rate: 0.1 },
          { key: "a", rate: 0.2 },
        ],
      },
      'arms.1.key: duplicate arm key "a"',
    ],
    ["unknown field", { arms: [{ key: "a", rate: 0.1, rat: 2 }] }, 'arms.0: Unrecognized key: "rat"'],
    [
      "unknown feature in effects",
      { arms: [{ key: "a", rate: 0.1, effects: { age: 1 } }] },
      'arms.0.effects.age: unknown feature "age"',
    ],
    [
      "categorical effect without level",
      {
        features: [{ name: "seg", type: "categorical", levels: [{ value: "x", weight: 1 }] }],
        arms: [{ key: "a", rate: 0.1, effects: { seg: 1 } }],
      },
      'arms.0.effects.seg: "seg" is categorical: use "seg=<one of x>"',
    ],
    ["drift names unknown arm", { drift: [{ at: 10, rates: { z: 0.1 } }] }, 'drift.0.rates.z: unknown arm "z"'],
    [
      "drift after the horizon",
      { drift: [{ at: 5000, rates: { a: 0.1 } }] },
      "drift.0.at: must be below traffic.rounds (2000)",
    ],
    [
      "seasonality of 23 hours",
      { seasonality: { hourOfDay: new Array(23).fill(1) } },
      "seasonality.hourOfDay: Too small: expected array to have exactly 24 items",
    ],
    [
      "fraud on unknown arm",
      { fraud: { bursts: [{ start: 0, duration: 10, share: 0.5, arm: "q" }] } },
      'fraud.bursts.0.arm: unknown arm "q"',
    ],
    ["negative rounds", { traffic: { rounds: -5 } }, "traffic.rounds: Too small: expected number to be >=1"],
    [
      "bad objective",
      { objective: "clicks" },
      'objective: Invalid option: expected one of "conversions"|"revenue"|"profit"',
    ],
    ["no strategies", { strategies: [] }, "strategies: Too small: expected array to have >=1 items"],
    [
      "duplicate strategy labels",
      { strategies: [{ type: "thompson" }, { type: "thompson" }] },
      'strategies.1.name: duplicate strategy label "thompson": give each a distinct name',
    ],
    ["name unusable as a folder", { name: "a/b" }, "name: letters, digits, _ . - only (used in file names)"],
  ];
  it.each(bad)("%s", (_label, over, message) => {
    expect(() => scen(over)).toThrow(message);
  });

  it("reads YAML and reports parse errors with the file name", () => {
    const s = parseScenarioText(
      "name: y\narms: [{key: a, rate: 0.1}]\ntraffic: {rounds: 10}\nstrategies: [{type: thompson}]\ncheckpoints: 5\n",
      "s.yaml",
    );
    expect(s.arms![0]).toMatchObject({ key: "a", rate: 0.1, value: 1, cost: 0 });
    expect(() => parseScenarioText("{nope", "s.json")).toThrow(/cannot parse s\.json/);
  });
});

describe("environments", () => {
  it("draws conversions at the declared rates (χ² goodness of fit, α = 1e-4)", () => {
    const s = scen({ traffic: { rounds: 50_000 } });
    const env = buildEnvironment(s, 0);
    let chi = 0;
    env.arms.forEach((arm, a) => {
      let ones = 0;
      for (let t = 0; t < env.T; t++) if (env.u[t * env.K + a] < env.mu[a]) ones++;
      const e1 = env.T * arm.rate;
      const e0 = env.T - e1;
      chi += (ones - e1) ** 2 / e1 + (env.T - ones - e0) ** 2 / e0;
    });
    expect(1 - jStat.chisquare.cdf(chi, 3)).toBeGreaterThan(1e-4);
  });

  it("drift ramps linearly and change points jump", () => {
    const s = scen({
      traffic: { rounds: 1000 },
      drift: [
        { at: 100, rampRounds: 200, rates: { a: 0.1 } },
        { at: 600, rates: { b: 0.01 } },
      ],
    });
    const env = buildEnvironment(s, 0);
    expect(env.mu[99 * 3 + 0]).toBeCloseTo(0.02, 12);
    expect(env.mu[200 * 3 + 0]).toBeCloseTo(0.06, 12);
    expect(env.mu[400 * 3 + 0]).toBeCloseTo(0.1, 12);
    expect(env.mu[599 * 3 + 1]).toBeCloseTo(0.05, 12);
    expect(env.mu[600 * 3 + 1]).toBeCloseTo(0.01, 12);
    expect(env.bestArm[0]).toBe(1);
    expect(env.bestArm[700]).toBe(0);
  });

  it("hour-of-week arms follow the recipient's local hour and day", () => {
    const hod = Array.from({ length: 24 }, (_, h) => 1 + h / 10);
    const dow = [1, 1.1, 1.2, 1.3, 1.4, 0.5, 0.6];
    const s = parseScenario({
      name: "st",
      hourOfWeekArms: { rate: 0.01 },
      seasonality: { hourOfDay: hod, dayOfWeek: dow, timezones: [{ name: "tokyo", offsetHours: 9, weight: 1 }] },
      traffic: { rounds: 10 },
      checkpoints: 2,
      strategies: [{ type: "thompson" }],
    });
    const env = buildEnvironment(s, 0);
    expect(env.K).toBe(168);
    expect(env.arms[0].key).toBe("mon-00");
    // Slot sun-20 (UTC) is Monday 05:00 in Tokyo.
    const slot = 6 * 24 + 20;
    expect(env.mu[slot]).toBeCloseTo(0.01 * hod[5] * dow[0], 12);
    expect(env.layout.columns).toEqual(["(intercept)", "timezone=tokyo"]);
  });

  it("attributes a delayed conversion only inside the window: P(delay ≤ w) = 1 − e^(−w/mean)", () => {
    const s = scen({
      traffic: { rounds: 40_000, perHour: 100 },
      delay: { distribution: "exponential", meanHours: 10, attributionWindowHours: 12 },
    });
    const env = buildEnvironment(s, 0);
    const p = 1 - Math.exp(-1.2);
    expect(env.pAttributed).toBeCloseTo(p, 12);
    let inside = 0;
    for (let t = 0; t < env.T; t++) if (env.delayRounds![t] !== Infinity) inside++;
    const se = Math.sqrt((p * (1 - p)) / env.T);
    expect(Math.abs(inside / env.T - p)).toBeLessThan(4 * se);
  });
});

describe("runner", () => {
  it.each(["conversions", "revenue", "profit"] as const)(
    "teaches what the service's reward logic computes (%s)",
    (objective) => {
      for (const [cost, value] of [
        [0, 1],
        [0.7, 42.5],
        [3, 0],
      ]) {
        expect(decisionReward(objective, cost, false, value)).toBe(baseReward(objective, cost));
        const s = { reward: baseReward(objective, cost), converted: false };
        applyEvent(objective, s, { type: "conversion", value, cost: 0 });
        expect(decisionReward(objective, cost, true, value)).toBeCloseTo(s.reward, 12);
      }
    },
  );

  it("always playing one arm has regret T·(μ* − μ_k) and earns exactly the conversions of its reward column", () => {
    const s = scen({ traffic: { rounds: 5000 } });
    const env = buildEnvironment(s, 0);
    const r = runStrategy(env, doubles("fixed"), { arm: 0 }, "fixed", 1, opts);
    expect(r.totals.regret).toBeCloseTo(5000 * (0.05 - 0.02), 8);
    let ones = 0;
    for (let t = 0; t < 5000; t++) if (env.u[t * 3] < 0.02) ones++;
    expect(r.totals.conversions).toBe(ones);
    expect(r.totals.wastedShare).toBe(1);
    expect(r.totals.timeToBest).toBe(-1);
    expect(r.armCounts.reduce((p, c) => p + c, 0)).toBe(5000);
  });

  it("profit objective: regret in expected profit, ROI from revenue and cost", () => {
    const s = scen({
      objective: "profit",
      arms: [
        { key: "cheap", rate: 0.01, value: 50, cost: 0.1 },
        { key: "dear", rate: 0.05, value: 50, cost: 1 },
      ],
      traffic: { rounds: 3000 },
    });
    const env = buildEnvironment(s, 0);
    const r = runStrategy(env, doubles("fixed"), { arm: 0 }, "fixed", 1, opts);
    // expected profit per decision: cheap 0.5 − 0.1 = 0.4, dear 2.5 − 1 = 1.5
    expect(r.totals.regret).toBeCloseTo(3000 * 1.1, 6);
    expect(r.totals.cost).toBeCloseTo(300, 9);
    expect(r.totals.profit).toBeCloseTo(r.totals.revenue - 300, 9);
  });

  it("Thompson sampling (library) finds the best arm and beats an even split on the same traffic", () => {
    const s = scen({ traffic: { rounds: 20_000 } });
    const env = buildEnvironment(s, 0);
    const ts = runStrategy(env, libraryResolve("thompson"), {}, "thompson", 1, opts);
    const uni = runStrategy(env, doubles("uniform"), {}, "uniform", 1, opts);
    expect(ts.path).toBe("select-online");
    // even split: T·(μ* − mean μ) = 20,000 · (0.05 − 0.0333) ≈ 333
    expect(uni.totals.regret).toBeGreaterThan(20_000 * 0.015);
    expect(ts.totals.regret).toBeLessThan(0.3 * uni.totals.regret);
    expect(ts.totals.timeToBest).toBeGreaterThanOrEqual(0);
  });

  it("feedback in blocks uses the exact pmf once per block", () => {
    const s = scen({ traffic: { rounds: 20_000 }, learning: { updateEvery: 500 } });
    const env = buildEnvironment(s, 0);
    const r = runStrategy(env, libraryResolve("thompson"), {}, "thompson", 1, { checkpoints: 20, updateEvery: 500 });
    expect(r.path).toBe("pmf-block");
    expect(r.totals.regret).toBeLessThan(0.3 * 20_000 * 0.0167);
  });

  it("delayed conversions: trial counted at the decision, success when the conversion arrives", () => {
    const s = scen({
      traffic: { rounds: 20_000, perHour: 100 },
      delay: { distribution: "exponential", meanHours: 5, attributionWindowHours: 24 },
    });
    const env = buildEnvironment(s, 0);
    const r = runStrategy(env, libraryResolve("thompson"), {}, "thompson", 1, opts);
    expect(r.totals.regret).toBeLessThan(0.5 * 20_000 * 0.0167 * env.pAttributed);
  });

  it("delayed conversions teach contextual strategies through patched sufficient statistics (Σxxᵀ, Σr·x)", () => {
    const s = scen({
      features: [
        {
          name: "seg",
          type: "categorical",
          levels: [
            { value: "x", weight: 1 },
            { value: "y", weight: 1 },
          ],
        },
      ],
      arms: [
        { key: "a", rate: 0.1, effects: { "seg=x": 1.5, "seg=y": -1.5 } },
        { key: "b", rate: 0.1, effects: { "seg=x": -1.5, "seg=y": 1.5 } },
      ],
      traffic: { rounds: 6000, perHour: 100 },
      delay: { distribution: "exponential", meanHours: 3, attributionWindowHours: 48 },
    });
    const env = buildEnvironment(s, 0);
    const lin = runStrategy(env, libraryResolve("linucb"), { alpha: 0.5 }, "linucb", 1, opts);
    const ts = runStrategy(env, libraryResolve("thompson"), {}, "thompson", 1, opts);
    // A context-free strategy cannot beat half the gap; the contextual one learns each segment's arm.
    expect(ts.totals.regret).toBeGreaterThan(0.3 * 6000 * (env.best[0] - 0.04));
    expect(lin.totals.regret).toBeLessThan(0.25 * ts.totals.regret);
  });

  it("fraud lures a strategy unless the service filters it", () => {
    const mk = (detectionRate: number) =>
      scen({
        traffic: { rounds: 30_000 },
        fraud: { bursts: [{ start: 2000, duration: 10_000, share: 0.7, fakeRate: 0.9, arm: "a" }], detectionRate },
      });
    const run = (detectionRate: number) =>
      runStrategy(buildEnvironment(mk(detectionRate), 0), libraryResolve("thompson"), {}, "thompson", 1, opts);
    const open = run(0);
    const filtered = run(1);
    expect(open.totals.invalidConversions).toBeGreaterThan(1000);
    expect(open.totals.regret).toBeGreaterThan(2 * filtered.totals.regret);
  });
});

describe("reproducibility", () => {
  it("same seed → identical results; another seed → different", async () => {
    const s = scen({ strategies: [{ type: "thompson" }, { type: "ucb1" }] });
    const a = await simulate(s, { workers: 0, resolve: libraryResolve });
    const b = await simulate(s, { workers: 0, resolve: libraryResolve });
    const c = await simulate({ ...s, seed: 2 }, { workers: 0, resolve: libraryResolve });
    expect(b).toEqual(a);
    expect(c.strategies[0].figures.regret.mean).not.toBe(a.strategies[0].figures.regret.mean);
  });

  it("results do not depend on the number of worker threads", async () => {
    const s = scen({ repetitions: 3, strategies: [{ type: "thompson" }, { type: "epsilon_greedy" }] });
    const inline = await simulate(s, { workers: 0, resolve: libraryResolve });
    const pooled = await simulate(s, { workers: 2 });
    expect(pooled).toEqual(inline);
  });
});

describe("shipped scenarios", () => {
  const dir = join(import.meta.dirname, "../../simulations/scenarios");
  const files = readdirSync(dir).filter((f) => /\.(json|ya?ml)$/.test(f));
  it("are the ones shipped", () => {
    expect(files.map((f) => loadScenario(join(dir, f)).name).sort()).toEqual([
      "channel-mix",
      "creative",
      "creative-fatigue",
      "drifting",
      "email-delayed",
      "fraud",
      "send-time",
    ]);
  });
  it.each(files)("%s runs a short smoke test with the library", async (f) => {
    const s = loadScenario(join(dir, f));
    const known = s.strategies.filter((x) => Object.hasOwn(STRATEGIES, x.type));
    expect(known.length).toBeGreaterThan(0);
    // Few rounds for the 168-arm scenario: some strategies integrate a 168-arm pmf per decision.
    const rounds = s.hourOfWeekArms ? 150 : 1500;
    const short = parseScenario({
      ...s,
      repetitions: 1,
      checkpoints: 10,
      traffic: { ...s.traffic, rounds },
      drift: [],
      fraud: undefined,
      strategies: known,
    });
    const r = await simulate(short, { workers: 0, resolve: libraryResolve });
    for (const st of r.strategies) expect(Number.isFinite(st.figures.regret.mean), st.label).toBe(true);
  });
});
