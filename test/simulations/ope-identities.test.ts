/**
 * Identities the estimators must satisfy exactly, agreement with independent computations to 1e-8, the doubly
 * robust estimators' unbiasedness with a deliberately misspecified reward model, and clipping.
 */
import { describe, expect, it } from "vitest";
import { Mulberry32 } from "../../strategies/rng.ts";
import { type EvaluationResult, evaluateLogs } from "../../simulations/ope/evaluate.ts";
import type { LogRow } from "../../simulations/ope/logs.ts";
import { normal } from "../../simulations/random.ts";

const get = (r: EvaluationResult, name: string) => r.estimates.find((e) => e.estimator === name)!;
const avg = (xs: number[]) => xs.reduce((p, c) => p + c, 0) / xs.length;
const sd = (xs: number[]) => {
  const m = avg(xs);
  return Math.sqrt(xs.reduce((p, c) => p + (c - m) ** 2, 0) / (xs.length - 1));
};
function softmax(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((p, c) => p + c, 0);
  return e.map((v) => v / s);
}
const draw = (rng: Mulberry32, pmf: number[]) => {
  let u = rng.next();
  for (let k = 0; k < pmf.length; k++) if ((u -= pmf[k]) < 0) return k;
  return pmf.length - 1;
};

/** Click logs: P(click | x, a) = sigmoid-free step function of x, so a linear reward model is misspecified. */
const ACTIONS = ["a", "b", "c"];
const clickRate = (x: number, a: number) =>
  [x > 0.5 ? 0.9 : 0.1, Math.abs(x) < 0.6 ? 0.8 : 0.15, x * x > 1 ? 0.7 : 0.2][a];
function clickLogs(seed: number, n: number, uniform: boolean): LogRow[] {
  const rng = new Mulberry32(seed);
  const rows: LogRow[] = [];
  for (let t = 0; t < n; t++) {
    const x = normal(rng);
    const pmf = uniform ? [1 / 3, 1 / 3, 1 / 3] : softmax([1.2 * x, 0, -1.2 * x]);
    const a = draw(rng, pmf);
    rows.push({ action: ACTIONS[a], propensity: pmf[a], reward: rng.next() < clickRate(x, a) ? 1 : 0, context: { x } });
  }
  return rows;
}
/** True value of "always b": E_x[rate(x, b)] by quadrature over the standard normal. */
function truthArm(a: number): number {
  let s = 0;
  let w = 0;
  for (let i = -8000; i <= 8000; i++) {
    const x = i / 1000;
    const d = Math.exp((-x * x) / 2);
    s += d * clickRate(x, a);
    w += d;
  }
  return s / w;
}

describe("identities", () => {
  it("IPS = SNIPS = the mean reward for the logging policy on its own log (weights all 1, ESS = n)", () => {
    const rows = clickLogs(3, 3000, false);
    const r = evaluateLogs(rows, "logged", { bootstrap: 20 });
    const mean = avg(rows.map((x) => x.reward));
    expect(get(r, "ips").value).toBe(mean);
    expect(get(r, "snips").value).toBe(mean);
    expect(r.logged.value).toBe(mean);
    expect(r.weights).toMatchObject({ mean: 1, max: 1 });
    expect(r.ess).toBeCloseTo(3000, 9);
  });

  it("uniform on a uniform log = the mean, for IPS, SNIPS and replay's weights", () => {
    const rows = clickLogs(4, 3000, true);
    const r = evaluateLogs(rows, "uniform", { bootstrap: 20 });
    const mean = avg(rows.map((x) => x.reward));
    expect(get(r, "ips").value).toBeCloseTo(mean, 12);
    expect(get(r, "snips").value).toBeCloseTo(mean, 12);
    expect(r.ess).toBeCloseTo(3000, 9);
  });

  it("IPS, SNIPS, ESS, the weights and the logged value agree with an independent computation to 1e-8", () => {
    const rows = clickLogs(5, 2000, false);
    const r = evaluateLogs(rows, "arm:b", { bootstrap: 20 });
    const w = rows.map((x) => (x.action === "b" ? 1 / x.propensity! : 0));
    const wr = rows.map((x, i) => w[i] * x.reward);
    const sw = w.reduce((p, c) => p + c, 0);
    expect(Math.abs(get(r, "ips").value - wr.reduce((p, c) => p + c, 0) / rows.length)).toBeLessThan(1e-8);
    expect(Math.abs(get(r, "snips").value - wr.reduce((p, c) => p + c, 0) / sw)).toBeLessThan(1e-8);
    expect(Math.abs(r.ess - sw ** 2 / w.reduce((p, c) => p + c * c, 0))).toBeLessThan(1e-8);
    expect(Math.abs(r.weights.mean - sw / rows.length)).toBeLessThan(1e-8);
    expect(r.weights.max).toBe(Math.max(...w));
    expect(r.weights.maxRow!.index).toBe(w.indexOf(Math.max(...w)) + 1);
    expect(Math.abs(r.logged.value - avg(rows.map((x) => x.reward)))).toBeLessThan(1e-8);
  });

  it("the top rows' shares are their w·r over Σ w·r", () => {
    const rows = clickLogs(6, 500, false);
    const r = evaluateLogs(rows, "arm:a", { bootstrap: 10 });
    const wr = rows.map((x) => (x.action === "a" ? x.reward / x.propensity! : 0));
    const total = wr.reduce((p, c) => p + c, 0);
    const sorted = [...wr].sort((p, q) => q - p).slice(0, 10);
    expect(r.topRows.rows.map((t) => t.share)).toEqual(sorted.map((v) => v / total));
    expect(r.topRows.share).toBeCloseTo(sorted.reduce((p, c) => p + c, 0) / total, 12);
  });
});

describe("doubly robust with a misspecified reward model", () => {
  const REPS = 40;
  const truth = truthArm(1);
  const runs = Array.from({ length: REPS }, (_, i) =>
    evaluateLogs(clickLogs(100 + i, 1500, false), "arm:b", { seed: i, bootstrap: 50 }),
  );
  it("DM is biased (the linear model cannot fit the step functions)", () => {
    const dm = runs.map((r) => get(r, "dm").value);
    expect(Math.abs(avg(dm) - truth)).toBeGreaterThan((6 * sd(dm)) / Math.sqrt(REPS));
  });
  for (const name of ["ips", "dr", "sndr"])
    it(`${name} is unbiased: its mean over ${REPS} logs is within 4 standard errors of the truth`, () => {
      const v = runs.map((r) => get(r, name).value);
      expect(Math.abs(avg(v) - truth), `${name}: ${avg(v)} vs ${truth}`).toBeLessThan((4 * sd(v)) / Math.sqrt(REPS));
    });
  it("the logging policy evaluated by DR on a uniform log shows no lift: the interval covers 0", () => {
    let covered = 0;
    for (let i = 0; i < 40; i++) {
      const r = evaluateLogs(clickLogs(300 + i, 1500, true), "uniform", { seed: i, bootstrap: 100 });
      const l = get(r, "dr").lift;
      if (l.ciLow <= 0 && 0 <= l.ciHigh) covered++;
    }
    expect(covered).toBeGreaterThanOrEqual(36);
  });
});

describe("clipping", () => {
  it("is off by default and, when asked, caps the weights and says so", () => {
    const rows = clickLogs(7, 1000, false);
    const off = evaluateLogs(rows, "arm:a", { bootstrap: 10 });
    expect(off.clip).toBeNull();
    const on = evaluateLogs(rows, "arm:a", { bootstrap: 10, clip: 2 });
    const w = rows.map((x) => (x.action === "a" ? 1 / x.propensity! : 0));
    const expected = rows.reduce((s, x, i) => s + Math.min(w[i], 2) * x.reward, 0) / rows.length;
    expect(get(on, "ips").value).toBeCloseTo(expected, 12);
    expect(on.clip).toEqual({ at: 2, rows: w.filter((v) => v > 2).length });
    expect(on.weights.max).toBe(Math.max(...w));
    expect(on.warnings.join("\n")).toContain(`importance weights clipped at 2: ${on.clip!.rows} rows changed`);
  });
});
