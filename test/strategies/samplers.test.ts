import { describe, expect, it } from "vitest";
import { Mulberry32, Xoshiro128 } from "../../strategies/rng.ts";
import { beta, gamma, normal } from "../../strategies/samplers.ts";
import { jStat } from "../../strategies/jstat.ts";
import { ksCritical, ksStatistic } from "./helpers.ts";

// Kolmogorov–Smirnov at α = 1e-4 over 4000 draws: a correct sampler fails one case in 10,000.
const N = 4000;
const ALPHA = 1e-4;

describe("samplers vs jstat CDFs (Kolmogorov–Smirnov, α = 1e-4)", () => {
  it("normal", () => {
    const rng = new Xoshiro128(11);
    const xs = Array.from({ length: N }, () => normal(rng));
    expect(ksStatistic(xs, (x) => jStat.normal.cdf(x, 0, 1))).toBeLessThan(ksCritical(N, ALPHA));
  });

  it("normal (ziggurat) on Mulberry32 too, and its tail beyond x_127 = 3.4426: frequency and conditional law", () => {
    const rng = new Mulberry32(2024);
    const xs = Array.from({ length: N }, () => normal(rng));
    expect(ksStatistic(xs, (x) => jStat.normal.cdf(x, 0, 1))).toBeLessThan(ksCritical(N, ALPHA));
    // The tail (strip 0 beyond ZR) and the wedges are the rare paths: 400,000 draws give ≈ 230 tail points.
    const R = 3.442619855899;
    const n = 400_000;
    const tail: number[] = [];
    let neg = 0;
    for (let i = 0; i < n; i++) {
      const z = normal(rng);
      if (Math.abs(z) > R) {
        tail.push(Math.abs(z));
        if (z < 0) neg++;
      }
    }
    const pTail = 2 * (1 - jStat.normal.cdf(R, 0, 1));
    expect(Math.abs(tail.length - n * pTail)).toBeLessThan(4 * Math.sqrt(n * pTail)); // |z| < 4: α ≈ 6e-5
    expect(Math.abs(neg - tail.length / 2)).toBeLessThan(4 * Math.sqrt(tail.length / 4));
    const q = 1 - jStat.normal.cdf(R, 0, 1);
    expect(ksStatistic(tail, (t) => (jStat.normal.cdf(t, 0, 1) - jStat.normal.cdf(R, 0, 1)) / q)).toBeLessThan(
      ksCritical(tail.length, ALPHA),
    );
    // A wedge-heavy window: the top strip [0, 0.2723] is all wedge (no sure-accept part).
    const top = xs.filter((x) => Math.abs(x) < 0.2723).length;
    const pTop = 2 * (jStat.normal.cdf(0.2723, 0, 1) - 0.5);
    expect(Math.abs(top - N * pTop)).toBeLessThan(4 * Math.sqrt(N * pTop * (1 - pTop)));
  });

  it.each([0.05, 0.3, 0.9, 1, 2.5, 40])("gamma(shape %s)", (k) => {
    const rng = new Mulberry32(1000 + Math.round(k * 100));
    const xs = Array.from({ length: N }, () => gamma(rng, k));
    expect(xs.every((x) => x >= 0 && Number.isFinite(x))).toBe(true);
    expect(ksStatistic(xs, (x) => jStat.gamma.cdf(x, k, 1))).toBeLessThan(ksCritical(N, ALPHA));
  });

  it.each([
    [0.5, 0.5],
    [0.2, 3],
    [1, 1],
    [2, 8],
    [30, 970],
    [5000, 95000],
  ])("beta(%s, %s)", (a, b) => {
    const rng = new Xoshiro128(Math.round(a * 7 + b * 13));
    const xs = Array.from({ length: N }, () => beta(rng, a, b));
    expect(xs.every((x) => x >= 0 && x <= 1)).toBe(true);
    expect(ksStatistic(xs, (x) => jStat.ibeta(x, a, b))).toBeLessThan(ksCritical(N, ALPHA));
  });

  it("moments of gamma(0.1): mean and variance equal the shape (tolerance 5 standard errors)", () => {
    const rng = new Xoshiro128(5);
    const n = 20000;
    const xs = Array.from({ length: n }, () => gamma(rng, 0.1));
    const mean = xs.reduce((s, x) => s + x, 0) / n;
    // sd of the mean = sqrt(0.1 / n)
    expect(Math.abs(mean - 0.1)).toBeLessThan(5 * Math.sqrt(0.1 / n));
  });

  it("same seed, same draws; the generators match the shared test vectors", () => {
    const a = new Mulberry32(1001);
    expect([a.nextU32(), a.nextU32(), a.nextU32()]).toEqual([606341916, 1148489751, 477154826]);
    const r1 = new Xoshiro128(3);
    const r2 = new Xoshiro128(3);
    expect(Array.from({ length: 5 }, () => beta(r1, 2, 3))).toEqual(Array.from({ length: 5 }, () => beta(r2, 2, 3)));
  });
});
