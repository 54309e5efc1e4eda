/** Posterior updates against closed forms, edge cases of the pmfs, and laws that hold for all inputs. */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  applyFloor,
  epsilonGreedy,
  gaussianThompson,
  linTs,
  linucb,
  logisticTs,
  softmax,
  thompson,
  topTwoThompson,
  ucb1,
  Xoshiro128,
} from "../../strategies/index.ts";
import { posterior } from "../../strategies/gaussian_thompson.ts";
import { topTwoFromArgmax } from "../../strategies/top_two_thompson.ts";
import { PMF_TOLERANCE } from "../../strategies/thompson.ts";
import { invert } from "../../strategies/linear.ts";
import type { ArmSlot } from "../../strategies/types.ts";

const keys = ["a", "b", "c"];

describe("thompson (Beta–Bernoulli)", () => {
  it("α = α0 + Σr, β = β0 + n − Σr, whatever the order (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.constantFrom(0, 1, 0.25)), { maxLength: 40 }),
        fc.integer(),
        (obs, seed) => {
          const p = thompson.parseParams({ alpha: 2, beta: 3 });
          const s1 = thompson.init(keys, p, 0);
          for (const [a, r] of obs) thompson.update(s1, a, r);
          const shuffled = fc.sample(fc.shuffledSubarray(obs, { minLength: obs.length, maxLength: obs.length }), {
            seed,
            numRuns: 1,
          })[0]!;
          const s2 = thompson.init(keys, p, 0);
          thompson.updateBatch(
            s2,
            shuffled.map((o) => o[0]),
            shuffled.map((o) => o[1]),
          );
          for (let a = 0; a < 3; a++) {
            const mine = obs.filter((o) => o[0] === a);
            const S = mine.reduce((t, o) => t + o[1], 0);
            expect(s1.s[a]).toBeCloseTo(S, 12);
            expect(s1.f[a]).toBeCloseTo(mine.length - S, 12);
            expect(s2.s[a]).toBeCloseTo(S, 12);
          }
        },
      ),
      { seed: 3, numRuns: 100 },
    );
  });

  it("discount γ: counts are Σ γ^(age) of past observations", () => {
    const s = thompson.init(keys, thompson.parseParams({ discount: 0.9 }), 0);
    const obs: [number, number][] = [
      [0, 1],
      [1, 0],
      [0, 1],
      [2, 1],
      [0, 0],
    ];
    for (const [a, r] of obs) thompson.update(s, a, r);
    const n = obs.length;
    for (let a = 0; a < 3; a++) {
      let S = 0;
      let F = 0;
      obs.forEach(([b, r], i) => {
        if (b === a) {
          S += 0.9 ** (n - 1 - i) * r;
          F += 0.9 ** (n - 1 - i) * (1 - r);
        }
      });
      expect(s.s[a]).toBeCloseTo(S, 12);
      expect(s.f[a]).toBeCloseTo(F, 12);
    }
  });

  it("window W: counts are those of the last W observations; survives a JSON round-trip", () => {
    let s = thompson.init(keys, thompson.parseParams({ window: 3 }), 0);
    const obs: [number, number][] = [
      [0, 1],
      [1, 1],
      [0, 1],
      [2, 0],
      [0, 0],
      [1, 1],
    ];
    obs.forEach(([a, r], i) => {
      thompson.update(s, a, r);
      if (i === 2) s = thompson.fromJSON(JSON.parse(JSON.stringify(thompson.toJSON(s))));
    });
    expect(s.s).toEqual([0, 1, 0]);
    expect(s.f).toEqual([1, 0, 1]);
    expect(() => thompson.parseParams({ window: 3, discount: 0.9 })).toThrow(/window/);
  });

  it("rewards outside [0, 1] are refused", () => {
    const s = thompson.init(keys, thompson.parseParams({}), 0);
    expect(() => thompson.update(s, 0, 2)).toThrow(RangeError);
    expect(() => thompson.update(s, 7, 1)).toThrow(RangeError);
  });

  it("pmf cache: repeated decisions on an unchanged state reuse the pmf; an update invalidates it", () => {
    const s = thompson.init(keys, thompson.parseParams({}), 0);
    thompson.updateBatch(s, [0, 1, 2, 2], [1, 0, 1, 1]);
    const p1 = thompson.probabilities(s, undefined, new Xoshiro128(1));
    thompson.update(s, 2, 0);
    const p2 = thompson.probabilities(s, undefined, new Xoshiro128(1));
    expect(p2[2]).toBeLessThan(p1[2]!);
  });
});

describe("thompson's pmf within PMF_TOLERANCE of the posterior", () => {
  const arms = ["a", "b", "c", "d", "e", "f"];
  /** A state holding these totals (sum of 0/1 rewards, so Σr² = Σr). */
  const stateWith = (n: readonly number[], sum: readonly number[]) => {
    const s = thompson.init(arms, thompson.parseParams({}), 0);
    n.forEach((v, a) => {
      thompson.setArmStats(s, a, { n: v, sum: sum[a]!, sumSq: sum[a]! });
    });
    return s;
  };
  const pmfOf = (s: ReturnType<typeof stateWith>) => thompson.probabilities(s, undefined, new Xoshiro128(1));
  /** The pmf computed afresh (a new state, no earlier pmf to reuse). */
  const fresh = (n: readonly number[], sum: readonly number[]) => pmfOf(stateWith(n, sum));
  /** Six learned arms, close to one another. */
  const learned = () => ({ n: [40, 42, 44, 46, 48, 50], sum: [4, 4.2, 4.4, 4.6, 4.8, 5] });

  it("small moves reuse the pmf and cannot add up: every answer within the tolerance of a fresh computation (property)", () => {
    let reused = 0;
    let recomputed = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.double({ min: -7, max: -1, noNaN: true }), fc.boolean()), {
          minLength: 20,
          maxLength: 120,
        }),
        (steps) => {
          const { n, sum } = learned();
          const s = stateWith(n, sum);
          let prev = pmfOf(s);
          for (const [a, e, success] of steps) {
            const dn = 10 ** e;
            n[a] = n[a]! + dn;
            if (success) sum[a] = sum[a]! + dn;
            thompson.setArmStats(s, a, { n: n[a]!, sum: sum[a]!, sumSq: sum[a]! });
            const p = pmfOf(s);
            const f = fresh(n, sum);
            for (let k = 0; k < arms.length; k++) expect(Math.abs(p[k]! - f[k]!)).toBeLessThanOrEqual(PMF_TOLERANCE);
            if (p.every((v, k) => v === prev[k])) reused++;
            else recomputed++;
            prev = p;
          }
        },
      ),
      { seed: 20261202, numRuns: 40 },
    );
    // Both paths ran: moves of 1e-7 to 0.1 trials (the share of a fresh decision's conversion that can
    // be in already), some within the tolerance, some beyond it, and their sums.
    expect(reused).toBeGreaterThan(100);
    expect(recomputed).toBeGreaterThan(100);
  });

  it("many moves each far within it, all one way, are compared with the pmf's own posterior, not the last one", () => {
    const { n, sum } = learned();
    const s = stateWith(n, sum);
    const first = pmfOf(s);
    let changes = 0;
    let prev = first;
    for (let i = 0; i < 3000; i++) {
      n[0] = n[0]! + 1e-4;
      thompson.setArmStats(s, 0, { n: n[0]!, sum: sum[0]!, sumSq: sum[0]! });
      const p = pmfOf(s);
      if (p[0] !== prev[0]) changes++;
      prev = p;
    }
    const f = fresh(n, sum);
    expect(first[0]! - f[0]!).toBeGreaterThan(5 * PMF_TOLERANCE); // 0.3 failures moved it this far
    expect(changes).toBeGreaterThan(10);
    for (let k = 0; k < arms.length; k++) expect(Math.abs(prev[k]! - f[k]!)).toBeLessThanOrEqual(PMF_TOLERANCE);
  });

  it("a move beyond it is computed at once; so is a change of the arms that compete", () => {
    const s = stateWith([100, 100, 100, 100, 100, 100], [10, 11, 12, 13, 14, 15]);
    const before = pmfOf(s);
    thompson.setArmStats(s, 0, { n: 100.001, sum: 10, sumSq: 10 });
    expect(Array.from(pmfOf(s))).toEqual(Array.from(before));
    thompson.setArmStats(s, 0, { n: 101, sum: 10, sumSq: 10 });
    const moved = pmfOf(s);
    expect(moved[0]).toBeLessThan(before[0]!);
    expect(Array.from(moved)).toEqual(Array.from(fresh([101, 100, 100, 100, 100, 100], [10, 11, 12, 13, 14, 15])));
    thompson.setArmStatus(s, 5, "paused");
    const paused = pmfOf(s);
    expect(paused[5]).toBe(0);
    expect(paused.reduce((t, v) => t + v, 0)).toBeCloseTo(1, 12);
  });
});

describe("gaussian_thompson (Normal–Inverse-Gamma)", () => {
  it("matches the conjugate closed form (Murphy 2007)", () => {
    const p = gaussianThompson.parseParams({ mu0: 1, kappa0: 2, alpha0: 3, beta0: 4 });
    const s = gaussianThompson.init(["a"], p, 0);
    const xs = [3.2, 0, 0, 14.5, 0.7, 2];
    for (const r of xs) gaussianThompson.update(s, 0, r);
    const n = xs.length;
    const mean = xs.reduce((t, v) => t + v, 0) / n;
    const m2 = xs.reduce((t, v) => t + (v - mean) ** 2, 0);
    const q = posterior(s.params, s.n[0]!, s.mean[0]!, s.m2[0]!);
    expect(q.kappa).toBe(2 + n);
    expect(q.loc).toBeCloseTo((2 * 1 + n * mean) / (2 + n), 12);
    expect(q.alpha).toBe(3 + n / 2);
    expect(q.beta).toBeCloseTo(4 + 0.5 * m2 + (2 * n * (mean - 1) ** 2) / (2 * (2 + n)), 10);
  });

  it("heavy-tailed revenue (Pareto, α = 1.1) keeps every quantity finite and the pmf a pmf; rewardCap winsorizes", () => {
    const rng = new Xoshiro128(9);
    const s = gaussianThompson.init(keys, gaussianThompson.parseParams({}), 0);
    const capped = gaussianThompson.init(keys, gaussianThompson.parseParams({ rewardCap: 100 }), 0);
    for (let t = 0; t < 3000; t++) {
      const a = t % 3;
      const r = rng.next() < 0.05 ? (1 - rng.next()) ** (-1 / 1.1) * (a + 1) * 10 : 0;
      gaussianThompson.update(s, a, t === 1500 ? 1e9 : r);
      gaussianThompson.update(capped, a, t === 1500 ? 1e9 : r);
    }
    const p = gaussianThompson.probabilities(s, undefined, new Xoshiro128(1));
    expect(p.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    expect(Math.abs(p.reduce((t, v) => t + v, 0) - 1)).toBeLessThan(1e-12);
    expect(s.m2.every(Number.isFinite)).toBe(true);
    expect(Math.max(...capped.mean)).toBeLessThan(100);
  });
});

describe("top_two_thompson", () => {
  it("q = β p + (1 − β) × challenger law; two arms: q_1 = β p_1 + (1 − β) p_2; β = 1 is Thompson sampling", () => {
    const p = Float64Array.from([0.7, 0.3]);
    const q = topTwoFromArgmax(p, [true, true], 0.5);
    expect(q[0]).toBeCloseTo(0.5, 12);
    expect(topTwoFromArgmax(p, [true, true], 1)[0]).toBeCloseTo(0.7, 12);
    const p3 = Float64Array.from([0.6, 0.3, 0.1]);
    const q3 = topTwoFromArgmax(p3, [true, true, true], 0.5);
    expect(q3[0]).toBeCloseTo(0.5 * 0.6 + 0.5 * (0.3 * (0.6 / 0.7) + 0.1 * (0.6 / 0.9)), 12);
    expect(q3.reduce((t, v) => t + v, 0)).toBeCloseTo(1, 12);
    // One arm certain: the challenger is uniform over the others, no endless re-draws.
    const q4 = topTwoFromArgmax(Float64Array.from([1, 0, 0]), [true, true, true], 0.5);
    expect(Array.from(q4)).toEqual([0.5, 0.25, 0.25]);
  });

  it("spreads plays between the two leading arms more than Thompson sampling does", () => {
    const t = thompson.init(keys, thompson.parseParams({}), 0);
    const tt = topTwoThompson.init(keys, topTwoThompson.parseParams({}), 0);
    for (const st of [t, tt])
      for (const [a, n, k] of [
        [0, 200, 40],
        [1, 200, 30],
        [2, 200, 5],
      ] as const)
        for (let i = 0; i < n; i++) (st === t ? thompson : topTwoThompson).update(st as never, a, i < k ? 1 : 0);
    const pt = thompson.probabilities(t, undefined, new Xoshiro128(1));
    const ptt = topTwoThompson.probabilities(tt, undefined, new Xoshiro128(1));
    expect(ptt[1]).toBeGreaterThan(pt[1]!);
  });
});

describe("baselines: closed forms and edge cases", () => {
  it("ucb1: probability 1 on argmax of mean + α sqrt(2 ln N / n), untried arms first, ties split or lowest", () => {
    const s = ucb1.init(keys, ucb1.parseParams({ alpha: 0.5 }), 0);
    expect(Array.from(ucb1.probabilities(s, undefined, new Xoshiro128(1)))).toEqual([1 / 3, 1 / 3, 1 / 3]);
    ucb1.updateBatch(s, [0, 0, 1, 2, 2, 2], [1, 0, 0, 1, 1, 0]);
    const N = 6;
    const score = [
      0.5 + 0.5 * Math.sqrt((2 * Math.log(N)) / 2),
      0 + 0.5 * Math.sqrt(2 * Math.log(N)),
      2 / 3 + 0.5 * Math.sqrt((2 * Math.log(N)) / 3),
    ];
    const best = score.indexOf(Math.max(...score));
    expect(ucb1.probabilities(s, undefined, new Xoshiro128(1))[best]).toBe(1);
    const low = ucb1.init(keys, ucb1.parseParams({ ties: "lowest" }), 0);
    expect(Array.from(ucb1.probabilities(low, undefined, new Xoshiro128(1)))).toEqual([1, 0, 0]);
  });

  it("epsilon_greedy: ε/m + (1 − ε) on the greedy arm; ε = 0 is greedy, ε = 1 uniform", () => {
    for (const eps of [0, 0.1, 1]) {
      const s = epsilonGreedy.init(keys, epsilonGreedy.parseParams({ epsilon: eps }), 0);
      epsilonGreedy.updateBatch(s, [0, 1, 2], [0.2, 0.9, 0.5]);
      const p = epsilonGreedy.probabilities(s, undefined, new Xoshiro128(1));
      expect(p[1]).toBeCloseTo(eps / 3 + 1 - eps, 12);
      expect(p[0]).toBeCloseTo(eps / 3, 12);
    }
  });

  it("softmax: p ∝ exp(mean/τ)", () => {
    const s = softmax.init(keys, softmax.parseParams({ temperature: 0.5 }), 0);
    softmax.updateBatch(s, [0, 1, 2], [0.2, 0.9, 0.5]);
    const p = softmax.probabilities(s, undefined, new Xoshiro128(1));
    const z = Math.exp(0.4) + Math.exp(1.8) + Math.exp(1);
    expect(p[1]).toBeCloseTo(Math.exp(1.8) / z, 12);
  });
});

describe("linear models", () => {
  const rng = new Xoshiro128(4);
  const xs = Array.from({ length: 40 }, () => Float64Array.from([1, rng.next() - 0.5, 2 * rng.next()]));
  const rs = xs.map((x) => (0.3 * x[1]! - 0.2 * x[2]! + rng.next() > 0.6 ? 1 : 0));

  it("Sherman–Morrison A⁻¹ equals inv(λI + Σxxᵀ) and θ̂ the ridge solution", () => {
    for (const strat of [linucb, linTs]) {
      const s = strat.init(["a"], strat.parseParams({ lambda: 2 }), 3);
      xs.forEach((x, i) => {
        strat.update(s, 0, rs[i]!, x);
      });
      const A = new Float64Array(9);
      const b = new Float64Array(3);
      for (let i = 0; i < 3; i++) A[i * 3 + i] = 2;
      xs.forEach((x, t) => {
        for (let i = 0; i < 3; i++) {
          b[i]! += rs[t]! * x[i]!;
          for (let j = 0; j < 3; j++) A[i * 3 + j]! += x[i]! * x[j]!;
        }
      });
      const inv = invert(A, 3);
      for (let k = 0; k < 9; k++) expect(s.ainv[0]![k]).toBeCloseTo(inv[k]!, 10);
      for (let i = 0; i < 3; i++)
        expect(s.theta[0]![i]).toBeCloseTo(inv[i * 3]! * b[0]! + inv[i * 3 + 1]! * b[1]! + inv[i * 3 + 2]! * b[2]!, 10);
    }
  });

  it("linucb: probability 1 on argmax of θ̂ᵀx + α sqrt(xᵀA⁻¹x); changing λ keeps what was learned", () => {
    const s = linucb.init(keys, linucb.parseParams({}), 3);
    xs.forEach((x, i) => {
      linucb.update(s, i % 3, rs[i]!, x);
    });
    const x = xs[0]!;
    const score = [0, 1, 2].map((a) => {
      const th = s.theta[a]!;
      const M = s.ainv[a]!;
      let q = 0;
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) q += x[i]! * M[i * 3 + j]! * x[j]!;
      return th[0]! * x[0]! + th[1]! * x[1]! + th[2]! * x[2]! + Math.sqrt(q);
    });
    expect(linucb.probabilities(s, x, new Xoshiro128(1))[score.indexOf(Math.max(...score))]).toBe(1);
    const b0 = Array.from(s.b[0]!);
    linucb.setParams(s, linucb.parseParams({ lambda: 5 }));
    linucb.setParams(s, linucb.parseParams({ lambda: 1 }));
    expect(Array.from(s.b[0]!)).toEqual(b0);
    expect(linucb.probabilities(s, x, new Xoshiro128(1))[score.indexOf(Math.max(...score))]).toBe(1);
  });

  it("logistic_ts: one update lands on the Laplace mode, q ⊙ (m' − m) = (y − σ(m'ᵀx)) x, and raises precision", () => {
    const s = logisticTs.init(["a"], logisticTs.parseParams({ lambda: 1.5 }), 3);
    logisticTs.update(s, 0, 1, xs[1]);
    const m0 = Float64Array.from(s.m[0]!);
    const q0 = Float64Array.from(s.q[0]!);
    const x = xs[2]!;
    logisticTs.update(s, 0, 0, x);
    const m1 = s.m[0]!;
    const z = m1[0]! * x[0]! + m1[1]! * x[1]! + m1[2]! * x[2]!;
    const p = 1 / (1 + Math.exp(-z));
    for (let j = 0; j < 3; j++) expect(q0[j]! * (m1[j]! - m0[j]!)).toBeCloseTo((0 - p) * x[j]!, 10);
    for (let j = 0; j < 3; j++) expect(s.q[0]![j]).toBeCloseTo(q0[j]! + x[j]! * x[j]! * p * (1 - p), 12);
  });
});

describe("exploration floor (VW enforce_minimum_probability)", () => {
  it("property: result is a pmf over active arms, every active arm ≥ floor, order preserved above the floor", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.double({ min: 0, max: 1, noNaN: true }),
            fc.constantFrom<ArmSlot["status"]>("active", "active", "paused", "removed"),
          ),
          { minLength: 1, maxLength: 12 },
        ),
        fc.double({ min: 0, max: 0.3, noNaN: true }),
        (arms, floor) => {
          const slots: ArmSlot[] = arms.map(([, st], i) => ({ key: String(i), status: st }));
          const active = slots.filter((s) => s.status === "active").length;
          if (active === 0) return;
          const raw = arms.map(([v], i) => (slots[i]!.status === "active" ? v + 1e-9 : 0));
          const tot = raw.reduce((t, v) => t + v, 0);
          const p = Float64Array.from(raw.map((v) => v / tot));
          const before = Float64Array.from(p);
          applyFloor(p, slots, floor);
          expect(Math.abs(p.reduce((t, v) => t + v, 0) - 1)).toBeLessThan(1e-9);
          slots.forEach((s, i) => {
            if (s.status !== "active") expect(p[i]).toBe(0);
            else expect(p[i]!).toBeGreaterThanOrEqual(Math.min(floor, 1 / active) - 1e-12);
          });
          for (let i = 0; i < p.length; i++)
            for (let j = 0; j < p.length; j++)
              if (before[i]! > before[j]! && slots[i]!.status === "active" && slots[j]!.status === "active")
                expect(p[i]!).toBeGreaterThanOrEqual(p[j]! - 1e-12);
        },
      ),
      { seed: 11, numRuns: 300 },
    );
  });
});

describe("logistic_ts setArmStats (approximate rebuild from sums)", () => {
  it("predicts close to the sequentially updated model on 3,000 rows with an intercept", () => {
    const rng = new Xoshiro128(21);
    const d = 4;
    const w = [-1.5, 0.8, -0.5, 0.3];
    const seq = logisticTs.init(["a"], logisticTs.parseParams({}), d);
    const xx = new Array(d * d).fill(0);
    const xr = new Array(d).fill(0);
    let n = 0;
    let sum = 0;
    for (let t = 0; t < 3000; t++) {
      const x = Float64Array.from([1, rng.next() * 2 - 1, rng.next() < 0.5 ? 1 : 0, rng.next() * 2 - 1]);
      const p = 1 / (1 + Math.exp(-(w[0]! + w[1]! * x[1]! + w[2]! * x[2]! + w[3]! * x[3]!)));
      const r = rng.next() < p ? 1 : 0;
      logisticTs.update(seq, 0, r, x);
      for (let i = 0; i < d; i++) {
        xr[i] += r * x[i]!;
        for (let j = 0; j < d; j++) xx[i * d + j] += x[i]! * x[j]!;
      }
      n++;
      sum += r;
    }
    const re = logisticTs.init(["a"], logisticTs.parseParams({}), d);
    logisticTs.setArmStats(re, 0, { n, sum, sumSq: sum, xx, xr });
    for (const x of [
      [1, 0, 0, 0],
      [1, 0.9, 1, -0.5],
      [1, -0.9, 0, 0.9],
    ]) {
      const z = (m: Float64Array) => m.reduce((t, v, i) => t + v * x[i]!, 0);
      const pSeq = 1 / (1 + Math.exp(-z(seq.m[0]!)));
      const pRe = 1 / (1 + Math.exp(-z(re.m[0]!)));
      expect(Math.abs(pSeq - pRe)).toBeLessThan(0.05);
    }
  });
});
