/**
 * Every strategy against the one contract: propensities (sum to 1, equal to the empirical choice
 * frequency, floor, paused/removed arms), serialization, seeds, arms added mid-flight, params errors.
 */
import { describe, expect, it } from "vitest";
import {
  getStrategy,
  NoActiveArmsError,
  STRATEGIES,
  StrategyParamError,
  Xoshiro128,
  type BaseState,
  type Strategy,
  type ArmStats,
} from "../../strategies/index.ts";
import { chiSquare } from "./helpers.ts";

const D = 3;
const X = Float64Array.from([1, 0.4, -0.7]);

interface Case {
  type: string;
  params: Record<string, unknown>;
  /** setArmStats reproduces sequential updates exactly (up to rounding). */
  exactStats: boolean;
}

const CASES: Case[] = [
  { type: "thompson", params: {}, exactStats: true },
  { type: "gaussian_thompson", params: {}, exactStats: true },
  { type: "top_two_thompson", params: { beta: 0.5 }, exactStats: true },
  { type: "ucb1", params: { alpha: 1 }, exactStats: true },
  { type: "epsilon_greedy", params: { epsilon: 0.2 }, exactStats: true },
  { type: "softmax", params: { temperature: 0.2 }, exactStats: true },
  { type: "linucb", params: { alpha: 1, lambda: 1 }, exactStats: true },
  { type: "lin_ts", params: { alpha: 1, lambda: 1 }, exactStats: true },
  { type: "logistic_ts", params: { alpha: 1, lambda: 1 }, exactStats: false },
];

function trained(c: Case, seed = 1): { s: Strategy; state: BaseState; x: Float64Array | undefined; stats: ArmStats[] } {
  const s = getStrategy(c.type);
  const d = s.contextual ? D : 0;
  const state = s.init(["a", "b", "c", "d"], s.parseParams(c.params), d);
  const rng = new Xoshiro128(seed);
  const rates = [0.2, 0.35, 0.3, 0.1];
  const stats: ArmStats[] = rates.map(() => ({
    n: 0,
    sum: 0,
    sumSq: 0,
    xx: new Array(D * D).fill(0),
    xr: new Array(D).fill(0),
  }));
  for (let t = 0; t < 60; t++) {
    const a = t % 4;
    const x = s.contextual ? Float64Array.from([1, rng.next() * 2 - 1, rng.next() * 2 - 1]) : undefined;
    const r = rng.next() < rates[a]! ? 1 : 0;
    s.update(state, a, r, x);
    const st = stats[a]!;
    st.n++;
    st.sum += r;
    st.sumSq += r * r;
    if (x)
      for (let i = 0; i < D; i++) {
        st.xr![i]! += r * x[i]!;
        for (let j = 0; j < D; j++) st.xx![i * D + j]! += x[i]! * x[j]!;
      }
  }
  if (!s.contextual)
    for (const st of stats) {
      delete st.xx;
      delete st.xr;
    }
  return { s, state, x: s.contextual ? X : undefined, stats };
}

describe.each(CASES)("$type", (c) => {
  it("probabilities are a pmf and choose logs the probability of the arm it drew", () => {
    const { s, state, x } = trained(c);
    const p = s.probabilities(state, x, new Xoshiro128(9));
    expect(p.length).toBe(4);
    expect(p.every((v) => v >= 0)).toBe(true);
    expect(Math.abs(p.reduce((t, v) => t + v, 0) - 1)).toBeLessThan(1e-12);
    const rng = new Xoshiro128(3);
    for (let i = 0; i < 50; i++) {
      const ch = s.choose(state, x, rng);
      expect(ch.propensity).toBeCloseTo(p[ch.arm]!, 12);
    }
  });

  it("choose's empirical frequencies match its propensities (chi-square, α = 1e-4)", () => {
    const { s, state, x } = trained(c);
    const p = s.probabilities(state, x, new Xoshiro128(9));
    const counts = [0, 0, 0, 0];
    const rng = new Xoshiro128(77);
    // Contextual choose integrates per call (no cache across contexts): fewer draws keep the suite fast.
    const n = s.contextual ? 4000 : 20000;
    for (let i = 0; i < n; i++) counts[s.choose(state, x, rng).arm]!++;
    const [stat, crit] = chiSquare(counts, p, 1e-4);
    expect(stat).toBeLessThan(crit);
  });

  it("the fast path `select` draws from the same law as the propensities (chi-square, α = 1e-4)", () => {
    const { s, state, x } = trained(c);
    if (!s.select) return;
    const p = s.probabilities(state, x, new Xoshiro128(9));
    const counts = [0, 0, 0, 0];
    const rng = new Xoshiro128(78);
    // Bumping the version keeps select on its direct-sampling path (it switches to the cached pmf when
    // decisions repeat on one state), so this checks the sampler against the integrated propensities.
    for (let i = 0; i < 20000; i++) {
      state.version++;
      counts[s.select(state, x, rng)]!++;
    }
    const [stat, crit] = chiSquare(counts, p, 1e-4);
    expect(stat).toBeLessThan(crit);
  });

  it("exploration floor: every active arm ≥ floor, still a pmf; paused and removed arms get 0 and are never chosen", () => {
    const { s, state, x } = trained(c);
    s.setParams(state, s.parseParams({ ...c.params, explorationFloor: 0.05 }));
    s.setArmStatus(state, 1, "paused");
    s.setArmStatus(state, 2, "removed");
    const p = s.probabilities(state, x, new Xoshiro128(1));
    expect(p[1]).toBe(0);
    expect(p[2]).toBe(0);
    expect(p[0]).toBeGreaterThanOrEqual(0.05 - 1e-12);
    expect(p[3]).toBeGreaterThanOrEqual(0.05 - 1e-12);
    expect(Math.abs(p.reduce((t, v) => t + v, 0) - 1)).toBeLessThan(1e-12);
    const rng = new Xoshiro128(5);
    for (let i = 0; i < 300; i++) expect([0, 3]).toContain(s.choose(state, x, rng).arm);
    expect(() => s.setArmStatus(state, 2, "active")).toThrow(StrategyParamError);
    s.setArmStatus(state, 1, "active");
    expect(s.probabilities(state, x, new Xoshiro128(1))[1]).toBeGreaterThan(0);
  });

  it("JSON round-trip is lossless, and the same seed gives the same choices", () => {
    const { s, state, x } = trained(c);
    const json = JSON.parse(JSON.stringify(s.toJSON(state)));
    const back = s.fromJSON(json);
    expect(s.toJSON(back)).toEqual(s.toJSON(state));
    const r1 = new Xoshiro128(42);
    const r2 = new Xoshiro128(42);
    const a = Array.from({ length: 30 }, () => s.choose(state, x, r1));
    const b = Array.from({ length: 30 }, () => s.choose(back, x, r2));
    expect(b).toEqual(a);
    expect(() => s.fromJSON({ ...json, type: "nope" })).toThrow(StrategyParamError);
  });

  it("an arm added mid-flight starts at the prior", () => {
    const { s, state, x } = trained(c);
    const i = s.addArm(state, "e");
    expect(i).toBe(4);
    const fresh = s.init(["e"], s.parseParams(c.params), state.dim);
    const armFields = (st: BaseState, k: number) =>
      Object.fromEntries(
        Object.entries(s.toJSON(st) as Record<string, unknown>)
          .filter(([, v]) => Array.isArray(v))
          .map(([f, v]) => [f, (v as unknown[])[k]]),
      );
    expect(armFields(state, 4)).toEqual(armFields(fresh, 0));
    expect(s.probabilities(state, x, new Xoshiro128(1)).length).toBe(5);
    expect(() => s.addArm(state, "a")).toThrow(StrategyParamError);
  });

  it("setArmStats from persisted sums rebuilds the posterior", () => {
    const { s, state, x, stats } = trained(c);
    const re = s.init(["a", "b", "c", "d"], s.parseParams(c.params), state.dim);
    stats.forEach((st, a) => {
      s.setArmStats(re, a, st);
    });
    const p1 = s.probabilities(state, x, new Xoshiro128(1));
    const p2 = s.probabilities(re, x, new Xoshiro128(1));
    if (c.exactStats) for (let a = 0; a < 4; a++) expect(Math.abs(p1[a]! - p2[a]!)).toBeLessThan(1e-9);
    else expect(Math.abs(p2.reduce((t, v) => t + v, 0) - 1)).toBeLessThan(1e-12);
  });

  it("edge cases: no active arm throws, one arm gets probability 1, bad params name their field", () => {
    const s = getStrategy(c.type);
    const d = s.contextual ? D : 0;
    const x = s.contextual ? X : undefined;
    const one = s.init(["only"], s.parseParams(c.params), d);
    expect(s.probabilities(one, x, new Xoshiro128(1))[0]).toBe(1);
    expect(s.choose(one, x, new Xoshiro128(1))).toEqual({ arm: 0, propensity: 1 });
    s.setArmStatus(one, 0, "paused");
    expect(() => s.choose(one, x, new Xoshiro128(1))).toThrow(NoActiveArmsError);
    const none = s.init([], s.parseParams(c.params), d);
    expect(() => s.choose(none, x, new Xoshiro128(1))).toThrow(NoActiveArmsError);
    try {
      s.parseParams({ explorationFloor: 2 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(StrategyParamError);
      expect((e as StrategyParamError).field).toBe("explorationFloor");
    }
    try {
      s.parseParams({ bogus: 1 });
      expect.unreachable();
    } catch (e) {
      expect((e as StrategyParamError).field).toBe("bogus");
    }
  });
});

describe("registry", () => {
  it("knows every strategy by its stored name and rejects unknown ones with the list", () => {
    expect(Object.keys(STRATEGIES).sort()).toEqual([
      "epsilon_greedy",
      "gaussian_thompson",
      "lin_ts",
      "linucb",
      "logistic_ts",
      "softmax",
      "thompson",
      "top_two_thompson",
      "ucb1",
    ]);
    for (const [k, s] of Object.entries(STRATEGIES)) expect(s.type).toBe(k);
    expect(() => getStrategy("exp3")).toThrow(/unknown strategy "exp3"; known: .*thompson/);
  });
});
