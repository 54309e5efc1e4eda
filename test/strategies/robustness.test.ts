/**
 * Numerical robustness of the contextual strategies (linucb, lin_ts, logistic_ts): a strategy never
 * throws at decision time or at load, whatever it was fed — an overflowing context (1e200), persisted
 * statistics that are not finite or are singular — and it says what it did in `state.warnings`. After
 * the poison, decisions are still proper distributions and learning goes on.
 */
import { describe, expect, it } from "vitest";
import { getStrategy, Xoshiro128, type ArmStats, type BaseState } from "../../strategies/index.ts";

const D = 3;
const TYPES = ["linucb", "lin_ts", "logistic_ts"] as const;
const ok = Float64Array.from([1, 0.5, -0.2]);

function expectPmf(p: ArrayLike<number>): void {
  let sum = 0;
  for (let i = 0; i < p.length; i++) {
    expect(Number.isFinite(p[i])).toBe(true);
    expect(p[i]).toBeGreaterThanOrEqual(0);
    sum += p[i]!;
  }
  expect(sum).toBeCloseTo(1, 9);
}

function decideMany(type: string, state: BaseState, x: Float64Array): void {
  const s = getStrategy(type);
  const rng = new Xoshiro128(7);
  for (let i = 0; i < 50; i++) {
    const c = s.choose(state, x, rng);
    expect(c.arm).toBeGreaterThanOrEqual(0);
    expect(c.propensity).toBeGreaterThan(0);
    expect(c.propensity).toBeLessThanOrEqual(1);
    s.select?.(state, x, rng);
  }
  expectPmf(s.probabilities(state, x, rng));
}

describe.each(TYPES)("%s never throws at decision time or at load", (type) => {
  const s = getStrategy(type);
  const fresh = () => s.init(["a", "b", "c"], {}, D);

  it("an observation with a 1e200 feature is dropped with a warning; decisions stay proper", () => {
    const state = fresh();
    const huge = Float64Array.from([1, 1e200, 0]);
    for (let i = 0; i < 20; i++) s.update(state, i % 3, i % 2, i % 4 === 0 ? huge : ok);
    expect(state.warnings?.length ?? 0).toBeGreaterThan(0);
    decideMany(type, state, ok);
    decideMany(type, state, huge);
    // Learning goes on after the poison, without further warnings.
    const before = JSON.stringify(s.toJSON(state));
    const warned = state.warnings?.length;
    for (let i = 0; i < 30; i++) s.update(state, 0, 1, ok);
    expect(JSON.stringify(s.toJSON(state))).not.toBe(before);
    expect(state.warnings?.length).toBe(warned);
  });

  it("features of 1e9 (the API's bound) keep every decision a proper distribution", () => {
    const state = fresh();
    const rng = new Xoshiro128(3);
    for (let i = 0; i < 300; i++) {
      const x = Float64Array.from([1, (rng.next() - 0.5) * 2e9, rng.next() * 1e9]);
      s.update(state, i % 3, rng.next() < 0.3 ? 1 : 0, x);
    }
    decideMany(type, state, ok);
    decideMany(type, state, Float64Array.from([1, 1e9, -1e9]));
  });

  const poisoned: Array<[string, ArmStats]> = [
    ["infinite sums", { n: 5, sum: 1, sumSq: 1, xx: [Infinity, 0, 0, 0, 1, 0, 0, 0, 1], xr: [1, 0, 0] }],
    ["NaN sums", { n: 5, sum: 1, sumSq: 1, xx: [1, 0, 0, 0, Number.NaN, 0, 0, 0, 1], xr: [1, Number.NaN, 0] }],
    [
      "a rank-one xx of 1e200² (λI + xx singular in floating point)",
      { n: 2, sum: 1, sumSq: 1, xx: [1e300, 1e300, 0, 1e300, 1e300, 0, 0, 0, 0], xr: [1e150, 1e150, 0] },
    ],
    [
      "a nearly singular xx",
      { n: 9, sum: 3, sumSq: 3, xx: [1e12, 1e12 - 1, 0, 1e12 - 1, 1e12, 0, 0, 0, 1e-3], xr: [1e6, 1e6, 0] },
    ],
  ];
  for (const [label, stats] of poisoned)
    it(`loads stored statistics with ${label}, warns, and serves`, () => {
      const state = fresh();
      expect(() => s.setArmStats(state, 1, stats)).not.toThrow();
      decideMany(type, state, ok);
      // and survives a round trip through its JSON form, as at a restart
      const again = s.fromJSON(JSON.parse(JSON.stringify(s.toJSON(state))));
      decideMany(type, again, ok);
    });

  it("a state whose matrices went bad in memory still decides (uniformly, with a warning)", () => {
    const state = fresh() as BaseState & Record<string, Float64Array[]>;
    const field = type === "logistic_ts" ? "q" : "ainv";
    state[field][0]!.fill(Number.NaN);
    state[field][1]!.fill(Number.NaN);
    state[field][2]!.fill(Number.NaN);
    decideMany(type, state, ok);
    expect(state.warnings?.some((w) => w.includes("uniformly"))).toBe(true);
  });
});
