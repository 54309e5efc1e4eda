import { describe, expect, it } from "vitest";
import {
  addReward,
  addTrial,
  bucketHours,
  bucketWeigher,
  compactArm,
  emptyArmBuckets,
  foldArm,
  type ArmBuckets,
  type FoldOptions,
} from "../../src/engine/buckets.ts";
import { checkDecay, decayWeight, type DecaySpec } from "../../src/engine/decay.ts";
import { meanCdf, priorDelay } from "../../src/engine/delay.ts";
import { addOuter } from "../../src/engine/stats.ts";
import { thompson } from "../../strategies/thompson.ts";
import { gaussianThompson, posterior } from "../../strategies/gaussian_thompson.ts";
import { Mulberry32 } from "../../strategies/rng.ts";
import type { ArmStats } from "../../strategies/types.ts";

const delay = priorDelay(48, { medianHours: 12, p95Hours: 40 });
const H0 = 490_000; // an hour since the epoch (Nov 2025)
const opts = (counting: FoldOptions["counting"], decay?: DecaySpec): FoldOptions => ({ counting, delay, decay });
const fold = (arm: ArmBuckets, now: number, o: FoldOptions, dim = 0) => foldArm(arm, bucketWeigher(now, o), dim);
const trial = (r = 0): ArmStats => ({ n: 1, sum: r, sumSq: r * r });
const conv = (dr: number, first = true): ArmStats => ({ n: first ? 1 : 0, sum: dr, sumSq: dr * dr });

describe("decay weights", () => {
  it("half-life: 2^(−age/H) by whole hours; window: the N most recent buckets; none: 1", () => {
    expect(decayWeight({ halfLifeHours: 24 }, 24)).toBe(0.5);
    expect(decayWeight({ halfLifeHours: 24 }, 0)).toBe(1);
    expect(decayWeight({ windowHours: 3 }, 2)).toBe(1);
    expect(decayWeight({ windowHours: 3 }, 3)).toBe(0);
    expect(decayWeight(undefined, 1e6)).toBe(1);
    expect(decayWeight({ halfLifeHours: 5 }, -3)).toBe(1);
  });
  it.each([
    [{ halfLifeHours: 0 }, /halfLifeHours/],
    [{ windowHours: 1.5 }, /windowHours/],
    [{ halfLifeHours: 1, windowHours: 2 } as unknown as DecaySpec, /give halfLifeHours or windowHours/],
  ])("refuses %j", (spec, msg) => expect(() => checkDecay(spec as DecaySpec)).toThrow(msg));
});

describe("fold", () => {
  it("at-decision without decay = plain totals of both parts (conversions not counted as trials)", () => {
    const arm = emptyArmBuckets(0);
    for (let h = 0; h < 5; h++) for (let i = 0; i < 10; i++) addTrial(arm, H0 + h, trial(-0.5), 0);
    addReward(arm, H0 + 1, conv(3), 0);
    addReward(arm, H0 + 1, conv(2, false), 0);
    const s = fold(arm, H0 + 5.5, opts("at-decision"));
    expect(s.n).toBe(50);
    expect(s.sum).toBeCloseTo(-25 + 5, 12);
    expect(s.sumSq).toBeCloseTo(12.5 + 9 + 4, 12);
  });
  it("delay-aware: a bucket weighs the mean of F over its decisions' ages; conversions count fully", () => {
    const arm = emptyArmBuckets(0);
    for (let i = 0; i < 1000; i++) addTrial(arm, H0, trial(), 0);
    for (let i = 0; i < 5; i++) addReward(arm, H0, conv(1), 0);
    const now = H0 + 6.25;
    const s = fold(arm, now, opts("delay-aware"));
    expect(s.n).toBeCloseTo(1000 * meanCdf(delay, 5.25, 6.25), 9);
    expect(s.sum).toBe(5);
    // the current, partial hour: ages uniform over [0, now − hour]
    const cur = emptyArmBuckets(0);
    addTrial(cur, H0, trial(), 0);
    expect(fold(cur, H0 + 0.5, opts("delay-aware")).n).toBeCloseTo(meanCdf(delay, 0, 0.5), 12);
    // matured: counts fully
    expect(fold(arm, H0 + 49, opts("delay-aware")).n).toBe(1000);
  });
  it("delay-aware: a bucket counts at least its converted share of trials (so Σr ≤ n for Beta)", () => {
    const arm = emptyArmBuckets(0);
    for (let i = 0; i < 10; i++) addTrial(arm, H0, trial(), 0);
    for (let i = 0; i < 4; i++) addReward(arm, H0, conv(1), 0);
    const s = fold(arm, H0 + 0.2, opts("delay-aware"));
    expect(meanCdf(delay, 0, 0.2)).toBeLessThan(0.4);
    expect(s.n).toBeCloseTo(4, 12);
    expect(s.sum).toBe(4);
    expect(() => thompson.setArmStats(thompson.init(["a"], thompson.parseParams({}), 0), 0, s)).not.toThrow();
  });
  it("matured-only: nothing of a bucket until all its decisions are older than the window", () => {
    const arm = emptyArmBuckets(0);
    for (let i = 0; i < 100; i++) addTrial(arm, H0, trial(), 0);
    addReward(arm, H0, conv(1), 0);
    expect(fold(arm, H0 + 48.9, opts("matured-only"))).toMatchObject({ n: 0, sum: 0 });
    expect(fold(arm, H0 + 49, opts("matured-only"))).toMatchObject({ n: 100, sum: 1 });
  });
  it("decay by the bucket's whole-hour age, on trials and rewards alike", () => {
    const arm = emptyArmBuckets(0);
    for (let i = 0; i < 8; i++) addTrial(arm, H0, trial(), 0);
    addReward(arm, H0, conv(1), 0);
    const s = fold(arm, H0 + 100.9, opts("delay-aware", { halfLifeHours: 50 }));
    expect(s.n).toBeCloseTo(8 * 0.25, 12);
    expect(s.sum).toBeCloseTo(0.25, 12);
    expect(fold(arm, H0 + 2.9, opts("at-decision", { windowHours: 3 })).n).toBe(8);
    expect(fold(arm, H0 + 3.0, opts("at-decision", { windowHours: 3 })).n).toBe(0);
  });
  it("contextual parts: Σxxᵀ with the trial weight, Σr·x split like Σr", () => {
    const dim = 2;
    const arm = emptyArmBuckets(dim);
    const x = [1, 2];
    const xx = [0, 0, 0, 0];
    addOuter(xx, x);
    for (let i = 0; i < 10; i++) addTrial(arm, H0, { n: 1, sum: -1, sumSq: 1, xx, xr: [-1, -2] }, dim);
    addReward(arm, H0, { n: 1, sum: 3, sumSq: 4 - 1, xx: [0, 0, 0, 0], xr: [3, 6] }, dim);
    const now = H0 + 10;
    const F = meanCdf(delay, 9, 10);
    expect(F).toBeGreaterThan(0.1); // above the converted share: F applies
    const s = fold(arm, now, opts("delay-aware"), dim);
    expect(s.n).toBeCloseTo(10 * F, 12);
    s.xx!.forEach((v, i) => {
      expect(v).toBeCloseTo(10 * xx[i]! * F, 12);
    });
    expect(s.xr![1]).toBeCloseTo(-20 * F + 6, 12);
    expect(s.sum).toBeCloseTo(-10 * F + 3, 12);
    expect(s.sumSq).toBeCloseTo(10 * F + 3, 12);
  });
});

/** Seeded random buckets over `hours` hours, contextual (dim 2). */
function randomArm(seed: number, hours: number, dim = 2): { arm: ArmBuckets; incs: [number, boolean, ArmStats][] } {
  const rng = new Mulberry32(seed);
  const incs: [number, boolean, ArmStats][] = [];
  for (let h = 0; h < hours; h++)
    for (let i = 0; i < 20; i++) {
      const x = [1, rng.next()];
      const xx = [0, 0, 0, 0];
      addOuter(xx, x);
      const r0 = -0.1;
      incs.push([H0 + h, true, { n: 1, sum: r0, sumSq: r0 * r0, xx, xr: x.map((v) => v * r0) }]);
      if (rng.next() < 0.2) {
        const dr = 1 + rng.next();
        const r = r0 + dr;
        incs.push([
          H0 + h,
          false,
          { n: 1, sum: dr, sumSq: r * r - r0 * r0, xx: [0, 0, 0, 0], xr: x.map((v) => v * dr) },
        ]);
      }
    }
  const arm = emptyArmBuckets(dim);
  for (const [h, isTrial, d] of incs) (isTrial ? addTrial : addReward)(arm, h, d, dim);
  return { arm, incs };
}

const close = (a: ArmStats, b: ArmStats) => {
  const tol = (x: number) => 1e-9 * Math.max(1, Math.abs(x));
  expect(Math.abs(a.n - b.n)).toBeLessThan(tol(b.n));
  expect(Math.abs(a.sum - b.sum)).toBeLessThan(tol(b.sum));
  expect(Math.abs(a.sumSq - b.sumSq)).toBeLessThan(tol(b.sumSq));
  for (const [k, v] of (a.xx ?? []).entries()) expect(Math.abs(v - b.xx![k]!)).toBeLessThan(tol(b.xx![k]!));
  for (const [k, v] of (a.xr ?? []).entries()) expect(Math.abs(v - b.xr![k]!)).toBeLessThan(tol(b.xr![k]!));
};

describe("compaction", () => {
  it.each([
    ["none", undefined],
    ["half-life 30 h", { halfLifeHours: 30 }],
    ["window 60 h", { windowHours: 60 }],
  ] as [string, DecaySpec | undefined][])(
    "%s: folding matured buckets into the base changes no later fold, and bounds the buckets",
    (_name, decay) => {
      for (const counting of ["delay-aware", "at-decision", "matured-only"] as const) {
        const o = opts(counting, decay);
        const { arm: plain } = randomArm(7, 200);
        const { arm: compacted } = randomArm(7, 200);
        for (let t = 0; t <= 220; t += 7) {
          const now = H0 + t + 0.3;
          compactArm(compacted, now, o, 2);
          const past = bucketHours(compacted, 2).filter((h) => h <= now).length;
          expect(past).toBeLessThanOrEqual(Math.max(48, 60) + 2);
          close(fold(compacted, now, o, 2), fold(plain, now, o, 2));
        }
      }
    },
  );
  it("a late increment to an hour already folded is folded again at the next compaction", () => {
    const o = opts("at-decision", { halfLifeHours: 10 });
    const arm = emptyArmBuckets(0);
    addTrial(arm, H0, trial(), 0);
    compactArm(arm, H0 + 60, o, 0);
    expect(arm.count).toBe(0);
    addReward(arm, H0, conv(1), 0);
    const before = fold(arm, H0 + 70, o);
    compactArm(arm, H0 + 70, o, 0);
    close(fold(arm, H0 + 70, o), before);
    expect(before.sum).toBeCloseTo(2 ** -7, 12);
  });
});

describe("commutative increments", () => {
  it("any order of the same increments folds to the same totals (replicas agree)", () => {
    const { arm, incs } = randomArm(11, 60);
    const rng = new Mulberry32(3);
    const shuffled = incs.slice();
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    const other = emptyArmBuckets(2);
    for (const [h, isTrial, d] of shuffled) (isTrial ? addTrial : addReward)(other, h, d, 2);
    for (const counting of ["delay-aware", "at-decision"] as const) {
      const o = opts(counting, { halfLifeHours: 12 });
      close(fold(other, H0 + 61.5, o, 2), fold(arm, H0 + 61.5, o, 2));
    }
  });
});

describe("what a strategy sees: a send whose conversions cannot have arrived yet", () => {
  // Learned: 20,000 matured decisions at 12 %; then 10,000 decisions in the current hour, no conversion yet.
  const learned = () => {
    const arm = emptyArmBuckets(0);
    addTrial(arm, H0, { n: 20_000, sum: 0, sumSq: 0 }, 0);
    addReward(arm, H0, { n: 2400, sum: 2400, sumSq: 2400 }, 0);
    addTrial(arm, H0 + 100, { n: 10_000, sum: 0, sumSq: 0 }, 0);
    return arm;
  };
  const mean = (s: ArmStats) => {
    const st = thompson.init(["a"], thompson.parseParams({}), 0);
    thompson.setArmStats(st, 0, s);
    return (1 + st.s[0]!) / (2 + st.s[0]! + st.f[0]!);
  };
  it("delay-aware: the Beta posterior mean stays within 25 % (at-decision: falls by a third)", () => {
    const now = H0 + 100.5;
    const before = 2401 / 20_002;
    expect(mean(fold(learned(), now, opts("delay-aware"))) / before).toBeGreaterThan(0.75);
    expect(mean(fold(learned(), now, opts("at-decision"))) / before).toBeLessThan(0.7);
  });
  it("Normal–Inverse-Gamma: the mean stays too", () => {
    const s = fold(learned(), H0 + 100.5, opts("delay-aware"));
    const st = gaussianThompson.init(["a"], gaussianThompson.parseParams({}), 0);
    gaussianThompson.setArmStats(st, 0, s);
    const q = posterior(st.params, st.n[0]!, st.mean[0]!, st.m2[0]!);
    expect(q.loc).toBeGreaterThan(0.75 * 0.12);
  });
});
