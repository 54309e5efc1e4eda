/**
 * The meta-runner: every estimator of estimators.ts on one log, with the same bootstrap resamples for all of them
 * and for the logging policy's own value (so lifts are paired), and the diagnostics of diagnostics.ts.
 *
 * Steps:
 * 1. `prepare`: rows in time order (when every row has a timestamp), validated (reward range of the objective,
 *    propensities, action set, slots), context encoded. Every error names the row's line.
 * 2. Rows are split at random (seeded) into G groups (G = n for small logs: one row per group) and the groups
 *    into k folds. Per group we keep the reward model's sufficient sums (XᵀX, Xᵀr per action).
 * 3. Cross-fitting: the model scoring a row is fitted on the other k − 1 folds.
 * 4. The policy is replayed through the logs (R times with different seeds when its probabilities depend on its
 *    own randomness, e.g. Thompson sampling); per group we keep the sums the estimators need, as linear
 *    functions of the model's coefficients.
 * 5. Bootstrap: resample the G groups with replacement (resample b uses replay b mod R), refit the k fold models on
 *    the resampled sums, evaluate every estimator; percentile intervals. With one row per group this is the
 *    ordinary bootstrap with the model refitted per resample; with larger groups it is the random-groups
 *    bootstrap (groups are i.i.d. random subsets, so resampling them has the right variance; Wolter,
 *    "Introduction to Variance Estimation", ch. 2), which keeps a refit per resample affordable on millions of rows.
 *
 * Switch-DR's τ and DRos's λ are tuned on the whole log by minimising the estimated MSE
 * (estimate − DR)² + Var(ψ)/n over a grid (DR as the unbiased reference, as OBP's tuning does), then fixed.
 */
import { Mulberry32 } from "../../strategies/rng.ts";
import type { StrategyResolver } from "../runner.ts";
import { type Diagnostics, diagnose, type RowRef, rowRef } from "./diagnostics.ts";
import { ESTIMATORS, type EstimatorName, emptySums, type Sums, shrink } from "./estimators.ts";
import { LogFormatError, type LogRow } from "./logs.ts";
import { addOuter, logEncoder, nonZeros, packedSize, solveRidgePacked } from "./model.ts";
import { buildPolicy, type PolicySpec, parsePolicySpec, type TargetPolicy } from "./policy.ts";

export type Objective = "clicks" | "conversions" | "revenue" | "profit";
export const OBJECTIVES: readonly Objective[] = ["clicks", "conversions", "revenue", "profit"];

export interface EvaluateOptions {
  /** Seed of the bootstrap, the folds and the policy's own draws. */
  seed?: number;
  /** Bootstrap resamples (default 500). */
  bootstrap?: number;
  /** Confidence level of the intervals (default 0.95). */
  level?: number;
  /** Propensities below this are "tiny" (default 0.01). */
  tinyPropensity?: number;
  /** Ridge penalty of the reward model (default 1). */
  ridge?: number;
  /** Cross-fitting folds (default 5). */
  folds?: number;
  /** Clip importance weights at this value (default: no clipping). */
  clip?: number | null;
  /** Reward range: clicks and conversions in [0, 1], revenue ≥ 0, profit any (default conversions). */
  objective?: Objective;
  /** Accept negative revenue. */
  allowNegativeRewards?: boolean;
  /** Replace a missing propensity by the action's share of the logs (in its slot) instead of an error. */
  estimatePropensity?: boolean;
  /** The action set (default: the logged actions and every per-row `available` list). */
  actions?: readonly string[];
  /** Replays of the policy with different seeds (default 10 for a policy with its own randomness, else 1). */
  replays?: number;
  /** Most bootstrap groups (default: up to 1000, fewer for a large model). */
  maxGroups?: number;
  /** Switch-DR's threshold τ and DRos's λ (default: tuned). */
  switchTau?: number;
  drosLambda?: number;
  /** Strategy registry, needed for strategy specs. */
  resolve?: StrategyResolver;
  /** Called as replays and resamples finish. */
  onProgress?: (done: number, total: number) => void;
}

export interface Interval {
  value: number;
  ciLow: number;
  ciHigh: number;
}

export interface EstimateResult extends Interval {
  estimator: EstimatorName;
  /** Estimate − logged value, with its paired bootstrap interval. */
  lift: Interval;
  /** lift / logged value (null when the logged value is 0). */
  liftRelative: number | null;
  /** Rows that contribute (replay: matches; others: rows with a usable propensity). */
  rows: number;
  /** Smallest and largest point estimate over the policy's replays (equal when R = 1). */
  replayRange: [number, number];
}

export interface EvaluationResult {
  policy: string;
  objective: Objective;
  rows: number;
  actions: string[];
  /** Slate slots (distinct positions) in the logs; 0 when no row has one. */
  slots: number;
  /** The logging policy's own value: mean logged reward. */
  logged: Interval;
  estimates: EstimateResult[];
  ess: number;
  essShare: number;
  propensity: Diagnostics["propensity"];
  weights: Diagnostics["weights"];
  topRows: Diagnostics["topRows"];
  /** Importance-weight clipping: null when off (the default). */
  clip: { at: number; rows: number } | null;
  model: { folds: number; ridge: number; features: number; switchTau: number; drosLambda: number; tuned: boolean };
  interval: { method: string; bootstrap: number; groups: number; replays: number; seeds: number[] };
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

/** An error about one row: a LogFormatError when it came from a file line, else names its index and decision. */
function rowError(r: LogRow, i: number, field: string, message: string): Error {
  if (r.line !== undefined) return new LogFormatError(r.line, field, message);
  return new EvaluationError(`row ${i + 1}${r.decisionId ? ` (decision ${r.decisionId})` : ""}: ${field}: ${message}`);
}

function checkReward(r: LogRow, i: number, objective: Objective, allowNegative: boolean): void {
  const x = r.reward;
  if ((objective === "clicks" || objective === "conversions") && !(x >= 0 && x <= 1))
    throw rowError(r, i, "reward", `must be in [0, 1] for objective ${objective}, got ${x}`);
  if (objective === "revenue" && x < 0 && !allowNegative)
    throw rowError(
      r,
      i,
      "reward",
      `must be ≥ 0 for objective revenue, got ${x} (allow negative rewards explicitly to accept it)`,
    );
}

/** The validated, encoded log: one entry per usable row (propensity > 0). */
export interface Prepared {
  n: number;
  K: number;
  dim: number;
  actions: string[];
  slots: number;
  X: Float64Array;
  A: Int32Array;
  P: Float64Array;
  R: Float64Array;
  /** Slot index (−1: none). */
  S: Int32Array;
  /** n × K availability (null: every action available on every row). */
  avail: Uint8Array | null;
  refs: RowRef[];
  shares: Float64Array[];
  counts: { missing: number; zero: number; neverLogged: string[]; total: number };
}

export function prepare(logRows: readonly LogRow[], opts: EvaluateOptions): Prepared {
  const rows = inTimeOrder(logRows);
  if (rows.length === 0) throw new EvaluationError("no logged decisions to evaluate");
  const objective = opts.objective ?? "conversions";
  if (!OBJECTIVES.includes(objective))
    throw new EvaluationError(`objective: must be one of ${OBJECTIVES.join(", ")}, got ${objective}`);
  for (let i = 0; i < rows.length; i++) checkReward(rows[i], i, objective, opts.allowNegativeRewards === true);

  // The action set: given, or what the logs name (logged actions and every `available` list).
  let actions: string[];
  if (opts.actions && opts.actions.length > 0) {
    actions = [...new Set(opts.actions)];
    const known = new Set(actions);
    rows.forEach((r, i) => {
      if (!known.has(r.action))
        throw rowError(r, i, "action", `"${r.action}" is not in the action set (${actions.join(", ")})`);
      for (const a of r.available ?? [])
        if (!known.has(a)) throw rowError(r, i, "available", `"${a}" is not in the action set (${actions.join(", ")})`);
    });
  } else actions = [...new Set(rows.flatMap((r) => [r.action, ...(r.available ?? [])]))].sort();
  const K = actions.length;
  const index = new Map(actions.map((a, i) => [a, i]));

  // Slots: the distinct positions, in order.
  const positions = [...new Set(rows.filter((r) => r.position !== undefined).map((r) => r.position!))].sort(
    (a, b) => a - b,
  );
  const slotOf = new Map(positions.map((p, i) => [p, i]));
  const slotIndex = (r: LogRow) => (r.position === undefined ? -1 : slotOf.get(r.position)!);
  const shares = Array.from({ length: positions.length + 1 }, () => new Float64Array(K));
  for (const r of rows) shares[slotIndex(r) + 1][index.get(r.action)!]++;
  for (const s of shares) {
    const t = s.reduce((p, c) => p + c, 0);
    if (t > 0) for (let a = 0; a < K; a++) s[a] /= t;
  }
  const neverLogged = actions.filter((a) => !rows.some((r) => r.action === a));

  let missing = 0;
  let zero = 0;
  const used: number[] = [];
  const props: number[] = [];
  rows.forEach((r, i) => {
    let p = r.propensity;
    if (p === null || !Number.isFinite(p)) {
      if (!opts.estimatePropensity)
        throw rowError(
          r,
          i,
          "propensity",
          "missing (the logging policy's probability of this action is needed; estimate it from the action's share of the logs explicitly with --estimate-propensity)",
        );
      missing++;
      p = shares[slotIndex(r) + 1][index.get(r.action)!];
    }
    if (p <= 0) {
      zero++;
      return;
    }
    used.push(i);
    props.push(p);
  });
  const n = used.length;
  if (n === 0) throw new EvaluationError("no row has a usable propensity");

  const enc = logEncoder(rows);
  const dim = enc.dim;
  const X = new Float64Array(n * dim);
  const A = new Int32Array(n);
  const R = new Float64Array(n);
  const S = new Int32Array(n);
  const hasAvail = rows.some((r) => r.available !== undefined);
  const avail = hasAvail ? new Uint8Array(n * K) : null;
  const refs: RowRef[] = new Array(n);
  used.forEach((i, j) => {
    const r = rows[i];
    enc.encode(r.context, X.subarray(j * dim, (j + 1) * dim));
    A[j] = index.get(r.action)!;
    R[j] = r.reward;
    S[j] = slotIndex(r);
    refs[j] = rowRef(r, i);
    if (avail) {
      if (r.available) for (const a of r.available) avail[j * K + index.get(a)!] = 1;
      else avail.fill(1, j * K, (j + 1) * K);
    }
  });
  return {
    n,
    K,
    dim,
    actions,
    slots: positions.length,
    X,
    A,
    P: new Float64Array(props),
    R,
    S,
    avail,
    refs,
    shares,
    counts: { missing, zero, neverLogged, total: rows.length },
  };
}

/** Random groups of rows (the bootstrap's units) and their folds. */
interface Groups {
  G: number;
  k: number;
  of: Int32Array;
  fold: Int32Array;
}

function makeGroups(n: number, G: number, k: number, seed: number): Groups {
  const rng = new Mulberry32(seed ^ 0x2545f491);
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  const of = new Int32Array(n);
  for (let i = 0; i < n; i++) of[perm[i]] = i % G;
  const fold = new Int32Array(G);
  for (let g = 0; g < G; g++) fold[g] = g % k;
  return { G, k, of, fold };
}

/** Per group: the reward model's sums (packed XᵀX and Xᵀr per action), rows and Σ r. Independent of the policy. */
interface ModelSums {
  gram: Float64Array;
  mom: Float64Array;
  n: Float64Array;
  r: Float64Array;
}

function modelSums(d: Prepared, g: Groups): ModelSums {
  const { K, dim } = d;
  const P = packedSize(dim);
  const gram = new Float64Array(g.G * K * P);
  const mom = new Float64Array(g.G * K * dim);
  const n = new Float64Array(g.G);
  const r = new Float64Array(g.G);
  const nz = new Int32Array(dim);
  for (let j = 0; j < d.n; j++) {
    const gi = g.of[j];
    const a = d.A[j];
    const x = d.X.subarray(j * dim, (j + 1) * dim);
    addOuter(gram, (gi * K + a) * P, mom, (gi * K + a) * dim, x, d.R[j], nz, nonZeros(x, nz));
    n[gi]++;
    r[gi] += d.R[j];
  }
  return { gram, mom, n, r };
}

/**
 * The k fold models for group multiplicities `m` (null: each group once): θ_f fitted on every fold but f.
 * Returns k × K × dim coefficients.
 */
function foldModels(
  d: Pick<Prepared, "K" | "dim">,
  g: Pick<Groups, "G" | "k" | "fold">,
  ms: Pick<ModelSums, "gram" | "mom">,
  m: Int32Array | null,
  ridge: number,
): Float64Array {
  const { K, dim } = d;
  const P = packedSize(dim);
  const gramF = new Float64Array(g.k * K * P);
  const momF = new Float64Array(g.k * K * dim);
  for (let gi = 0; gi < g.G; gi++) {
    const c = m === null ? 1 : m[gi];
    if (c === 0) continue;
    const f = g.fold[gi];
    addScaled(gramF, f * K * P, ms.gram, gi * K * P, K * P, c);
    addScaled(momF, f * K * dim, ms.mom, gi * K * dim, K * dim, c);
  }
  const gramAll = new Float64Array(K * P);
  const momAll = new Float64Array(K * dim);
  for (let f = 0; f < g.k; f++) {
    addScaled(gramAll, 0, gramF, f * K * P, K * P, 1);
    addScaled(momAll, 0, momF, f * K * dim, K * dim, 1);
  }
  const out = new Float64Array(g.k * K * dim);
  for (let f = 0; f < g.k; f++) {
    const gr = gramAll.slice();
    const mo = momAll.slice();
    if (g.k > 1) {
      addScaled(gr, 0, gramF, f * K * P, K * P, -1);
      addScaled(mo, 0, momF, f * K * dim, K * dim, -1);
    }
    out.set(solveRidgePacked(gr, mo, dim, K, ridge), f * K * dim);
  }
  return out;
}

function addScaled(dst: Float64Array, o: number, src: Float64Array, s: number, len: number, c: number): void {
  for (let i = 0; i < len; i++) dst[o + i] += c * src[s + i];
}

/** Scalar sums kept per group per replay, in this order. */
const SC = { wr: 0, w: 1, match: 2, matchR: 3, swR: 4, osR: 5 } as const;
const NSC = 6;

/**
 * One replay's per-group sums, linear in the model: T = Σ Σ_a π(a|x) x (per action), and for the logged action
 * U = Σ w x, Usw = Σ 1[w ≤ τ] w x, Uos = Σ w̃ x; so Σ DM_i = Σ_a θ_a·T_a and Σ w (r − q̂) = Σ w r − Σ_a θ_a·U_a.
 */
interface ReplaySums {
  T: Float64Array;
  U: Float64Array;
  Usw: Float64Array;
  Uos: Float64Array;
  sc: Float64Array;
  /** Point sums over all rows, in row order. */
  point: Sums;
}

/** Per-row figures of the first replay (diagnostics and tuning). */
export interface RowFigures {
  /** Unclipped importance weight π(a_i|x_i)/p_i, and π(a_i|x_i). */
  w: Float64Array;
  pi: Float64Array;
  /** DM_i and q̂_i under the cross-fitted point model. */
  dm: Float64Array;
  qa: Float64Array;
  matches: number;
  /** Rows where no available action had probability under the policy (uniform over the available ones used). */
  emptyPmf: number;
}

interface Tuning {
  tau: number;
  lambda: number;
}

function replayPass(
  d: Prepared,
  g: Groups,
  policy: TargetPolicy,
  theta: Float64Array,
  seed: number,
  clip: number | null,
  tuning: Tuning | null,
  figures: RowFigures | null,
): ReplaySums {
  const { K, dim, n } = d;
  const T = new Float64Array(g.G * K * dim);
  const U = new Float64Array(g.G * K * dim);
  const Usw = new Float64Array(g.G * K * dim);
  const Uos = new Float64Array(g.G * K * dim);
  const sc = new Float64Array(g.G * NSC);
  const point = emptySums();
  const rng = new Mulberry32(seed);
  const pi = new Float64Array(K);
  const row = { x: d.X.subarray(0, dim), slot: -1, logged: 0, propensity: 1 };
  const nz = new Int32Array(dim);
  // The logging policy keeps its logged propensity; only the rest moves off unavailable actions.
  const keep = policy.description === "logged";
  for (let j = 0; j < n; j++) {
    const x = d.X.subarray(j * dim, (j + 1) * dim);
    const c = nonZeros(x, nz);
    row.x = x;
    row.slot = d.S[j];
    row.logged = d.A[j];
    row.propensity = d.P[j];
    policy.pmf(row, rng, pi);
    if (d.avail && restrict(pi, d.avail, j * K, keep ? d.A[j] : -1) && figures) figures.emptyPmf++;
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
    const a = d.A[j];
    const r = d.R[j];
    const w = pi[a] / d.P[j];
    const wc = clip === null ? w : Math.min(w, clip);
    const gi = g.of[j];
    const th = g.fold[gi] * K * dim;
    const tb = gi * K * dim;
    let dmi = 0;
    let qa = 0;
    for (let b = 0; b < K; b++) {
      const pb = pi[b];
      if (pb === 0 && b !== a) continue;
      let q = 0;
      const o = th + b * dim;
      for (let p = 0; p < c; p++) q += theta[o + nz[p]] * x[nz[p]];
      if (b === a) qa = q;
      if (pb === 0) continue;
      dmi += pb * q;
      const to = tb + b * dim;
      for (let p = 0; p < c; p++) T[to + nz[p]] += pb * x[nz[p]];
    }
    const match = drawn === a;
    const uo = tb + a * dim;
    for (let p = 0; p < c; p++) U[uo + nz[p]] += wc * x[nz[p]];
    const s = gi * NSC;
    sc[s + SC.wr] += wc * r;
    sc[s + SC.w] += wc;
    if (match) {
      sc[s + SC.match]++;
      sc[s + SC.matchR] += r;
    }
    point.n++;
    point.r += r;
    point.wr += wc * r;
    point.w += wc;
    point.dm += dmi;
    point.dr += wc * (r - qa);
    if (match) {
      point.match++;
      point.matchR += r;
    }
    if (tuning) addTuned(Usw, Uos, sc, point, uo, s, x, wc, r, qa, tuning);
    if (figures) {
      figures.w[j] = w;
      figures.pi[j] = pi[a];
      figures.dm[j] = dmi;
      figures.qa[j] = qa;
      if (match) figures.matches++;
    }
    policy.observe(drawn, a, r, x);
  }
  return { T, U, Usw, Uos, sc, point };
}

/**
 * Zeroes unavailable actions and renormalises (all but `keep`'s probability, when keep ≥ 0); true when nothing
 * available had probability (then uniform over the available actions).
 */
function restrict(pi: Float64Array, avail: Uint8Array, o: number, keep: number): boolean {
  const K = pi.length;
  let s = 0;
  let m = 0;
  for (let a = 0; a < K; a++) {
    if (!avail[o + a]) pi[a] = 0;
    else m++;
    if (a !== keep) s += pi[a];
  }
  const fixed = keep >= 0 ? pi[keep] : 0;
  if (s > 0) {
    for (let a = 0; a < K; a++) if (a !== keep) pi[a] *= (1 - fixed) / s;
    return false;
  }
  if (keep >= 0 && fixed > 0) {
    // Only the kept action is available with probability: the rest goes evenly to the other available ones.
    for (let a = 0; a < K; a++) if (a !== keep) pi[a] = m > 1 && avail[o + a] ? (1 - fixed) / (m - 1) : 0;
    if (m === 1) pi[keep] = 1;
    return false;
  }
  for (let a = 0; a < K; a++) pi[a] = avail[o + a] ? 1 / m : 0;
  return true;
}

function addTuned(
  Usw: Float64Array,
  Uos: Float64Array,
  sc: Float64Array,
  point: Sums,
  uo: number,
  s: number,
  x: Float64Array,
  wc: number,
  r: number,
  qa: number,
  t: Tuning,
): void {
  const hs = wc <= t.tau ? wc : 0;
  const ho = shrink(wc, t.lambda);
  if (hs !== 0) for (let k = 0; k < x.length; k++) Usw[uo + k] += hs * x[k];
  if (ho !== 0) for (let k = 0; k < x.length; k++) Uos[uo + k] += ho * x[k];
  sc[s + SC.swR] += hs * r;
  sc[s + SC.osR] += ho * r;
  point.sw += hs * (r - qa);
  point.os += ho * (r - qa);
}

/** Switch-DR's τ and DRos's λ by estimated MSE against DR on the first replay's rows (given values are kept). */
function tune(d: Prepared, f: RowFigures, clip: number | null, opts: EvaluateOptions): Tuning {
  const n = d.n;
  const wc = (j: number) => (clip === null ? f.w[j] : Math.min(f.w[j], clip));
  const score = (h: (w: number) => number) => {
    let s = 0;
    let s2 = 0;
    for (let j = 0; j < n; j++) {
      const psi = f.dm[j] + h(wc(j)) * (d.R[j] - f.qa[j]);
      s += psi;
      s2 += psi * psi;
    }
    const mean = s / n;
    return { mean, variance: Math.max(0, s2 / n - mean * mean) };
  };
  const ref = score((w) => w).mean;
  const pick = (grid: number[], h: (c: number) => (w: number) => number) => {
    let best = Infinity;
    let bestMse = Infinity;
    for (const c of grid) {
      const { mean, variance } = score(h(c));
      const mse = (mean - ref) ** 2 + variance / n;
      if (mse < bestMse - 1e-15) {
        bestMse = mse;
        best = c;
      }
    }
    return best;
  };
  const GRID = [Infinity, 1e5, 1e4, 1e3, 500, 100, 50, 10, 5, 2, 1];
  return {
    tau: opts.switchTau ?? pick(GRID, (t) => (w) => (w <= t ? w : 0)),
    lambda: opts.drosLambda ?? pick(GRID, (l) => (w) => shrink(w, l)),
  };
}

/**
 * What a bootstrap resample needs, as flat typed arrays only (so it can be shared with worker threads): the
 * groups' model sums and the replays' sums.
 */
export interface BootInput {
  K: number;
  dim: number;
  G: number;
  k: number;
  ridge: number;
  fold: Int32Array;
  gram: Float64Array;
  mom: Float64Array;
  n: Float64Array;
  r: Float64Array;
  replays: { T: Float64Array; U: Float64Array; Usw: Float64Array; Uos: Float64Array; sc: Float64Array }[];
}

/** Sums of one bootstrap resample (group multiplicities m) for one replay, with the fold models refitted. */
function resampleSums(bi: BootInput, replay: number, m: Int32Array): Sums {
  const { K, dim, G } = bi;
  const rs = bi.replays[replay];
  const theta = foldModels({ K, dim }, { G, k: bi.k, fold: bi.fold }, { gram: bi.gram, mom: bi.mom }, m, bi.ridge);
  const k = bi.k;
  const L = K * dim;
  const Tf = new Float64Array(k * L);
  const Uf = new Float64Array(k * L);
  const Swf = new Float64Array(k * L);
  const Osf = new Float64Array(k * L);
  const s = emptySums();
  for (let gi = 0; gi < G; gi++) {
    const c = m[gi];
    if (c === 0) continue;
    const f = bi.fold[gi] * L;
    const o = gi * L;
    addScaled(Tf, f, rs.T, o, L, c);
    addScaled(Uf, f, rs.U, o, L, c);
    addScaled(Swf, f, rs.Usw, o, L, c);
    addScaled(Osf, f, rs.Uos, o, L, c);
    s.n += c * bi.n[gi];
    s.r += c * bi.r[gi];
    const q = gi * NSC;
    s.wr += c * rs.sc[q + SC.wr];
    s.w += c * rs.sc[q + SC.w];
    s.match += c * rs.sc[q + SC.match];
    s.matchR += c * rs.sc[q + SC.matchR];
    s.sw += c * rs.sc[q + SC.swR];
    s.os += c * rs.sc[q + SC.osR];
  }
  let tq = 0;
  let uq = 0;
  let swq = 0;
  let osq = 0;
  for (let i = 0; i < k * L; i++) {
    const th = theta[i];
    tq += th * Tf[i];
    uq += th * Uf[i];
    swq += th * Swf[i];
    osq += th * Osf[i];
  }
  s.dm = tq;
  s.dr = s.wr - uq;
  s.sw -= swq;
  s.os -= osq;
  return s;
}

/**
 * Resamples [from, to) of the bootstrap: resample b uses replay b mod R and the multiplicities mults[b·G, (b+1)·G).
 * Returns (E + 1) values per resample: every estimator, then the logged value.
 */
export const ESTIMATOR_COUNT = ESTIMATORS.length;

export function runResamples(bi: BootInput, mults: Int32Array, from: number, to: number): Float64Array {
  const E = ESTIMATORS.length;
  const out = new Float64Array((to - from) * (E + 1));
  for (let b = from; b < to; b++) {
    const s = resampleSums(bi, b % bi.replays.length, mults.subarray(b * bi.G, (b + 1) * bi.G));
    const o = (b - from) * (E + 1);
    for (let e = 0; e < E; e++) out[o + e] = ESTIMATORS[e].value(s);
    out[o + E] = s.r / s.n;
  }
  return out;
}

/** The multiplicities of B resamples of G groups (multinomial, seeded): B × G. */
export function drawMultiplicities(G: number, B: number, seed: number): Int32Array {
  const boot = new Mulberry32(seed ^ 0x5bd1e995);
  const m = new Int32Array(B * G);
  for (let b = 0; b < B; b++) for (let k = 0; k < G; k++) m[b * G + Math.floor(boot.next() * G)]++;
  return m;
}

/**
 * Bootstrap groups: every row its own group up to 1000 rows (the ordinary bootstrap), else 1000 random groups —
 * fewer (down to 200) when the per-group sums are large, so that one resample costs at most ~4M additions.
 */
function groupCount(d: Prepared, replays: number, maxGroups: number | undefined): number {
  const perGroup = d.K * (packedSize(d.dim) + d.dim) + 4 * d.K * d.dim + 2 + NSC;
  const byWork = Math.max(200, Math.floor(4e6 / perGroup));
  const byMemory = Math.max(100, Math.floor(4e7 / (perGroup + (replays - 1) * (4 * d.K * d.dim + NSC))));
  return Math.max(1, Math.min(d.n, maxGroups ?? 1000, byWork, byMemory));
}

/** Everything before the bootstrap: validated data, groups, fold models, replays, tuning. */
export interface Plan {
  opts: EvaluateOptions;
  seed: number;
  B: number;
  level: number;
  clip: number | null;
  d: Prepared;
  groups: Groups;
  first: TargetPolicy;
  R: number;
  seeds: number[];
  fig: RowFigures;
  tuning: Tuning;
  replays: ReplaySums[];
  boot: BootInput;
  /** Multiplicities of every resample (B × G). */
  mults: Int32Array;
}

export function plan(logRows: readonly LogRow[], policySpec: PolicySpec, opts: EvaluateOptions = {}): Plan {
  const seed = opts.seed ?? 1;
  const B = opts.bootstrap ?? 500;
  const ridge = opts.ridge ?? 1;
  const clip = opts.clip ?? null;
  if (clip !== null && !(clip > 0)) throw new EvaluationError(`clip: must be a positive number, got ${clip}`);
  const parsed = parsePolicySpec(policySpec);
  const d = prepare(logRows, opts);
  const policyAt = () =>
    buildPolicy(parsed, d.actions, d.dim, { slots: d.slots, shares: d.shares, resolve: opts.resolve });
  const first = policyAt();
  const R = Math.max(1, opts.replays ?? (first.stochastic ? 10 : 1));
  const G = groupCount(d, R, opts.maxGroups);
  const groups = makeGroups(d.n, G, Math.max(1, Math.min(opts.folds ?? 5, G)), seed);
  const ms = modelSums(d, groups);
  const theta = foldModels(d, groups, ms, null, ridge);
  const total = R + B;
  // Replays: the first also gives the per-row figures (diagnostics, tuning), then its tuned sums.
  const seeds = Array.from({ length: R }, (_, r) => (seed + r * 0x9e3779b1) >>> 0);
  const fig: RowFigures = {
    w: new Float64Array(d.n),
    pi: new Float64Array(d.n),
    dm: new Float64Array(d.n),
    qa: new Float64Array(d.n),
    matches: 0,
    emptyPmf: 0,
  };
  const r0 = replayPass(d, groups, first, theta, seeds[0], clip, null, fig);
  const tuning = tune(d, fig, clip, opts);
  addTunedPass(d, groups, r0, fig, clip, tuning);
  const replays: ReplaySums[] = [r0];
  opts.onProgress?.(1, total);
  for (let r = 1; r < R; r++) {
    replays.push(replayPass(d, groups, policyAt(), theta, seeds[r], clip, tuning, null));
    opts.onProgress?.(r + 1, total);
  }
  const boot: BootInput = {
    K: d.K,
    dim: d.dim,
    G,
    k: groups.k,
    ridge,
    fold: groups.fold,
    gram: ms.gram,
    mom: ms.mom,
    n: ms.n,
    r: ms.r,
    replays: replays.map(({ T, U, Usw, Uos, sc }) => ({ T, U, Usw, Uos, sc })),
  };
  return {
    opts,
    seed,
    B,
    level: opts.level ?? 0.95,
    clip,
    d,
    groups,
    first,
    R,
    seeds,
    fig,
    tuning,
    replays,
    boot,
    mults: drawMultiplicities(G, B, seed),
  };
}

export function evaluateLogs(
  logRows: readonly LogRow[],
  policySpec: PolicySpec,
  opts: EvaluateOptions = {},
): EvaluationResult {
  const p = plan(logRows, policySpec, opts);
  const draws = new Float64Array(p.B * (ESTIMATORS.length + 1));
  const step = 10;
  for (let b = 0; b < p.B; b += step) {
    const to = Math.min(p.B, b + step);
    draws.set(runResamples(p.boot, p.mults, b, to), b * (ESTIMATORS.length + 1));
    opts.onProgress?.(p.R + to, p.R + p.B);
  }
  return finish(p, draws);
}

/** The result from the plan and the bootstrap draws (B × (E + 1): every estimator, then the logged value). */
export function finish(p: Plan, draws: Float64Array): EvaluationResult {
  const { d, R, B, level, fig, groups, tuning, opts } = p;
  const E = ESTIMATORS.length;
  const bootEst = ESTIMATORS.map(() => new Float64Array(B));
  const bootLift = ESTIMATORS.map(() => new Float64Array(B));
  const bootLogged = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const l = draws[b * (E + 1) + E];
    bootLogged[b] = l;
    for (let e = 0; e < E; e++) {
      const v = draws[b * (E + 1) + e];
      bootEst[e][b] = v;
      bootLift[e][b] = v - l;
    }
  }
  const alpha = (1 - level) / 2;
  const ci = (value: number, xs: Float64Array): Interval => {
    const finite = Float64Array.from(xs.filter((x) => Number.isFinite(x))).sort();
    if (finite.length === 0) return { value, ciLow: NaN, ciHigh: NaN };
    return { value, ciLow: percentile(finite, alpha), ciHigh: percentile(finite, 1 - alpha) };
  };
  const r0 = p.replays[0];
  const logged = r0.point.r / r0.point.n;
  const estimates: EstimateResult[] = ESTIMATORS.map((e, k) => {
    const values = p.replays.map((rs) => e.value(rs.point));
    const value = R === 1 ? values[0] : values.reduce((s, c) => s + c, 0) / R;
    return {
      estimator: e.name,
      ...ci(value, bootEst[k]),
      lift: ci(value - logged, bootLift[k]),
      liftRelative: logged !== 0 ? (value - logged) / Math.abs(logged) : null,
      rows: e.name === "replay" ? fig.matches : d.n,
      replayRange: [Math.min(...values), Math.max(...values)],
    };
  });
  const diag = diagnose(d, fig, p.clip, opts.tinyPropensity ?? 0.01);
  const warnings = [...inputWarnings(d, fig, p.first, R), ...diag.warnings, ...intervalWarnings(estimates, level)];
  const G = groups.G;
  const over = G === d.n ? "rows" : `${G} random groups of rows`;
  const refit = `reward model refitted on every resample (${groups.k}-fold cross-fitting)`;
  const method =
    R > 1
      ? `percentile bootstrap over ${over} × ${R} replays of the policy with different seeds (resample b uses replay b mod ${R}); the estimate is the mean over the replays; ${refit}`
      : `percentile bootstrap over ${over}; ${refit}`;
  return {
    policy: p.first.description,
    objective: opts.objective ?? "conversions",
    rows: d.n,
    actions: d.actions,
    slots: d.slots,
    logged: ci(logged, bootLogged),
    estimates,
    ess: diag.weights.ess,
    essShare: diag.weights.essShare,
    propensity: diag.propensity,
    weights: diag.weights,
    topRows: diag.topRows,
    clip: diag.clip,
    model: {
      folds: groups.k,
      ridge: p.boot.ridge,
      features: d.dim,
      switchTau: tuning.tau,
      drosLambda: tuning.lambda,
      tuned: opts.switchTau === undefined || opts.drosLambda === undefined,
    },
    interval: { method, bootstrap: B, groups: G, replays: R, seeds: p.seeds },
    warnings,
    seed: p.seed,
    bootstrap: B,
    level,
  };
}

/** The first replay's Switch-DR and DRos sums, once τ and λ are known (from its stored per-row figures). */
function addTunedPass(d: Prepared, g: Groups, rs: ReplaySums, f: RowFigures, clip: number | null, t: Tuning): void {
  const { K, dim } = d;
  for (let j = 0; j < d.n; j++) {
    const wc = clip === null ? f.w[j] : Math.min(f.w[j], clip);
    const gi = g.of[j];
    const x = d.X.subarray(j * dim, (j + 1) * dim);
    addTuned(rs.Usw, rs.Uos, rs.sc, rs.point, (gi * K + d.A[j]) * dim, gi * NSC, x, wc, d.R[j], f.qa[j], t);
  }
}

function inputWarnings(d: Prepared, f: RowFigures, policy: TargetPolicy, R: number): string[] {
  const w: string[] = [];
  const c = d.counts;
  if (c.missing > 0)
    w.push(
      `${c.missing} of ${c.total} rows have no propensity: estimated by the action's share of the logs (--estimate-propensity), which is only right for a context-free logging policy; IPS, SNIPS and the DR family may be biased`,
    );
  if (c.zero > 0) w.push(`${c.zero} rows have propensity 0 and were dropped: no estimator can reweight them`);
  if (c.neverLogged.length > 0)
    w.push(
      `${c.neverLogged.length} of ${d.K} actions were never logged (${c.neverLogged.join(", ")}): what the policy earns on them comes from the reward model only (DM and the DR family); IPS, SNIPS and replay count it as 0`,
    );
  if (f.emptyPmf > 0)
    w.push(
      `${f.emptyPmf} rows had none of the policy's actions available: the policy was taken as uniform over the available ones there`,
    );
  const uniformLogs = d.P.every((p, j) => {
    const k = d.avail ? d.avail.subarray(j * d.K, (j + 1) * d.K).reduce((s, x) => s + x, 0) : d.K;
    return Math.abs(p - 1 / k) < 1e-9;
  });
  if (!uniformLogs)
    w.push(
      "logging was not uniform: the replay estimate is only unbiased for uniformly logged data; prefer IPS / SNIPS / DR",
    );
  if (f.matches < 30) w.push(`replay kept only ${f.matches} rows: its estimate is unreliable`);
  if (policy.stochastic && R === 1)
    w.push("the policy has its own randomness but was replayed once: its intervals ignore the spread across seeds");
  return w;
}

function intervalWarnings(estimates: EstimateResult[], level: number): string[] {
  return estimates
    .filter((e) => Number.isFinite(e.ciLow) && e.ciLow === e.ciHigh)
    .map(
      (e) =>
        `${e.estimator}: the ${level * 100}% interval has zero width ([${e.ciLow}, ${e.ciHigh}]): every resample gave the same value, which says nothing about its uncertainty (too few rows, or rewards that never vary where it looks)`,
    );
}
