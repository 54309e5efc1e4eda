import { describe, expect, it } from "vitest";
import { Mulberry32 } from "../../strategies/rng.ts";
import {
  aggregateUnits,
  metrics,
  ratioInterval,
  rateInterval,
  sumAggregates,
  type Unit,
} from "../../src/reports/roi.ts";
import { bestArmAnalysis, betaPosterior, ipsLift, ipsSums, normalPosterior } from "../../src/reports/bandit.ts";
import { betaQuantile, binomialUpperTail, poissonUpperTail, sampleBeta, sampleGamma } from "../../src/reports/stats.ts";
import { createRequire } from "node:module";

const jStat = createRequire(import.meta.url)("jstat") as { beta: { cdf(x: number, a: number, b: number): number } };

describe("rate intervals", () => {
  it("Jeffreys 3/10 matches Brown, Cai & DasGupta (0.0927, 0.6058)", () => {
    const e = rateInterval(3, 10);
    expect(e.estimate).toBe(0.3);
    expect(e.lower).toBeCloseTo(0.0927, 4);
    expect(e.upper).toBeCloseTo(0.6058, 4);
  });
  it("Clopper–Pearson 3/10 is (0.0667, 0.6525)", () => {
    const e = rateInterval(3, 10, 0.95, "clopper-pearson");
    expect(e.lower).toBeCloseTo(0.0667, 4);
    expect(e.upper).toBeCloseTo(0.6525, 4);
  });
  it.each([
    [0, 10, 0, "upper"],
    [10, 10, 1, "lower"],
  ] as const)("end fix for %i/%i", (k, n, end, other) => {
    const e = rateInterval(k, n);
    expect(k === 0 ? e.lower : e.upper).toBe(end);
    expect(e[other]).toBeGreaterThan(0);
    expect(e[other]).toBeLessThan(1);
  });
  it("no trials gives no estimate; more successes than trials is clamped", () => {
    expect(rateInterval(0, 0)).toEqual({ estimate: null, lower: null, upper: null });
    expect(rateInterval(12, 10).estimate).toBe(1);
  });
});

describe("ratio (delta method)", () => {
  // Units (R, C): (10,5), (0,5), (20,10): r = 30/20 = 1.5; residuals 2.5, −7.5, 5 → Σ² = 87.5;
  // V = 3/2 · 87.5 / 20² = 0.328125, se = 0.5728220; half width 1.959964 · se = 1.1227079.
  it("matches the hand computation", () => {
    const e = ratioInterval(3, 30, 20, 100 + 0 + 400, 25 + 25 + 100, 50 + 0 + 200);
    expect(e.estimate).toBe(1.5);
    expect(e.lower).toBeCloseTo(1.5 - 1.1227079, 5);
    expect(e.upper).toBeCloseTo(1.5 + 1.1227079, 5);
  });
  // Units (R, C): (30, 1), (0, 1): r = 15; residuals 15, −15 → Σ² = 450; V = 2 · 450 / 4 = 225, se = 15;
  // the normal interval 15 ± 29.4 would go below 0, which no ratio of non-negative sums can.
  it("is cut at 0 where the normal interval would go negative", () => {
    const e = ratioInterval(2, 30, 2, 900, 2, 30);
    expect(e.estimate).toBe(15);
    expect(e.lower).toBe(0);
    expect(e.upper).toBeCloseTo(15 + 1.959964 * 15, 4);
  });
  it("zero denominator gives nothing; one unit gives only the point", () => {
    expect(ratioInterval(3, 5, 0, 1, 0, 0).estimate).toBeNull();
    expect(ratioInterval(1, 5, 2, 25, 4, 10)).toEqual({ estimate: 2.5, lower: null, upper: null });
  });
});

describe("metrics from units", () => {
  const units: Unit[] = [
    { decision: true, impressions: 1, clicks: 1, conversions: 1, revenue: 10, cost: 5 },
    { decision: true, impressions: 1, clicks: 1, conversions: 0, revenue: 0, cost: 5 },
    { decision: true, impressions: 2, clicks: 1, conversions: 2, revenue: 20, cost: 10 },
    { decision: true, impressions: 0, clicks: 0, conversions: 0, revenue: 0, cost: 0 },
  ];
  const a = aggregateUnits(units);
  it("counts and money", () => {
    expect(a).toMatchObject({
      decisions: 4,
      units: 3,
      impressions: 4,
      clicks: 3,
      conversions: 3,
      revenue: 30,
      cost: 20,
    });
    const m = metrics(a);
    expect(m.profit).toBe(10);
    expect(m.roas.estimate).toBe(1.5);
    expect(m.roi.estimate).toBeCloseTo(0.5, 12);
    expect(m.roi.lower).toBeCloseTo(0.5 - 1.1227079, 5);
    // CPA = 20 / 3; residuals C − r K: 5 − 20/3, 5, 10 − 40/3 → Σ² = 25/9 + 25 + 100/9 = 350/9
    const cpaSe = Math.sqrt(1.5 * (350 / 9)) / 3;
    expect(m.cpa.estimate).toBeCloseTo(20 / 3, 12);
    expect(m.cpa.upper).toBeCloseTo(20 / 3 + 1.959964 * cpaSe, 5);
    expect(m.ctr.estimate).toBe(0.75);
    expect(m.conversionRate.estimate).toBe(1);
  });
  it("aggregates add: the sum of parts equals the whole", () => {
    const parts = sumAggregates([aggregateUnits(units.slice(0, 2)), aggregateUnits(units.slice(2))]);
    expect(parts).toEqual(a);
  });
});

describe("IPS lift", () => {
  // K = 2; (p, r): (0.5,1), (0.8,1), (0.2,0), (0.8,0) → weights r/(Kp) = 1, 0.625, 0, 0
  // even = 1.625/4 = 0.40625, actual = 0.5, lift = 0.09375; d = 0, 0.375, 0, 0 → s² = 0.03515625, se = 0.09375
  it("matches the hand computation", () => {
    const s = ipsSums([
      { propensity: 0.5, reward: 1, activeArms: 2 },
      { propensity: 0.8, reward: 1, activeArms: 2 },
      { propensity: 0.2, reward: 0, activeArms: 2 },
      { propensity: 0.8, reward: 0, activeArms: 2 },
    ]);
    const l = ipsLift(s);
    expect(l.actualValue).toBe(0.5);
    expect(l.evenSplitValue).toBeCloseTo(0.40625, 12);
    expect(l.liftPerDecision.estimate).toBeCloseTo(0.09375, 12);
    expect(l.liftPerDecision.lower).toBeCloseTo(0.09375 - 1.959964 * 0.09375, 5);
    expect(l.liftTotal.estimate).toBeCloseTo(0.375, 12);
    expect(l.relativeLift).toBeCloseTo(0.5 / 0.40625 - 1, 12);
  });
  it("an even split logged evenly has zero lift, exactly", () => {
    const l = ipsLift(ipsSums([1, 0, 1, 1, 0].map((r) => ({ propensity: 1 / 3, reward: r, activeArms: 3 }))));
    expect(l.liftPerDecision.estimate).toBeCloseTo(0, 12);
  });
  it("empty log gives nulls", () => {
    expect(ipsLift(ipsSums([])).actualValue).toBeNull();
  });
  it("an unbiased estimate: on a simulated bandit log the interval covers the true lift", () => {
    const rng = new Mulberry32(7);
    const mu = [0.02, 0.05];
    const rows = [];
    for (let t = 0; t < 40_000; t++) {
      const p1 = 0.8; // favours the better arm
      const arm = rng.next() < p1 ? 1 : 0;
      rows.push({ propensity: arm === 1 ? p1 : 1 - p1, reward: rng.next() < mu[arm] ? 1 : 0, activeArms: 2 });
    }
    const trueLift = 0.8 * 0.05 + 0.2 * 0.02 - (0.05 + 0.02) / 2;
    const l = ipsLift(ipsSums(rows));
    expect(l.liftPerDecision.lower!).toBeLessThan(trueLift);
    expect(l.liftPerDecision.upper!).toBeGreaterThan(trueLift);
    expect(l.liftPerDecision.lower!).toBeGreaterThan(0);
  });
});

/** Exact P(X > Y), X ~ Beta(a1,b1), Y ~ Beta(a2,b2), integer a2 (Evan Miller's closed form). */
function probGreater(a1: number, b1: number, a2: number, b2: number): number {
  const lbeta = (x: number, y: number) => lgamma(x) + lgamma(y) - lgamma(x + y);
  let s = 0;
  for (let i = 0; i < a2; i++)
    s += Math.exp(lbeta(a1 + i, b1 + b2) - Math.log(b2 + i) - lbeta(1 + i, b2) - lbeta(a1, b1));
  return 1 - s;
}
function lgamma(x: number): number {
  // Lanczos (g = 7, n = 9)
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lgamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

describe("P(best) and expected loss", () => {
  it("two Beta arms: P(best) agrees with the closed form within 4 MC standard errors", () => {
    const [a1, b1, a2, b2] = [13, 90, 8, 95];
    const exact = probGreater(a1, b1, a2, b2); // P(θ0 > θ1) = P(arm 0 best)
    expect(exact + probGreater(a2, b2, a1, b1)).toBeCloseTo(1, 10); // the closed form is consistent both ways
    const r = bestArmAnalysis(
      [
        { kind: "beta", a: a1, b: b1 },
        { kind: "beta", a: a2, b: b2 },
      ],
      [100, 100],
      new Mulberry32(3),
      20_000,
    );
    const se = Math.sqrt((exact * (1 - exact)) / 20_000);
    expect(Math.abs(r.probabilityBest[0] - exact)).toBeLessThan(4 * se);
    expect(r.probabilityBest[0] + r.probabilityBest[1]).toBeCloseTo(1, 12);
  });
  it("expected loss: two normals, closed form E[(Y − X)⁺] = σ φ(δ/σ) + δ Φ(δ/σ)", () => {
    const r = bestArmAnalysis(
      [
        { kind: "normal", mean: 1, sd: 0.3 },
        { kind: "normal", mean: 1.2, sd: 0.4 },
      ],
      [10, 30],
      new Mulberry32(5),
      40_000,
    );
    const s = 0.5;
    const d = 0.2;
    const phi = Math.exp(-0.5 * (d / s) ** 2) / Math.sqrt(2 * Math.PI);
    const Phi = 0.6554217416103242; // Φ(0.4)
    const loss0 = s * phi + d * Phi;
    expect(r.expectedLoss[0]).toBeCloseTo(loss0, 2);
    expect(r.expectedLoss[1]).toBeCloseTo(loss0 - d, 2);
    expect(r.probabilityBest[1]).toBeCloseTo(Phi, 2);
    expect(r.regret.estimate!).toBeCloseTo(10 * r.expectedLoss[0] + 30 * r.expectedLoss[1], 8);
    expect(r.regret.lower!).toBeLessThanOrEqual(r.regret.estimate!);
  });
  it("edge cases: no arms, one arm", () => {
    expect(bestArmAnalysis([], [], new Mulberry32(1)).probabilityBest).toEqual([]);
    const one = bestArmAnalysis([betaPosterior(3, 10)], [10], new Mulberry32(1), 100);
    expect(one.probabilityBest).toEqual([1]);
    expect(one.expectedLoss).toEqual([0]);
  });
  it("posteriors from sums", () => {
    expect(betaPosterior(3, 10)).toEqual({ kind: "beta", a: 4, b: 8 });
    const p = normalPosterior(4, 10, 30); // mean 2.5, s² = (30 − 25)/3
    expect(p).toEqual({ kind: "normal", mean: 2.5, sd: Math.sqrt(5 / 3 / 4) });
  });
});

describe("samplers and tails", () => {
  it("Beta sampler passes a KS test at α = 1e-4", () => {
    const rng = new Mulberry32(11);
    for (const [a, b] of [
      [2, 5],
      [0.5, 0.5],
      [30, 900],
    ]) {
      const n = 4000;
      const xs = Array.from({ length: n }, () => sampleBeta(a, b, rng)).sort((x, y) => x - y);
      let d = 0;
      xs.forEach((x, i) => {
        const f = jStat.beta.cdf(x, a, b);
        d = Math.max(d, Math.abs(f - i / n), Math.abs(f - (i + 1) / n));
      });
      expect(d).toBeLessThan(Math.sqrt(-Math.log(1e-4 / 2) / (2 * n)));
    }
  });
  it("gamma sampler mean and variance", () => {
    const rng = new Mulberry32(12);
    const xs = Array.from({ length: 20_000 }, () => sampleGamma(3, rng));
    const m = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(m - 3)).toBeLessThan(4 * Math.sqrt(3 / xs.length));
  });
  it("tails against small sums", () => {
    // P(X ≥ 2 | Poisson(1)) = 1 − e⁻¹(1 + 1)
    expect(poissonUpperTail(2, 1)).toBeCloseTo(1 - 2 * Math.exp(-1), 12);
    // P(X ≥ 9 | Bin(10, 0.5)) = 11/1024
    expect(binomialUpperTail(9, 10, 0.5)).toBeCloseTo(11 / 1024, 12);
    expect(betaQuantile(0.5, 1, 1)).toBeCloseTo(0.5, 10);
  });
});
