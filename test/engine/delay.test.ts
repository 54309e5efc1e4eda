import { describe, expect, it } from "vitest";
import {
  addDelay,
  binMasses,
  DELAY_BIN_EDGES,
  DELAY_BINS,
  delayBin,
  delayCdf,
  delayLogLik,
  delayQuantiles,
  emptyDelayCounts,
  learnDelay,
  matureDelays,
  meanCdf,
  observedMass,
  priorDelay,
  type DelayCounts,
} from "../../src/engine/delay.ts";
import { Mulberry32 } from "../../strategies/rng.ts";
import { normal } from "../../simulations/random.ts";

/** Simpson's rule, for closed forms to be checked against. */
function simpson(f: (t: number) => number, a: number, b: number, n = 20_000): number {
  const h = (b - a) / n;
  let s = f(a) + f(b);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(a + i * h);
  return (s * h) / 3;
}

describe("prior", () => {
  it("declared median and p95 round-trip", () => {
    const m = priorDelay(48, { medianHours: 12, p95Hours: 40 });
    expect(m.source).toBe("declared");
    const q = delayQuantiles(m);
    expect(q.medianHours).toBeCloseTo(12, 10);
    expect(q.p95Hours).toBeCloseTo(40, 10);
  });
  it("default from the window: median W/10, p95 W/2", () => {
    const m = priorDelay(168);
    expect(m.source).toBe("default");
    expect(delayQuantiles(m).medianHours).toBeCloseTo(16.8, 10);
    expect(delayQuantiles(m).p95Hours).toBeCloseTo(84, 10);
  });
  it("refuses p95 ≤ median", () => {
    expect(() => priorDelay(48, { medianHours: 10, p95Hours: 10 })).toThrow(/medianHours < p95Hours/);
    expect(() => priorDelay(48, { medianHours: -1 })).toThrow();
  });
});

describe("F, truncated at the window", () => {
  const m = priorDelay(48, { medianHours: 12, p95Hours: 40 });
  const lnPhi = (t: number) => 0.5 * (1 + erf((Math.log(t) - m.mu) / (m.sigma * Math.SQRT2)));
  it("F(median) = ½ / Φ((ln W − μ)/σ); F(W) = 1; F(0) = 0; monotone", () => {
    expect(delayCdf(m, 12)).toBeCloseTo(0.5 / lnPhi(48), 6);
    expect(delayCdf(m, 48)).toBe(1);
    expect(delayCdf(m, 100)).toBe(1);
    expect(delayCdf(m, 0)).toBe(0);
    let prev = 0;
    for (let t = 0.1; t < 48; t += 0.7) {
      expect(delayCdf(m, t)).toBeGreaterThanOrEqual(prev);
      prev = delayCdf(m, t);
    }
  });
  it.each([
    [0, 1],
    [3, 4],
    [0, 0.25],
    [47.5, 48.5],
    [20, 60],
    [50, 51],
  ])("mean of F over [%d, %d] matches numerical integration", (a0, a1) => {
    const num = simpson((t) => delayCdf(m, t), a0, a1) / (a1 - a0);
    expect(meanCdf(m, a0, a1)).toBeCloseTo(num, 5);
  });
  it("observed mass over all bins sums to the mean of F (a cohort's normaliser)", () => {
    for (const [a0, a1] of [
      [0, 0.4],
      [5, 6],
      [30, 31],
      [60, 61],
    ]) {
      let s = 0;
      for (let j = 0; j < DELAY_BINS; j++)
        s += observedMass(m, DELAY_BIN_EDGES[j]!, DELAY_BIN_EDGES[j + 1] ?? Infinity, a0!, a1!);
      expect(s).toBeCloseTo(meanCdf(m, a0!, a1!), 10);
    }
  });
  it("bins: 1 minute · 2^(k/2), monotone, a year fits", () => {
    expect(delayBin(0)).toBe(0);
    expect(delayBin(1 / 120)).toBe(0);
    expect(delayBin(1 / 60)).toBe(1);
    expect(delayBin(12)).toBeGreaterThan(delayBin(6));
    expect(DELAY_BIN_EDGES[DELAY_BINS - 1]).toBeGreaterThan(24 * 366);
    for (const h of [0.02, 0.5, 1, 3.3, 12, 47, 500]) {
      const j = delayBin(h);
      expect(DELAY_BIN_EDGES[j]).toBeLessThanOrEqual(h * (1 + 1e-9));
      expect(DELAY_BIN_EDGES[j + 1]).toBeGreaterThan(h);
    }
  });
});

/**
 * A seeded synthetic truth: lognormal delays with mean 12 h (σ = 1), 48 h window; `perHour` decisions an hour
 * for `hours` hours, each converting with probability p; what has been observed at `now` = hours.
 */
function observe(seed: number, hours: number, perHour = 500, p = 0.2, mature = true) {
  const rng = new Mulberry32(seed);
  const sigma = 1;
  const mu = Math.log(12) - sigma ** 2 / 2;
  const counts = emptyDelayCounts();
  const naive = emptyDelayCounts();
  for (let h = 0; h < hours; h++)
    for (let i = 0; i < perHour; i++) {
      const t = h + rng.next();
      if (rng.next() >= p) continue;
      const d = Math.exp(mu + sigma * normal(rng));
      if (d > 48 || t + d > hours) continue;
      addDelay(counts, h, d);
      naive.matured[delayBin(d)]++;
    }
  if (mature) matureDelays(counts, hours, 48);
  return { counts, naive, truth: { mu, sigma } };
}

describe("learning from censored delays", () => {
  const prior = priorDelay(48, { medianHours: 2, p95Hours: 6 }); // deliberately wrong
  it.each([1, 2, 3, 4, 5])("recovers the truth 30 h into a campaign (nothing matured), seed %d", (seed) => {
    const { counts, naive, truth } = observe(seed, 30);
    expect(counts.matured.every((c) => c === 0)).toBe(true);
    const fit = learnDelay(prior, counts, 30);
    expect(fit.source).toBe("learned");
    const med = Math.exp(truth.mu);
    expect(Math.abs(delayQuantiles(fit).medianHours / med - 1)).toBeLessThan(0.12);
    expect(Math.abs(fit.sigma / truth.sigma - 1)).toBeLessThan(0.15);
    // Ignoring the censoring (every observed delay as if its cohort were complete) is biased short.
    const biased = learnDelay(prior, naive, 30);
    expect(delayQuantiles(biased).medianHours / med).toBeLessThan(0.8);
  });
  it("after 200 h (most cohorts matured) it agrees with the truth closely", () => {
    const { counts, truth } = observe(9, 200, 200);
    expect(counts.cohorts.size).toBeLessThanOrEqual(50);
    const fit = learnDelay(prior, counts, 200);
    expect(Math.abs(fit.mu - truth.mu)).toBeLessThan(0.06);
    expect(Math.abs(fit.sigma / truth.sigma - 1)).toBeLessThan(0.06);
  });
  it("learn: false keeps the prior; no delays keeps the prior", () => {
    const { counts } = observe(1, 30);
    expect(learnDelay(prior, counts, 30, false)).toEqual(prior);
    expect(learnDelay(prior, emptyDelayCounts(), 30)).toEqual(prior);
  });
  it("few delays stay near the prior (the prior weighs 20 pseudo-observations)", () => {
    const c: DelayCounts = emptyDelayCounts();
    addDelay(c, 0, 30);
    const fit = learnDelay(prior, c, 100);
    expect(Math.abs(fit.mu - prior.mu)).toBeLessThan(Math.abs(Math.log(30) - prior.mu) / 2);
  });
  it("maturing a cohort leaves the likelihood unchanged (it is complete either way)", () => {
    const { counts } = observe(3, 60, 100, 0.2, false);
    const cohorts = counts.cohorts.size;
    const before = delayLogLik(1.8, 0.9, 48, counts, 60, { weights: binMasses(prior) });
    matureDelays(counts, 60, 48);
    // Cohorts 0..11 are complete at 60 h (h + 1 + 48 ≤ 60).
    expect(cohorts - counts.cohorts.size).toBe(12);
    expect(delayLogLik(1.8, 0.9, 48, counts, 60, { weights: binMasses(prior) })).toBeCloseTo(before, 8);
  });
  it("the likelihood is the one the public curves give, bin by bin and cohort by cohort", () => {
    // delayLogLik evaluates F and ∫F once per edge and cohort age (it runs hundreds of times per refit);
    // this rebuilds it from delayCdf, observedMass and meanCdf, as the header states it.
    const { counts } = observe(3, 60, 100, 0.2, false);
    const w = { weights: binMasses(prior) };
    for (const [mu, sigma, W] of [
      [1.8, 0.9, 48],
      [-4, 3.9, 168],
      [0.5, 0.3, 24],
    ] as const) {
      const m = { mu, sigma, windowHours: W };
      const edge = (j: number) => (j < DELAY_BIN_EDGES.length ? DELAY_BIN_EDGES[j]! : Infinity);
      const mass = (j: number) => (j + 1 < DELAY_BINS ? delayCdf(m, edge(j + 1)) : 1) - delayCdf(m, edge(j));
      let ll = 0;
      const add = (n: number, p: number) => {
        if (n !== 0) ll += p > 0 ? n * Math.log(p) : n > 0 ? -Infinity : 0;
      };
      for (let j = 0; j < DELAY_BINS; j++) {
        add(counts.matured[j]!, mass(j));
        add(w.weights[j]!, mass(j));
      }
      for (const [h, hist] of counts.cohorts) {
        const a0 = Math.max(0, 60 - h - 1);
        const a1 = 60 - h;
        if (a1 <= 0) continue;
        let total = 0;
        for (let j = 0; j < DELAY_BINS; j++) {
          if (hist[j] === 0) continue;
          total += hist[j]!;
          add(hist[j]!, Math.max(1e-300, observedMass(m, edge(j), edge(j + 1), a0, a1)));
        }
        if (total > 0) add(-total, meanCdf(m, a0, a1));
      }
      expect(delayLogLik(mu, sigma, W, counts, 60, w)).toBe(ll);
    }
  });
  it("is deterministic (replicas agree)", () => {
    const { counts } = observe(4, 30);
    expect(learnDelay(prior, counts, 30)).toEqual(learnDelay(prior, counts, 30));
  });
});

/** erf by its Maclaurin series (|x| ≤ 3 here): an independent check of the CDF. */
function erf(x: number): number {
  let s = 0;
  let term = x;
  for (let n = 0; n < 200; n++) {
    s += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * s;
}
