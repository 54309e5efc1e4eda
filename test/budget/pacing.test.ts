/**
 * Pacing: the plan (even, traffic-shaped, DST days) and the controller on simulated days of day-part
 * traffic, through the simulator that runs the service's own budget code (simulations/budget.ts).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { budgetDay } from "../../src/budget/day.ts";
import { initialPacer, PACING_DEFAULTS, planDay, planShare, stepPacer, throttleOf } from "../../src/budget/pacing.ts";
import { HOURLY_BAND, runBudget, type BudgetScenario } from "../../simulations/budget.ts";

const scenario = (): BudgetScenario =>
  JSON.parse(readFileSync(new URL("../../simulations/scenarios/budget/daypart.json", import.meta.url), "utf8"));

describe("the budget day and the plan", () => {
  it("a day in the workspace's time zone, 23 h on the spring DST change", () => {
    const d = budgetDay("Europe/Paris", Date.parse("2026-03-29T12:00:00Z"));
    expect(d.day).toBe("2026-03-29");
    expect(new Date(d.startMs).toISOString()).toBe("2026-03-28T23:00:00.000Z");
    expect((d.endMs - d.startMs) / 3_600_000).toBe(23);
    const k = budgetDay("Asia/Kolkata", Date.parse("2026-06-01T20:00:00Z"));
    expect(k.day).toBe("2026-06-02");
    expect(new Date(k.startMs).toISOString()).toBe("2026-06-01T18:30:00.000Z");
  });

  it("even: W is elapsed time; traffic: W follows the request curve; shares sum to 1", () => {
    const noon = Date.parse("2026-06-01T12:00:00Z");
    const even = planDay("UTC", noon, "even");
    expect(even.segments).toHaveLength(24);
    expect(even.segments.reduce((s, x) => s + x.share, 0)).toBeCloseTo(1, 12);
    expect(planShare(even, noon)).toBeCloseTo(0.5, 12);
    const hourly = new Array(24).fill(0);
    hourly[18] = 300;
    hourly[19] = 100;
    const traffic = planDay("UTC", noon, "traffic", hourly);
    // 5 % floor per hour: 400 · 0.05 / 24 for the 22 silent hours.
    const floor = (400 * 0.05) / 24;
    const total = 400 + 22 * floor;
    expect(planShare(traffic, Date.parse("2026-06-01T18:00:00Z"))).toBeCloseTo((18 * floor) / total, 12);
    expect(planShare(traffic, Date.parse("2026-06-01T19:00:00Z"))).toBeCloseTo((18 * floor + 300) / total, 12);
  });
});

describe("the controller", () => {
  const plan = planDay("UTC", Date.parse("2026-06-01T00:00:00Z"), "even");
  const p = { mode: "even" as const, ...PACING_DEFAULTS };
  it("throttles when spend runs ahead of the plan and opens again when behind", () => {
    let s = initialPacer(plan.day.startMs, plan.day.day, 0);
    // 10 min at 3× the even rate (B = 144: even = 0.1 per minute).
    let spend = 0;
    for (let m = 1; m <= 10; m++) {
      spend += 0.3 * throttleOf(s, p);
      s = stepPacer(s, { nowMs: plan.day.startMs + m * 60_000, spendToday: spend, dailyBudget: 144, plan }, p);
    }
    expect(s.mu).toBeGreaterThan(0.5);
    const throttled = throttleOf(s, p);
    expect(throttled).toBeLessThan(0.7);
    // Then no spend at all for 10 minutes: μ falls, the throttle rises.
    for (let m = 11; m <= 20; m++)
      s = stepPacer(s, { nowMs: plan.day.startMs + m * 60_000, spendToday: spend, dailyBudget: 144, plan }, p);
    expect(throttleOf(s, p)).toBeGreaterThan(throttled);
    // Pure: the same inputs give the same state; a step before the interval changes nothing.
    const again = stepPacer(s, { nowMs: s.lastMs + 1000, spendToday: spend + 5, dailyBudget: 144, plan }, p);
    expect(again).toBe(s);
  });
});

describe("a simulated day of day-part traffic (same seeds for every mode)", () => {
  const s = scenario();
  it(`traffic-shaped pacing keeps every hour within ${HOURLY_BAND.relative * 100} % of its plan + ${HOURLY_BAND.ofBudget * 100} % of the budget, and spends ≥ 97 % without overspending`, () => {
    for (const rep of [0, 1]) {
      const day = runBudget(s, "traffic", rep).days[2]!;
      for (const h of day.hours)
        expect(Math.abs(h.actual - h.planned)).toBeLessThanOrEqual(
          HOURLY_BAND.relative * h.planned + HOURLY_BAND.ofBudget * s.dailyBudget,
        );
      expect(day.violations).toBe(0);
      expect(day.spend).toBeGreaterThanOrEqual(0.97 * s.dailyBudget);
      expect(day.spend).toBeLessThanOrEqual(s.dailyBudget + Math.max(...s.arms.map((a) => a.cost)));
    }
  });

  it("without pacing the budget runs out before the evening peak; paced budgets last the day, even pacing misses the curve", () => {
    const none = runBudget(s, "none", 0).days[2]!;
    const even = runBudget(s, "even", 0).days[2]!;
    const traffic = runBudget(s, "traffic", 0).days[2]!;
    expect(none.exhaustedAtHour).not.toBeNull();
    expect(none.exhaustedAtHour!).toBeLessThan(20);
    // Paced days last the day: if the budget runs out at all, it is in the day's last quarter hour.
    for (const d of [even, traffic]) if (d.exhaustedAtHour !== null) expect(d.exhaustedAtHour).toBeGreaterThan(23.75);
    expect(traffic.trackingError).toBeLessThan(even.trackingError / 5);
    expect(even.trackingError).toBeLessThan(none.trackingError);
  });
});
