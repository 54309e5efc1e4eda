/**
 * Slates, on synthetic logs shaped like the Open Bandit Dataset (34 / 46 items, 3 slots, uniform-random and
 * Bernoulli-Thompson logging; simulations/ope/synthetic.ts — the real dataset cannot be downloaded here): rows with a
 * position are scored with the target policy's probability for that slot.
 */
import { describe, expect, it } from "vitest";
import { Mulberry32 } from "../../strategies/rng.ts";
import { type EvaluationResult, evaluateLogs } from "../../simulations/ope/evaluate.ts";
import { buildPolicy, parsePolicySpec, RANK_DRAWS } from "../../simulations/ope/policy.ts";
import { OBD_SLOTS, syntheticObd } from "../../simulations/ope/synthetic.ts";
import { libraryResolve } from "../../simulations/resolve.ts";
import { getStrategy } from "../../strategies/index.ts";

const get = (r: EvaluationResult, name: string) => r.estimates.find((e) => e.estimator === name)!;

describe("a Thompson policy ranking items into slots", () => {
  const actions = ["a", "b", "c", "d"];
  const policy = buildPolicy(parsePolicySpec({ type: "thompson" }), actions, 1, {
    slots: 3,
    shares: [new Float64Array(4)],
    resolve: libraryResolve,
  });
  const x = new Float64Array([1]);
  // Teach it: a converts 40/50, b 25/50, c 10/50, d 5/50.
  for (const [a, s] of [
    [0, 40],
    [1, 25],
    [2, 10],
    [3, 5],
  ])
    for (let i = 0; i < 50; i++) policy.observe(a, a, i < s ? 1 : 0, x);
  const rng = new Mulberry32(9);
  const slot = (k: number) => {
    const out = new Float64Array(4);
    policy.pmf({ x, slot: k, logged: 0, propensity: 1 }, rng, out);
    return [...out];
  };
  const slots = [0, 1, 2].map(slot);

  it("gives a distribution per slot, each item at most once over the slots", () => {
    for (const p of slots) expect(p.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 9);
    for (let a = 0; a < 4; a++) expect(slots.reduce((s, p) => s + p[a], 0)).toBeLessThanOrEqual(1 + 1e-9);
  });

  it("slot 0 is P(item has the largest posterior draw): agrees with the strategy's exact probabilities", () => {
    const th = getStrategy("thompson");
    const st = th.init(actions, th.parseParams({}), 0);
    for (const [a, s] of [
      [0, 40],
      [1, 25],
      [2, 10],
      [3, 5],
    ])
      for (let i = 0; i < 50; i++) th.update(st, a, i < s ? 1 : 0);
    const exact = th.probabilities(st, undefined, new Mulberry32(1));
    for (let a = 0; a < 4; a++) {
      const se = Math.sqrt((exact[a] * (1 - exact[a])) / RANK_DRAWS) + 1e-4;
      expect(Math.abs(slots[0][a] - exact[a])).toBeLessThan(4 * se);
    }
  });

  it("the best item leads slot 0 and the second slot goes mostly to the second best", () => {
    expect(slots[0][0]).toBeGreaterThan(0.9);
    expect(slots[1][1]).toBeGreaterThan(0.8);
    expect(slots[1][0]).toBeLessThan(0.1);
  });
});

describe("position-aware evaluation on Open-Bandit-shaped logs", () => {
  for (const [items, logging] of [
    [34, "random"],
    [46, "bts"],
  ] as const) {
    const log = syntheticObd({ items, rows: 15_000, logging, seed: items });
    const K = items;

    it(`${items} items, ${logging} logging: the logging policy on its own log is the mean (IPS = SNIPS, weights 1)`, () => {
      const r = evaluateLogs(log.rows, "logged", { bootstrap: 20, objective: "clicks" });
      const mean = log.rows.reduce((s, x) => s + x.reward, 0) / log.rows.length;
      expect(r.slots).toBe(OBD_SLOTS);
      expect(get(r, "ips").value).toBe(mean);
      expect(get(r, "snips").value).toBe(mean);
      expect(r.weights).toMatchObject({ mean: 1, max: 1 });
    });

    it(`${items} items, ${logging} logging: IPS, SNIPS, DR and DRos intervals cover the true value of always showing the best item`, () => {
      const best = log.items.reduce(
        (b, _, a) => (log.value(() => onehot(K, a)) > log.value(() => onehot(K, b)) ? a : b),
        0,
      );
      const truth = log.value(() => onehot(K, best));
      const r = evaluateLogs(log.rows, `arm:${log.items[best]}`, { bootstrap: 100, objective: "clicks", seed: 3 });
      for (const name of ["ips", "snips", "dr", "dros"]) {
        const e = get(r, name);
        expect(e.ciLow, `${name} ${e.ciLow} ≤ ${truth}`).toBeLessThanOrEqual(truth);
        expect(e.ciHigh, `${name} ${e.ciHigh} ≥ ${truth}`).toBeGreaterThanOrEqual(truth);
      }
    });
  }

  it("a Thompson policy is replayed R times inside the bootstrap, and the output says so", () => {
    const log = syntheticObd({ items: 34, rows: 3000, logging: "random", seed: 5 });
    const r = evaluateLogs(
      log.rows,
      { type: "thompson" },
      { bootstrap: 40, objective: "clicks", replays: 3, resolve: libraryResolve },
    );
    expect(r.interval.replays).toBe(3);
    expect(r.interval.seeds).toHaveLength(3);
    expect(r.interval.method).toMatch(/× 3 replays of the policy with different seeds/);
    const ips = get(r, "ips");
    expect(ips.replayRange[0]).toBeLessThan(ips.replayRange[1]);
    // The estimate is the mean over the replays, inside their range.
    expect(ips.value).toBeGreaterThanOrEqual(ips.replayRange[0]);
    expect(ips.value).toBeLessThanOrEqual(ips.replayRange[1]);
  });
});

function onehot(K: number, a: number): Float64Array {
  const p = new Float64Array(K);
  p[a] = 1;
  return p;
}
