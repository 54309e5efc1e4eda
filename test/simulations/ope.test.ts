/**
 * Off-policy estimators on synthetic logs whose true policy values are known in closed form.
 * Rewards are Gaussian with mean q(x, a) = b_a + c_a·x (x ~ N(0, 1)), so per-action linear regression is a
 * well-specified model; the logging policy is a known context-dependent softmax (non-uniform) or uniform.
 * True value of "always a" = b_a; of the even split = mean(b).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Mulberry32 } from "../../strategies/rng.ts";
import { evaluateLogs, type EvaluationResult } from "../../simulations/ope/evaluate.ts";
import type { LogRow } from "../../simulations/ope/logs.ts";
import { parsePolicySpec } from "../../simulations/ope/policy.ts";
import { normal } from "../../simulations/random.ts";
import { doubles } from "./doubles.ts";
import { libraryResolve } from "../../simulations/resolve.ts";

const ACTIONS = ["a", "b", "c"];
const B0 = [1.0, 1.5, 0.8];
const C1 = [0.5, -1.0, 1.5];
const q = (x: number, a: number) => B0[a] + C1[a] * x;

/** Logs of n decisions; `uniform` logging or a softmax favouring action a with weight exp(0.8·s_a(x)). */
function makeLogs(seed: number, n: number, uniform: boolean, noise = 1): { rows: LogRow[]; full: number[][] } {
  const rng = new Mulberry32(seed);
  const rows: LogRow[] = [];
  const full: number[][] = [];
  for (let t = 0; t < n; t++) {
    const x = normal(rng);
    const pmf = uniform ? [1 / 3, 1 / 3, 1 / 3] : softmax([0.8 * x, 0.2, -0.8 * x]);
    let u = rng.next();
    let a = 2;
    for (let k = 0; k < 3; k++)
      if ((u -= pmf[k]) < 0) {
        a = k;
        break;
      }
    const rewards = ACTIONS.map((_, k) => q(x, k) + noise * normal(rng));
    full.push(rewards);
    rows.push({ action: ACTIONS[a], propensity: pmf[a], reward: rewards[a], context: { x } });
  }
  return { rows, full };
}
function softmax(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((p, c) => p + c, 0);
  return e.map((v) => v / s);
}
const get = (r: EvaluationResult, name: string) => r.estimates.find((e) => e.estimator === name)!;
const sd = (xs: number[]) => {
  const m = xs.reduce((p, c) => p + c, 0) / xs.length;
  return Math.sqrt(xs.reduce((p, c) => p + (c - m) ** 2, 0) / (xs.length - 1));
};
const avg = (xs: number[]) => xs.reduce((p, c) => p + c, 0) / xs.length;

describe("estimators on logs with a known true value", () => {
  const REPS = 40;
  const N = 1000;
  const runs = Array.from({ length: REPS }, (_, i) => {
    const { rows } = makeLogs(1000 + i, N, false);
    return {
      arm: evaluateLogs(rows, "arm:b", { seed: i, bootstrap: 200, objective: "profit" }),
      uni: evaluateLogs(rows, "uniform", { seed: i, bootstrap: 200, objective: "profit" }),
    };
  });

  for (const name of ["ips", "snips", "dm", "dr", "sndr", "switch_dr", "dros"]) {
    it(`${name} is unbiased and its interval covers the truth (always "b", and the even split)`, () => {
      for (const [key, truth] of [
        ["arm", B0[1]],
        ["uni", avg(B0)],
      ] as const) {
        const est = runs.map((r) => get(r[key], name));
        const values = est.map((e) => e.value);
        // Mean over seeded repetitions within 4 standard errors of the true value.
        expect(Math.abs(avg(values) - truth), `${name} ${key} mean ${avg(values)} vs ${truth}`).toBeLessThan(
          (4 * sd(values)) / Math.sqrt(REPS),
        );
        // 95 % intervals: at least 90 % of the 40 seeded repetitions cover the truth.
        const covered = est.filter((e) => e.ciLow <= truth && truth <= e.ciHigh).length;
        expect(covered / REPS, `${name} ${key} coverage`).toBeGreaterThanOrEqual(0.9);
      }
    });
  }

  it("doubly robust has lower variance than IPS when the reward model is well specified", () => {
    const v = (name: string) => sd(runs.map((r) => get(r.arm, name).value)) ** 2;
    expect(v("dr")).toBeLessThan(0.5 * v("ips"));
  });

  it("reports the logged policy's own value (mean reward) and the lift against it", () => {
    const { rows } = makeLogs(7, 500, false);
    const r = evaluateLogs(rows, "arm:b", { seed: 1, bootstrap: 100, objective: "profit" });
    const mean = avg(rows.map((x) => x.reward));
    expect(r.logged.value).toBeCloseTo(mean, 12);
    for (const e of r.estimates) expect(e.lift.value).toBeCloseTo(e.value - mean, 12);
    expect(r.logged.ciLow).toBeLessThan(mean);
    expect(r.logged.ciHigh).toBeGreaterThan(mean);
  });
});

describe("replay", () => {
  it("equals the on-policy value of a deterministic policy when logs are uniform", () => {
    const diffs: number[] = [];
    const ses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const { rows, full } = makeLogs(5000 + i, 3000, true);
      const r = evaluateLogs(rows, "arm:c", { seed: i, bootstrap: 5, objective: "profit" });
      // On-policy value: what always playing "c" earned on these very rounds (full information).
      const onPolicy = avg(full.map((f) => f[2]));
      // Replay keeps exactly the rounds where c was logged: their mean reward.
      const matched = rows.filter((x) => x.action === "c").map((x) => x.reward);
      expect(get(r, "replay").value).toBeCloseTo(avg(matched), 12);
      expect(get(r, "replay").rows).toBe(matched.length);
      diffs.push(get(r, "replay").value - onPolicy);
      ses.push(sd(matched) / Math.sqrt(matched.length));
    }
    // Differences centred on 0: |mean diff| within 4 standard errors.
    expect(Math.abs(avg(diffs))).toBeLessThan((4 * sd(diffs)) / Math.sqrt(diffs.length));
    // And each within a few of its own standard errors.
    diffs.forEach((d, i) => {
      expect(Math.abs(d)).toBeLessThan(5 * ses[i]);
    });
  });

  it("its bootstrap interval covers the true value on uniform logs", () => {
    let covered = 0;
    const REPS = 30;
    for (let i = 0; i < REPS; i++) {
      const { rows } = makeLogs(7000 + i, 900, true);
      const e = get(evaluateLogs(rows, "arm:c", { seed: i, bootstrap: 150, objective: "profit" }), "replay");
      if (e.ciLow <= B0[2] && B0[2] <= e.ciHigh) covered++;
    }
    expect(covered / REPS).toBeGreaterThanOrEqual(0.8);
  });

  it("evaluating the logging policy itself gives the logged mean and no lift (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("a", "b", "c", "d"), fc.double({ min: -5, max: 5, noNaN: true })), {
          minLength: 4,
          maxLength: 60,
        }),
        (pairs) => {
          const actions = new Set(pairs.map((p) => p[0]));
          const k = actions.size;
          const rows: LogRow[] = pairs.map(([action, reward]) => ({ action, propensity: 1 / k, reward, context: {} }));
          const r = evaluateLogs(rows, "uniform", { bootstrap: 10, objective: "profit" });
          const mean = avg(rows.map((x) => x.reward));
          for (const name of ["ips", "snips"]) {
            expect(get(r, name).value).toBeCloseTo(mean, 9);
            expect(get(r, name).lift.value).toBeCloseTo(0, 9);
          }
          expect(r.ess).toBeCloseTo(rows.length, 9);
        },
      ),
      { seed: 42, numRuns: 60 },
    );
  });

  it("warns that replay is biased when logging is not uniform", () => {
    const { rows } = makeLogs(3, 300, false);
    expect(evaluateLogs(rows, "uniform", { bootstrap: 20, objective: "profit" }).warnings.join("\n")).toMatch(
      /not uniform/,
    );
  });
});

describe("diagnostics", () => {
  it("effective sample size is n for the logging policy itself and falls as the target departs from it", () => {
    const { rows } = makeLogs(11, 1000, true);
    expect(evaluateLogs(rows, "uniform", { bootstrap: 10, objective: "profit" }).ess).toBeCloseTo(1000, 6);
    // Always one of 3 uniformly logged actions: weights 3 on a third of the rows ⇒ ESS = n/3 · (count share).
    const r = evaluateLogs(rows, "arm:a", { bootstrap: 10, objective: "profit" });
    const na = rows.filter((x) => x.action === "a").length;
    expect(r.ess).toBeCloseTo(na, 6);
  });

  it("warns about estimated, tiny and zero propensities, naming the rows and the real weights", () => {
    const { rows } = makeLogs(12, 400, true);
    rows[0] = { ...rows[0], propensity: null };
    rows[1] = { ...rows[1], propensity: 0.001, decisionId: "tiny-one" };
    rows[2] = { ...rows[2], propensity: 0 };
    const r = evaluateLogs(rows, "uniform", { bootstrap: 10, objective: "profit", estimatePropensity: true });
    expect(r.propensity).toMatchObject({
      missing: 1,
      tiny: 1,
      zero: 1,
      min: 0.001,
      minRow: { decisionId: "tiny-one" },
    });
    expect(r.rows).toBe(399);
    // The real maximum weight is π/p = (1/3)/0.001, not 1/p_min.
    expect(r.weights.max).toBeCloseTo(1000 / 3, 9);
    expect(r.weights.maxRow).toMatchObject({ line: null, decisionId: "tiny-one" });
    expect(r.topRows.rows.length).toBeGreaterThan(0);
    const w = r.warnings.join("\n");
    expect(w).toMatch(/1 of 400 rows have no propensity: estimated/);
    expect(w).toContain("1 rows have propensities below 0.01 (min 0.001 at decision tiny-one)");
    expect(w).toMatch(
      /importance weights π\/p: mean [0-9.]+, max 333.3 at decision tiny-one \(propensity 0.001, π 0.3333\)/,
    );
    expect(w).toMatch(/1 rows have propensity 0 and were dropped/);
  });

  it("same seed gives identical results; another seed changes only the resampling", () => {
    const { rows } = makeLogs(13, 600, false);
    const a = evaluateLogs(rows, "uniform", { seed: 42, bootstrap: 100, objective: "profit" });
    const b = evaluateLogs(rows, "uniform", { seed: 42, bootstrap: 100, objective: "profit" });
    const c = evaluateLogs(rows, "uniform", { seed: 43, bootstrap: 100, objective: "profit" });
    expect(b).toEqual(a);
    expect(get(c, "ips").value).toBe(get(a, "ips").value);
    expect(get(c, "ips").ciLow).not.toBe(get(a, "ips").ciLow);
  });

  it("replays rows in time order when every row has a timestamp", () => {
    const { rows } = makeLogs(15, 300, true, 0.2);
    const stamped = rows.map((r, i) => ({
      ...r,
      reward: r.reward > 1.2 ? 1 : 0,
      timestamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    }));
    const shuffled = stamped
      .map((r, i) => [r, (i * 7919) % 300] as const)
      .sort((a, b) => a[1] - b[1])
      .map((x) => x[0]);
    const spec = '{"type":"thompson"}';
    const a = evaluateLogs(stamped, spec, { seed: 2, bootstrap: 20, resolve: libraryResolve });
    const b = evaluateLogs(shuffled, spec, { seed: 2, bootstrap: 20, resolve: libraryResolve });
    expect(b).toEqual(a);
  });

  it("evaluates a learning strategy spec, which ends up near the best action", () => {
    const { rows } = makeLogs(14, 800, true, 0.2);
    // Rewards in [0,1] for the Beta–Bernoulli double: 1 when above 1.2.
    const bin = rows.map((r) => ({ ...r, reward: r.reward > 1.2 ? 1 : 0 }));
    const r = evaluateLogs(bin, '{"type":"thompson"}', { seed: 3, bootstrap: 50, resolve: doubles });
    const uni = evaluateLogs(bin, "uniform", { seed: 3, bootstrap: 50 });
    expect(r.policy).toBe('{"type":"thompson","params":{}}');
    expect(get(r, "snips").value).toBeGreaterThan(get(uni, "snips").value);
  });
});

describe("policy specs", () => {
  it.each([
    ["uniform", { kind: "uniform" }],
    ["logged", { kind: "logged" }],
    ["arm:creative-3", { kind: "arm", key: "creative-3" }],
    ['{"type":"thompson","params":{"floor":0.01}}', { kind: "strategy", type: "thompson", params: { floor: 0.01 } }],
    [{ type: "ucb1" }, { kind: "strategy", type: "ucb1", params: {} }],
  ])("parses %j", (spec, parsed) => expect(parsePolicySpec(spec)).toEqual(parsed));

  it.each([
    ["arm:", 'policy: "arm:" needs an action key, e.g. "arm:creative-03"'],
    [
      "best",
      'policy: expected "uniform", "logged", "arm:<key>" or a strategy spec JSON like {"type":"thompson"}, got "best"',
    ],
    ["{nope", /^policy: invalid JSON/],
    ['{"params":{}}', "policy: type: a strategy type is required"],
    ['{"type":"x","params":[1]}', "policy: params: must be an object"],
  ])("rejects %j", (spec, message) => expect(() => parsePolicySpec(spec)).toThrow(message));

  it("rejects strategy params the strategy refuses, naming the field", () => {
    const { rows } = makeLogs(1, 10, true);
    const o = { resolve: libraryResolve, objective: "profit" } as const;
    expect(() => evaluateLogs(rows, '{"type":"thompson","params":{"alpha":-1}}', o)).toThrow(
      /^policy: params\.alpha: /,
    );
    expect(() => evaluateLogs(rows, '{"type":"nope"}', o)).toThrow(/^policy: type: /);
  });

  it("rejects an arm that is not in the action set", () => {
    const { rows } = makeLogs(1, 10, true);
    expect(() => evaluateLogs(rows, "arm:z", { objective: "profit" })).toThrow(
      'policy: arm "z" is not in the action set (actions: a, b, c)',
    );
  });
});
