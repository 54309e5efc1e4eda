/**
 * The meta-runner: one pass over the logs computes, for every estimator, its per-round (v_i, w_i); then one
 * seeded bootstrap (the same resampled rows for all estimators and for the logged policy's own value, so lifts
 * are paired) gives percentile 95 % intervals. Also reports the effective sample size of the importance
 * weights, ESS = (Σ w_i)² / Σ w_i² with w_i = π(a_i|x_i)/p_i (Kong 1992), and warnings for missing or tiny
 * propensities, few replay matches and non-uniform logging under replay.
 *
 * Rows are replayed in time order when all carry timestamps (file order otherwise).
 * Missing propensities are replaced by the action's share in the logs (an estimate of a context-free logging
 * policy) and reported; rows with propensity 0 cannot be reweighted and are dropped with a warning.
 */
import { Mulberry32 } from "../../strategies/rng.ts";
import type { StrategyResolver } from "../runner.ts";
import { ESTIMATORS, type Estimator, type RoundInput } from "./estimators.ts";
import type { LogRow } from "./logs.ts";
import { fitRewardModel, logEncoder } from "./model.ts";
import { buildPolicy, parsePolicySpec, type PolicySpec } from "./policy.ts";

export interface EvaluateOptions {
  /** Seed of the bootstrap and of the policy's own draws. */
  seed?: number;
  /** Bootstrap resamples (default 500). */
  bootstrap?: number;
  /** Confidence level of the intervals (default 0.95). */
  level?: number;
  /** Propensities below this are "tiny" (default 0.01). */
  tinyPropensity?: number;
  /** Ridge penalty of the direct method's model (default 1). */
  ridge?: number;
  /** Work budget (row × model-size × resamples) under which DM/DR refit their model per resample (default 4e8). */
  refitBudget?: number;
  /** Strategy registry, needed for strategy specs. */
  resolve?: StrategyResolver;
}

export interface Interval {
  value: number;
  ciLow: number;
  ciHigh: number;
}

export interface EstimateResult extends Interval {
  estimator: Estimator["name"];
  /** Estimate − logged value, with its paired bootstrap interval. */
  lift: Interval;
  /** lift / logged value (null when the logged value is 0). */
  liftRelative: number | null;
  /** Rows that contribute (replay: matches; others: rows with a usable propensity). */
  rows: number;
}

export interface EvaluationResult {
  policy: string;
  rows: number;
  actions: string[];
  /** The logging policy's own value: mean logged reward. */
  logged: Interval;
  estimates: EstimateResult[];
  ess: number;
  essShare: number;
  propensity: { min: number; max: number; missing: number; tiny: number; zero: number };
  warnings: string[];
  seed: number;
  bootstrap: number;
  level: number;
}

export class EvaluationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EvaluationError";
  }
}

function percentile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Rows in time order when every row has a parsable timestamp (a learning policy's replay depends on it), else as given. */
function inTimeOrder(rows: readonly LogRow[]): readonly LogRow[] {
  const ts = rows.map((r) => (r.timestamp === undefined ? NaN : Date.parse(r.timestamp)));
  if (ts.some((t) => Number.isNaN(t))) return rows;
  for (let i = 1; i < ts.length; i++)
    if (ts[i] < ts[i - 1])
      return rows
        .map((r, k) => [r, ts[k], k] as const)
        .sort((a, b) => a[1] - b[1] || a[2] - b[2])
        .map((x) => x[0]);
  return rows;
}

export function evaluateLogs(
  logRows: readonly LogRow[],
  policySpec: PolicySpec,
  opts: EvaluateOptions = {},
): EvaluationResult {
  const rows = inTimeOrder(logRows);
  const seed = opts.seed ?? 1;
  const B = opts.bootstrap ?? 500;
  const level = opts.level ?? 0.95;
  const tiny = opts.tinyPropensity ?? 0.01;
  const warnings: string[] = [];
  if (rows.length === 0) throw new EvaluationError("no logged decisions to evaluate");
  const parsed = parsePolicySpec(policySpec);

  const actions = [...new Set(rows.map((r) => r.action))].sort();
  const K = actions.length;
  const index = new Map(actions.map((a, i) => [a, i]));
  const counts = new Float64Array(K);
  for (const r of rows) counts[index.get(r.action)!]++;

  // Propensities: missing → empirical action share; zero → unusable.
  let missing = 0;
  let zero = 0;
  let nTiny = 0;
  let pMin = Infinity;
  let pMax = 0;
  const used: number[] = [];
  const props: number[] = [];
  rows.forEach((r, i) => {
    let p = r.propensity;
    if (p === null || !Number.isFinite(p)) {
      missing++;
      p = counts[index.get(r.action)!] / rows.length;
    }
    if (p <= 0) {
      zero++;
      return;
    }
    if (p < tiny) nTiny++;
    pMin = Math.min(pMin, p);
    pMax = Math.max(pMax, p);
    used.push(i);
    props.push(p);
  });
  if (missing > 0)
    warnings.push(
      `${missing} of ${rows.length} rows have no propensity: replaced by the action's share of the logs, which is only right for a context-free logging policy; IPS, SNIPS and DR may be biased`,
    );
  if (zero > 0) warnings.push(`${zero} rows have propensity 0 and were dropped: no estimator can reweight them`);
  if (nTiny > 0)
    warnings.push(
      `${nTiny} rows have propensities below ${tiny} (min ${pMin.toPrecision(3)}): their importance weights reach ${(1 / pMin).toFixed(0)}, expect wide intervals`,
    );
  const n = used.length;
  if (n === 0) throw new EvaluationError("no row has a usable propensity");

  const enc = logEncoder(rows);
  const dim = enc.dim;
  const X = new Float64Array(n * dim);
  const A = new Int32Array(n);
  const P = new Float64Array(props);
  const Rw = new Float64Array(n);
  used.forEach((i, j) => {
    enc.encode(rows[i].context, X.subarray(j * dim, (j + 1) * dim));
    A[j] = index.get(rows[i].action)!;
    Rw[j] = rows[i].reward;
  });

  const thetas = fitRewardModel(X, dim, A, Rw, K, opts.ridge ?? 1);
  const policy = buildPolicy(parsed, actions, dim, opts.resolve);
  const rng = new Mulberry32(seed);

  const E = ESTIMATORS.length;
  const V = new Float64Array(E * n);
  const W = new Float64Array(E * n);
  const pi = new Float64Array(K);
  const q = new Float64Array(K);
  const PI = new Float64Array(n * K);
  const out = new Float64Array(2);
  const input: RoundInput = { pi, a: 0, p: 1, r: 0, q, match: false };
  let sw = 0;
  let sw2 = 0;
  let matches = 0;
  for (let j = 0; j < n; j++) {
    const x = X.subarray(j * dim, (j + 1) * dim);
    policy.pmf(x, rng, pi);
    PI.set(pi, j * K);
    for (let a = 0; a < K; a++) {
      const th = thetas[a];
      let s = 0;
      for (let d = 0; d < dim; d++) s += th[d] * x[d];
      q[a] = s;
    }
    // The policy's own draw, by inverse CDF on its pmf.
    let u = rng.next();
    let drawn = K - 1;
    for (let a = 0; a < K; a++) {
      u -= pi[a];
      if (u < 0) {
        drawn = a;
        break;
      }
    }
    input.a = A[j];
    input.p = P[j];
    input.r = Rw[j];
    input.match = drawn === A[j];
    if (input.match) matches++;
    for (let e = 0; e < E; e++) {
      ESTIMATORS[e].step(input, out);
      V[e * n + j] = out[0];
      W[e * n + j] = out[1];
    }
    const w = pi[A[j]] / P[j];
    sw += w;
    sw2 += w * w;
    policy.observe(drawn, A[j], Rw[j], x);
  }
  const ess = sw2 > 0 ? (sw * sw) / sw2 : 0;

  // Point estimates and the paired bootstrap.
  const point = (e: number, idx: Int32Array | null) => {
    let v = 0;
    let w = 0;
    const base = e * n;
    if (idx === null)
      for (let j = 0; j < n; j++) {
        v += V[base + j];
        w += W[base + j];
      }
    else
      for (let k = 0; k < n; k++) {
        v += V[base + idx[k]];
        w += W[base + idx[k]];
      }
    return w > 0 ? v / w : NaN;
  };
  const loggedMean = (idx: Int32Array | null) => {
    let s = 0;
    if (idx === null) for (let j = 0; j < n; j++) s += Rw[j];
    else for (let k = 0; k < n; k++) s += Rw[idx[k]];
    return s / n;
  };
  const est = ESTIMATORS.map((_, e) => point(e, null));
  const logged = loggedMean(null);
  const bootEst = ESTIMATORS.map(() => new Float64Array(B));
  const bootLift = ESTIMATORS.map(() => new Float64Array(B));
  const bootLogged = new Float64Array(B);
  const boot = new Mulberry32(seed ^ 0x5bd1e995);
  const idx = new Int32Array(n);
  // DM and DR refit the reward model on every resample, so their intervals include the model's estimation
  // error (a fixed model makes the DM interval far too narrow). Skipped, with a warning, past a work budget.
  const refit = n * (dim * dim + K * dim) * B <= (opts.refitBudget ?? 4e8);
  if (!refit)
    warnings.push(
      "logs too large to refit the reward model per bootstrap resample: DM and DR intervals ignore the model's estimation error",
    );
  const iDm = ESTIMATORS.findIndex((e) => e.name === "dm");
  const iDr = ESTIMATORS.findIndex((e) => e.name === "dr");
  const Xb = refit ? new Float64Array(n * dim) : X;
  const Ab = refit ? new Int32Array(n) : A;
  const Rb = refit ? new Float64Array(n) : Rw;
  const refitPoint = (): [number, number] => {
    for (let k = 0; k < n; k++) {
      const j = idx[k];
      for (let d = 0; d < dim; d++) Xb[k * dim + d] = X[j * dim + d];
      Ab[k] = A[j];
      Rb[k] = Rw[j];
    }
    const th = fitRewardModel(Xb, dim, Ab, Rb, K, opts.ridge ?? 1);
    let sDm = 0;
    let sDr = 0;
    for (let k = 0; k < n; k++) {
      const j = idx[k];
      let v = 0;
      let qa = 0;
      for (let a = 0; a < K; a++) {
        let z = 0;
        for (let d = 0; d < dim; d++) z += th[a][d] * X[j * dim + d];
        v += PI[j * K + a] * z;
        if (a === A[j]) qa = z;
      }
      sDm += v;
      sDr += v + (PI[j * K + A[j]] / P[j]) * (Rw[j] - qa);
    }
    return [sDm / n, sDr / n];
  };
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < n; k++) idx[k] = Math.floor(boot.next() * n);
    const l = loggedMean(idx);
    bootLogged[b] = l;
    const model = refit ? refitPoint() : null;
    for (let e = 0; e < E; e++) {
      const v = model && e === iDm ? model[0] : model && e === iDr ? model[1] : point(e, idx);
      bootEst[e][b] = v;
      bootLift[e][b] = v - l;
    }
  }
  const alpha = (1 - level) / 2;
  const ci = (value: number, draws: Float64Array): Interval => {
    const finite = Float64Array.from(draws.filter((d) => Number.isFinite(d))).sort();
    if (finite.length === 0) return { value, ciLow: NaN, ciHigh: NaN };
    return { value, ciLow: percentile(finite, alpha), ciHigh: percentile(finite, 1 - alpha) };
  };

  const uniformLogs = P.every((p) => Math.abs(p - 1 / K) < 1e-9);
  if (!uniformLogs)
    warnings.push(
      "logging was not uniform: the replay estimate is only unbiased for uniformly logged data; prefer IPS / SNIPS / DR",
    );
  if (matches < 30) warnings.push(`replay kept only ${matches} rows: its estimate is unreliable`);
  if (ess < 0.01 * n)
    warnings.push(
      `effective sample size ${ess.toFixed(1)} is under 1 % of ${n} rows: the target policy is far from the logging policy`,
    );

  const estimates: EstimateResult[] = ESTIMATORS.map((e, k) => ({
    estimator: e.name,
    ...ci(est[k], bootEst[k]),
    lift: ci(est[k] - logged, bootLift[k]),
    liftRelative: logged !== 0 ? (est[k] - logged) / Math.abs(logged) : null,
    rows: e.name === "replay" ? matches : n,
  }));
  return {
    policy: policy.description,
    rows: n,
    actions,
    logged: ci(logged, bootLogged),
    estimates,
    ess,
    essShare: ess / n,
    propensity: { min: pMin, max: pMax, missing, tiny: nTiny, zero },
    warnings,
    seed,
    bootstrap: B,
    level,
  };
}
