/**
 * The simulator's delayed-feedback and decay paths run the service's statistics (src/engine/timed.ts):
 * batched sends with late conversions (counted at decision / matured only / delay-aware) and a change point
 * (decay against none), on common random numbers with fixed seeds.
 */
import { describe, expect, it } from "vitest";
import { buildEnvironment } from "../../simulations/environment.ts";
import { libraryResolve } from "../../simulations/resolve.ts";
import { runStrategy, type StatisticsOptions } from "../../simulations/runner.ts";
import { parseScenario, ScenarioError } from "../../simulations/scenario.ts";

const email = parseScenario({
  name: "email-small",
  arms: [
    { key: "a", rate: 0.1 },
    { key: "b", rate: 0.12 },
    { key: "c", rate: 0.09 },
    { key: "d", rate: 0.08 },
  ],
  delay: { distribution: "lognormal", meanHours: 12, sigma: 1, attributionWindowHours: 48 },
  traffic: { rounds: 240_000, perHour: 2000 },
  learning: { updateEvery: 2000 },
  checkpoints: 120,
  strategies: [{ type: "thompson" }],
});

const run = (s: typeof email, rep: number, statistics: StatisticsOptions, label: string) =>
  runStrategy(buildEnvironment(s, rep), libraryResolve("thompson"), {}, label, 7, {
    checkpoints: s.checkpoints,
    updateEvery: s.learning.updateEvery,
    statistics,
  });

describe("batched sends with late conversions", () => {
  it.each([0, 1])("delay-aware has the lowest regret and does not swing (repetition %d)", (rep) => {
    const atDecision = run(email, rep, { counting: "at-decision" }, "x");
    const matured = run(email, rep, { counting: "matured-only" }, "x");
    const aware = run(email, rep, { counting: "delay-aware" }, "x");
    expect(aware.totals.regret).toBeLessThan(0.5 * atDecision.totals.regret);
    expect(aware.totals.regret).toBeLessThan(0.5 * matured.totals.regret);
    // Counted at decision, each batch drags the arm it favoured down until its conversions arrive.
    expect(atDecision.totals.oscillation).toBeGreaterThan(3 * aware.totals.oscillation);
    expect(aware.totals.bestShare).toBeGreaterThan(0.9);
    // Matured only: nothing is learned before the first batch's 48 h window closes (uniform until then).
    const early = matured.bestShare.slice(0, 48);
    expect(Math.abs(early.reduce((a, b) => a + b, 0) / 48 - 0.25)).toBeLessThan(0.01);
  });
  it("a declared delay model that is not learned still beats counting at decision", () => {
    const declared = run(email, 0, { conversionDelay: { medianHours: 7.3, p95Hours: 38, learn: false } }, "x");
    const atDecision = run(email, 0, { counting: "at-decision" }, "x");
    expect(declared.totals.regret).toBeLessThan(0.5 * atDecision.totals.regret);
  });
});

describe("decay after a change point", () => {
  const fatigue = parseScenario({
    name: "fatigue-small",
    arms: [
      { key: "hero", rate: 0.05 },
      { key: "fresh", rate: 0.04 },
      { key: "ugc", rate: 0.03 },
    ],
    drift: [{ at: 48_000, rates: { hero: 0.02 } }],
    traffic: { rounds: 120_000, perHour: 1000 },
    learning: { updateEvery: 100 },
    checkpoints: 120,
    strategies: [{ type: "thompson" }],
  });
  it.each([0, 1])("forgetting finds the new best arm sooner (repetition %d)", (rep) => {
    const none = run(fatigue, rep, {}, "x");
    const half = run(fatigue, rep, { decay: { halfLifeHours: 12 } }, "x");
    const win = run(fatigue, rep, { decay: { windowHours: 24 } }, "x");
    expect(half.totals.regret).toBeLessThan(0.75 * none.totals.regret);
    expect(win.totals.regret).toBeLessThan(0.75 * none.totals.regret);
    // Share of "fresh" (the best after hour 48) over hours 60–72.
    const share = (r: typeof none) => r.bestShare.slice(60, 72).reduce((a, b) => a + b, 0) / 12;
    expect(share(half)).toBeGreaterThan(0.5);
    expect(share(half)).toBeGreaterThan(share(none) + 0.2);
  });
});

describe("scenario fields for the statistics", () => {
  const base = { name: "t", arms: [{ key: "a", rate: 0.1 }], traffic: { rounds: 10 }, checkpoints: 2 };
  it.each([
    [{ type: "thompson", counting: "later" }, "strategies.0.counting"],
    [{ type: "thompson", conversionDelay: { medianHours: 10, p95Hours: 5 } }, "strategies.0.conversionDelay.p95Hours"],
    [{ type: "thompson", decay: { halfLifeHours: -1 } }, "strategies.0.decay"],
    [{ type: "thompson", decay: { windowHours: 2.5 } }, "strategies.0.decay"],
  ])("%j is refused naming %s", (spec, path) => {
    try {
      parseScenario({ ...base, strategies: [spec] });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ScenarioError);
      expect((e as ScenarioError).issues.some((i) => i.path.startsWith(path))).toBe(true);
    }
  });
  it("defaults to the service's delay-aware counting", () => {
    const s = parseScenario({ ...base, strategies: [{ type: "thompson" }] });
    expect(s.strategies[0]!.counting).toBe("delay-aware");
  });
});
