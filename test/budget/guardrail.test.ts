/**
 * ROI guardrails: the posterior probability of missing the target (closed form), the allocation and the
 * logged propensities (exact: empirical frequencies match them), and an arm above target CPA losing its
 * traffic on a simulated day.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { allocate, GUARDRAIL_DEFAULTS, judgeArm } from "../../src/budget/guardrail.ts";
import { BudgetLedger, budgetConfig } from "../../src/budget/ledger.ts";
import { chooseWithBudget } from "../../src/budget/serve.ts";
import { jStat } from "../../strategies/jstat.ts";
import { Mulberry32 } from "../../strategies/rng.ts";
import { thompson } from "../../strategies/thompson.ts";
import { runBudget, type BudgetScenario } from "../../simulations/budget.ts";

const params = { ...GUARDRAIL_DEFAULTS, targetCpa: 0.5, minRoas: null };

describe("judgeArm", () => {
  it("P(CPA > target) = I_{c/T}(1 + k, 1 + n − k)", () => {
    const a = { served: 1000, spend: 2, conversions: 2, revenue: 2 };
    const v = judgeArm(a, params);
    expect(v.pCpaAbove).toBeCloseTo(jStat.ibeta(0.004, 3, 999), 12);
    expect(v.pCpaAbove!).toBeGreaterThan(0.5);
    expect(v.pCpaAbove!).toBeLessThan(0.95);
    expect(v.demoted).toBe(false);
    // Ten times the evidence at the same rate: demoted.
    expect(judgeArm({ served: 10000, spend: 20, conversions: 20, revenue: 20 }, params).demoted).toBe(true);
    // A good arm (CPA 0.167) is not.
    expect(judgeArm({ served: 10000, spend: 20, conversions: 120, revenue: 120 }, params).demoted).toBe(false);
    // Too little spend to judge (< 3 target CPAs), however bad it looks.
    expect(judgeArm({ served: 700, spend: 1.4, conversions: 0, revenue: 0 }, params).demoted).toBe(false);
    expect(judgeArm({ served: 800, spend: 1.6, conversions: 0, revenue: 0 }, params).demoted).toBe(true);
  });

  it("minRoas: P(ROAS < m) = I_{m·c/v̄}(1 + k, 1 + n − k)", () => {
    const p = { ...GUARDRAIL_DEFAULTS, targetCpa: null, minRoas: 2 };
    const a = { served: 5000, spend: 10, conversions: 10, revenue: 30 };
    const v = judgeArm(a, p);
    // c = 0.002, v̄ = 3: x = 2 · 0.002 / 3.
    expect(v.pRoasBelow).toBeCloseTo(jStat.ibeta((2 * 0.002) / 3, 11, 4991), 12);
    expect(v.pCpaAbove).toBeNull();
  });
});

describe("allocate", () => {
  it("demoted arms share the exploration traffic evenly, compliant ones the rest by the strategy's pmf", () => {
    const al = allocate([0.5, 0.3, 0.2], [true, true, true], [true, false, false], 0.05);
    expect(al.probs[0]).toBeCloseTo(0.05, 15);
    expect(al.probs[1]).toBeCloseTo(0.95 * 0.6, 15);
    expect(al.probs[2]).toBeCloseTo(0.95 * 0.4, 15);
    expect(al.noServe).toBe(0);
    const none = allocate([0.5, 0.5], [true, true], [true, true], 0.05);
    expect(none.probs[0] + none.probs[1] + none.noServe).toBeCloseTo(1, 15);
    expect(none.noServe).toBeCloseTo(0.95, 15);
    const capped = allocate([0.7, 0.3], [false, true], [false, false], 0.05);
    expect(Array.from(capped.probs)).toEqual([0, 1]);
  });
});

describe("chooseWithBudget", () => {
  it("logs the exact probability of each outcome: frequencies over 40,000 draws match, and they sum to 1", () => {
    const t0 = Date.parse("2026-06-01T00:00:00Z");
    const cfg = budgetConfig(
      {
        currency: "USD",
        totalBudget: null,
        dailyBudget: 1000,
        pacing: { mode: "even" },
        targetCpa: 0.5,
        minRoas: null,
        guardrail: null,
      },
      [],
    );
    const l = new BudgetLedger("c", "UTC", cfg, t0);
    // Arm a: 2,000 served, spend 4, no conversion → demoted. Arms b, c compliant.
    l.committed({
      campaignId: "c",
      armKey: "a",
      day: "2026-06-01",
      hour: Math.floor(t0 / 3_600_000),
      requests: 2000,
      served: 2000,
      decisionCost: 4,
      eventCost: 0,
      conversions: 0,
      revenue: 0,
    });
    l.pacer = { mu: 2 / 3, lastMs: t0, lastSpend: 4, rate: 0, day: "2026-06-01", fromMs: t0, fromSpend: 0 }; // throttle 0.6
    const state = thompson.init(["a", "b", "c"], thompson.parseParams({}), 0);
    thompson.setArmStats(state, 1, { n: 100, sum: 10, sumSq: 10 });
    thompson.setArmStats(state, 2, { n: 100, sum: 8, sumSq: 8 });
    const c = {
      impl: thompson,
      state,
      arms: ["a", "b", "c"].map((key, index) => ({ key, status: "active", index })),
      budget: l,
    };
    const rng = new Mulberry32(5);
    const N = 40_000;
    const counts = new Map<string, number>();
    const props = new Map<string, number>();
    for (let i = 0; i < N; i++) {
      const ch = chooseWithBudget(c, undefined, rng, t0 + 1000);
      const k = ch.arm < 0 ? "none" : String(ch.arm);
      counts.set(k, (counts.get(k) ?? 0) + 1);
      props.set(k, ch.propensity);
    }
    expect([...props.values()].reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
    expect(props.get("none")).toBeCloseTo(0.4, 12);
    expect(props.get("0")).toBeCloseTo(0.6 * 0.05, 12);
    for (const [k, n] of counts) {
      const p = props.get(k)!;
      expect(Math.abs(n / N - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / N));
    }
  });
});

describe("an arm above target CPA loses its traffic (simulated days, same seeds)", () => {
  const s: BudgetScenario = JSON.parse(
    readFileSync(new URL("../../simulations/scenarios/budget/guardrail.json", import.meta.url), "utf8"),
  );
  it("with targetCpa the premium arm (CPA 0.67 > 0.5) keeps ≤ 7 % of the second day; without it, it takes most", () => {
    const withTarget = runBudget(s, "traffic", 0).days[1]!;
    const without = runBudget({ ...s, targetCpa: undefined }, "traffic", 0).days[1]!;
    const premiumShare = (d: typeof withTarget) => {
      // premium costs 0.006, cheap 0.002: served = Σ served, spend = Σ cost·served.
      const served = d.hours.reduce((x, h) => x + h.served, 0);
      const premium = (d.spend - 0.002 * served) / (0.006 - 0.002);
      return premium / served;
    };
    expect(premiumShare(withTarget)).toBeLessThanOrEqual(0.07);
    expect(premiumShare(without)).toBeGreaterThan(0.5);
    expect(withTarget.cpa!).toBeLessThan(s.targetCpa!);
    expect(without.cpa!).toBeGreaterThan(s.targetCpa!);
  });
});
