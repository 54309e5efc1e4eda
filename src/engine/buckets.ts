/**
 * Time-bucketed arm statistics: per arm, per hour of decision, the commutative sums of strategies/types.ts
 * (`ArmStats`), and the fold that turns them into the totals a strategy sees (`setArmStats`) at a given `now`.
 * Pure functions: no I/O, no clock (time is hours since the Unix epoch, passed in).
 *
 * A bucket is keyed by the hour of the decision, and holds two parts, both plain increments:
 * - `trials`: what is counted when the trial counts (at the decision, or at its first impression):
 *   n = 1, Σr and Σr² of the decision-time reward (0, or −cost for profit), Σxxᵀ, Σr·x;
 * - `rewards`: what the decision's events add later — in the DECISION's bucket, however late they come:
 *   Σ Δr, Σ (r_new² − r_old²), Σ Δr·x, and n = decisions whose reward an event changed ("converted").
 * Replicas add both into the database in any order and agree.
 *
 * The fold, at `now`, for a bucket of age a (decay.ts) and decisions spread over ages [a₀, a₁]:
 *   trial weight  φ = decay(a)·F̄     on n, and on the trials part of Σr, Σr², Σxxᵀ, Σr·x;
 *   reward weight ρ = decay(a)       on the rewards part,
 * where F̄ = mean of the delay model's F over [a₀, a₁] (delay.ts), the share of the conversions that will
 * count which have had time to arrive. Counting modes: `delay-aware` (that), `at-decision` (F̄ = 1: a
 * pending decision is a failed trial until it converts — the biased baseline) and `matured-only` (only
 * buckets whose every decision is older than the window, trials and rewards alike: unbiased but late).
 * In delay-aware mode F̄ is raised to the bucket's converted share (a converted decision has certainly
 * arrived), which also keeps Σr ≤ n for Beta–Bernoulli strategies.
 *
 * What this gives each strategy (E over the not-yet-arrived conversions, assumed like the arrived ones):
 * - Beta (thompson, top_two_thompson): α = α₀ + ΣρS, β = β₀ + Σφn − ΣρS; E[S]/E[Σφn] = p: the
 *   expected-trials approximation of the delayed likelihood Π (pF)^y (1 − pF)^(1−y) (Vernade et al. 2017).
 * - Normal–Inverse-Gamma (gaussian_thompson): n, Σr, Σr² weighted as above estimate the count, the mean and
 *   the second moment consistently (the decision-time part of r and r² scales with n, the event part is
 *   what has arrived), so x̄ = Σr/n and M2 = Σr² − (Σr)²/n are consistent; the posterior is the weighted
 *   likelihood's — exact for the weights, approximate in treating expected trials as observed.
 * - ridge (linucb, lin_ts): A = λI + Σφxxᵀ, b = Σ(φ·r₀x + ρΔr·x): weighted least squares, consistent
 *   when arrival does not depend on x.
 * - logistic_ts: its setArmStats rebuild from (n, Σr, Σxxᵀ, Σr·x) takes the weighted sums alike (that
 *   rebuild is approximate already; see logistic_ts.ts).
 * With decay only (no delays, at-decision), every weight is decay(a): exact weighted sums.
 *
 * Old buckets do not pile up (`compactArm`): a bucket whose decisions are all older than the window is
 * matured (F̄ = 1, and no further event teaches), so it folds into `base` — exactly, for no decay or an
 * exponential one: base(h₁) = decay(h₁ − h₀)·base(h₀) + Σ decay(h₁ − h)·bucket(h). A sliding window keeps
 * its N buckets and drops older ones. A late increment to an already folded hour just creates the bucket
 * again and is folded at the next compaction (the base is a sum). Buckets are summed in hour order, so
 * every replica computes the same floating-point totals from the same buckets and the same `now`.
 */
import type { ArmStats } from "../../strategies/types.ts";
import { decayWeight, foldsIntoBase, type DecaySpec } from "./decay.ts";
import { meanCdf, type DelayShape } from "./delay.ts";
import { addStats, zeroStats } from "./stats.ts";

export const HOUR_MS = 3_600_000;
/** Hour bucket (hours since the Unix epoch) of an instant in ms. */
export const hourOf = (ms: number): number => Math.floor(ms / HOUR_MS);
/** An instant in ms as fractional hours since the epoch (the `now` of the fold). */
export const hoursOf = (ms: number): number => ms / HOUR_MS;

/** One bucket's two parts, as plain statistics (a copy: `bucketEntries`, for loads and tests). */
export interface Bucket {
  trials: ArmStats;
  /** Increments from events; `n` counts the decisions that converted. */
  rewards: ArmStats;
}

/**
 * An arm's buckets, compact: one Float64Array holds every bucket in ascending hour order, `bucketWidth(dim)`
 * doubles each — the hour, then the trials part (n, Σr, Σr², Σxxᵀ row-major, Σr·x), then the rewards part
 * (n, Σr, Σr², Σr·x). The rewards part has no Σxxᵀ: an event changes a decision's reward, never its context
 * (rewardIncrement carries none), and its zeros added nothing to the fold. A Map of bucket objects of
 * ArmStats objects took ~290 B per non-contextual bucket; this takes 56 (bench/campaign-memory.ts).
 * Only this module reads the layout; everyone else goes through addTrial / addReward / foldArm / compactArm.
 */
export interface ArmBuckets {
  /** Matured buckets folded together, weighted as of `baseHour`. */
  base: ArmStats;
  baseHour: number;
  /** Buckets in use: the first `count · bucketWidth(dim)` doubles of `slab` (its capacity may be larger). */
  count: number;
  slab: Float64Array;
}

export type TrialCounting = "delay-aware" | "at-decision" | "matured-only";

export interface FoldOptions {
  counting: TrialCounting;
  /** The delay model (its window decides maturity in every mode). */
  delay: DelayShape;
  decay?: DecaySpec;
}

/** Doubles of a trials part (n, Σr, Σr², Σxxᵀ, Σr·x) and of a rewards part (n, Σr, Σr², Σr·x). */
const trialWidth = (dim: number): number => 3 + dim * dim + dim;
const rewardWidth = (dim: number): number => 3 + dim;
/** Doubles per bucket in the slab: the hour, its trials part, its rewards part. */
export const bucketWidth = (dim: number): number => 1 + trialWidth(dim) + rewardWidth(dim);

/** Every arm without buckets shares this one (most arms of most campaigns never hold a pending trial). */
const NO_SLAB = new Float64Array(0);

export const emptyArmBuckets = (dim: number, baseHour = 0): ArmBuckets => ({
  base: zeroStats(dim),
  baseHour,
  count: 0,
  slab: NO_SLAB,
});

/** Hours of an arm's buckets, ascending. */
export function bucketHours(arm: ArmBuckets, dim: number): number[] {
  const S = bucketWidth(dim);
  return Array.from({ length: arm.count }, (_, i) => arm.slab[i * S]!);
}

/** Index of bucket `hour`, or −(insertion point) − 1 when there is none (binary search on the hours). */
function findBucket(arm: ArmBuckets, hour: number, S: number): number {
  let lo = 0;
  let hi = arm.count - 1;
  // Most increments go to the newest hour: look there first.
  if (hi >= 0 && arm.slab[hi * S] === hour) return hi;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const h = arm.slab[mid * S]!;
    if (h === hour) return mid;
    if (h < hour) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

/** Offset of bucket `hour` in the slab, the bucket created (zeros, in hour order) when missing. */
function bucketAt(arm: ArmBuckets, hour: number, dim: number): number {
  const S = bucketWidth(dim);
  const i = findBucket(arm, hour, S);
  if (i >= 0) return i * S;
  const at = -i - 1;
  if ((arm.count + 1) * S > arm.slab.length) {
    // Grows by half (at least two buckets): a steady campaign adds one bucket an hour.
    const capacity = Math.max(arm.count + 2, Math.ceil(arm.count * 1.5));
    const grown = new Float64Array(capacity * S);
    grown.set(arm.slab.subarray(0, arm.count * S));
    arm.slab = grown;
  }
  const o = at * S;
  arm.slab.copyWithin(o + S, o, arm.count * S);
  arm.slab.fill(0, o, o + S);
  arm.slab[o] = hour;
  arm.count++;
  return o;
}

/**
 * slab[o…] += sign · delta for one part: n, Σr, Σr², then Σxxᵀ (trials only, `withXx`) and Σr·x. The same
 * operations, in the same order, as stats.ts `addStats` on an ArmStats (a missing array counts as zeros).
 */
function addIntoSlab(slab: Float64Array, o: number, delta: ArmStats, dim: number, withXx: boolean, sign: number): void {
  slab[o] = slab[o]! + sign * delta.n;
  slab[o + 1] = slab[o + 1]! + sign * delta.sum;
  slab[o + 2] = slab[o + 2]! + sign * delta.sumSq;
  if (dim === 0) return;
  let p = o + 3;
  if (withXx) {
    const xx = delta.xx;
    if (xx) for (let i = 0, m = Math.min(xx.length, dim * dim); i < m; i++) slab[p + i] = slab[p + i]! + sign * xx[i]!;
    p += dim * dim;
  }
  const xr = delta.xr;
  if (xr) for (let i = 0, m = Math.min(xr.length, dim); i < m; i++) slab[p + i] = slab[p + i]! + sign * xr[i]!;
}

/** target += w · (the part at slab[o…]), as `addStats(target, part, w)` would (n included). */
function addFromSlab(target: ArmStats, slab: Float64Array, o: number, dim: number, withXx: boolean, w: number): void {
  target.n += w * slab[o]!;
  target.sum += w * slab[o + 1]!;
  target.sumSq += w * slab[o + 2]!;
  if (dim === 0) return;
  let p = o + 3;
  const xx = target.xx;
  if (withXx) {
    if (xx) for (let i = 0; i < dim * dim; i++) xx[i] += w * slab[p + i]!;
    p += dim * dim;
  }
  const xr = target.xr;
  if (xr) for (let i = 0; i < dim; i++) xr[i] += w * slab[p + i]!;
}

/** A part of the slab as plain statistics (a copy; a rewards part's Σxxᵀ is zeros, as it always was). */
function partOf(slab: Float64Array, o: number, dim: number, withXx: boolean): ArmStats {
  const s = zeroStats(dim);
  addFromSlab(s, slab, o, dim, withXx, 1);
  return s;
}

/** An arm's buckets in hour order, as copies (loads, tests; the hot paths read the slab). */
export function bucketEntries(arm: ArmBuckets, dim: number): [hour: number, bucket: Bucket][] {
  const S = bucketWidth(dim);
  const T = 1 + trialWidth(dim);
  const out: [number, Bucket][] = [];
  for (let i = 0; i < arm.count; i++) {
    const o = i * S;
    out.push([
      arm.slab[o]!,
      { trials: partOf(arm.slab, o + 1, dim, true), rewards: partOf(arm.slab, o + T, dim, false) },
    ]);
  }
  return out;
}

/** The trial of a decision made in `hour` counts (at the decision, or at its first impression). */
export function addTrial(arm: ArmBuckets, hour: number, delta: ArmStats, dim: number, sign = 1): void {
  // The offset first: bucketAt may replace the slab (a grown one).
  const o = bucketAt(arm, hour, dim);
  addIntoSlab(arm.slab, o + 1, delta, dim, true, sign);
}

/**
 * An event changed the reward of a decision made in `hour` (delta.n = 1 when it is the decision's first).
 * Its Σxxᵀ, if any, is not kept: a reward carries none (see ArmBuckets).
 */
export function addReward(arm: ArmBuckets, hour: number, delta: ArmStats, dim: number, sign = 1): void {
  const o = bucketAt(arm, hour, dim);
  addIntoSlab(arm.slab, o + 1 + trialWidth(dim), delta, dim, false, sign);
}

/** Every bucket's trials part of `from` added into `to` (the still-queued trials carried over a rebuild). */
export function addTrialsOf(to: ArmBuckets, from: ArmBuckets, dim: number): void {
  for (const [hour, b] of bucketEntries(from, dim)) addTrial(to, hour, b.trials, dim);
}

/**
 * target += sign · every bucket, trials and rewards, in hour order — but not the rewards' n (conversions are
 * not trials): what the buckets hold of an arm's all-time totals (timed.ts takes them out of the base).
 */
export function addBucketsTo(target: ArmStats, arm: ArmBuckets, dim: number, sign = 1): void {
  const S = bucketWidth(dim);
  const T = 1 + trialWidth(dim);
  for (let i = 0; i < arm.count; i++) {
    const o = i * S;
    addFromSlab(target, arm.slab, o + 1, dim, true, sign);
    const n = target.n;
    addFromSlab(target, arm.slab, o + T, dim, false, sign);
    target.n = n;
  }
}

/**
 * Room for `counts[i]` more buckets (+ `spare`, the next hour's) in arm i, every arm's slab a view of one
 * campaign-level Float64Array: a campaign read back from the database allocates once, not ~8 growth steps
 * per arm (bench:memory: 2.5× faster to build at 48 h of buckets, same bytes). An arm that outgrows its view
 * gets a slab of its own (bucketAt); an arm with no bucket to come gets none.
 */
export function reserveBuckets(arms: readonly ArmBuckets[], counts: readonly number[], dim: number, spare = 1): void {
  const S = bucketWidth(dim);
  const room = arms.map((a, i) => ((counts[i] ?? 0) > 0 ? a.count + counts[i]! + spare : 0));
  const slab = new Float64Array(room.reduce((t, r) => t + r, 0) * S);
  let at = 0;
  arms.forEach((a, i) => {
    if (room[i] === 0) return;
    const view = slab.subarray(at * S, (at + room[i]!) * S);
    view.set(a.slab.subarray(0, a.count * S));
    a.slab = view;
    at += room[i]!;
  });
}

export interface BucketWeight {
  /** On n and the trials part (before the converted-share floor). */
  trial: number;
  /** On the rewards part. */
  reward: number;
}

/** Whether every decision of bucket `hour` is older than the window at `nowHours`. */
export const isMatured = (hour: number, nowHours: number, windowHours: number): boolean =>
  hour + 1 + windowHours <= nowHours;

/** Ages (hours) whose weights a weigher memoises; a bucket older (or in the future) is weighed each time. */
const MEMO_AGES = 24 * 400;
const NO_WEIGHTS = new Float64Array(0);

/**
 * The weights of every bucket at one `now`, for one campaign's options, memoised per hour (shared by every
 * arm of the campaign): in one Float64Array by age, (trial, reward) pairs, NaN until computed — a Map of
 * weight objects per hour was 5 KB of a 48-hour campaign's memory. Decay ages are whole hours (hour of
 * now − bucket hour); F̄ uses the exact ages.
 */
export class Weigher {
  nowHour: number;
  /** The weights of the last `load`ed hour (read right after it: foldArm allocates nothing per bucket). */
  trial = 0;
  reward = 0;
  private memo = NO_WEIGHTS;

  constructor(
    public nowHours: number,
    public opts: FoldOptions,
  ) {
    this.nowHour = Math.floor(nowHours);
  }

  /**
   * The same weigher moved to another `now` (or options), its memo forgotten but its array kept: a
   * campaign's weights are reset at every posterior sync and ingest, and a fresh off-heap array each time
   * would cost more than the Map it replaced.
   */
  reset(nowHours: number, opts: FoldOptions): void {
    this.nowHours = nowHours;
    this.nowHour = Math.floor(nowHours);
    this.opts = opts;
    this.memo.fill(Number.NaN);
  }

  /** The weights of bucket `hour` as an object (tests, callers off the hot path). */
  weight(hour: number): BucketWeight {
    this.load(hour);
    return { trial: this.trial, reward: this.reward };
  }

  /** Sets `trial` and `reward` to the weights of bucket `hour`. */
  load(hour: number): void {
    const age = this.nowHour - hour;
    if (!(Number.isInteger(age) && age >= 0 && age < MEMO_AGES)) {
      this.compute(hour);
      return;
    }
    const i = 2 * age;
    if (i >= this.memo.length) {
      const grown = new Float64Array(Math.min(2 * MEMO_AGES, Math.max(2 * (age + 1), 2 * this.memo.length, 8)));
      grown.fill(Number.NaN);
      grown.set(this.memo);
      this.memo = grown;
    }
    const t = this.memo[i]!;
    if (!Number.isNaN(t)) {
      this.trial = t;
      this.reward = this.memo[i + 1]!;
      return;
    }
    this.compute(hour);
    this.memo[i] = this.trial;
    this.memo[i + 1] = this.reward;
  }

  private compute(hour: number): void {
    const { opts, nowHours } = this;
    const W = opts.delay.windowHours;
    const d = decayWeight(opts.decay, this.nowHour - hour);
    if (opts.counting === "at-decision") {
      this.trial = d;
      this.reward = d;
    } else if (opts.counting === "matured-only") {
      const m = isMatured(hour, nowHours, W) ? d : 0;
      this.trial = m;
      this.reward = m;
    } else {
      const F = isMatured(hour, nowHours, W) ? 1 : meanCdf(opts.delay, nowHours - hour - 1, nowHours - hour);
      this.trial = d * F;
      this.reward = d;
    }
  }
}

/** The weights of any bucket at `nowHours`. */
export const bucketWeigher = (nowHours: number, opts: FoldOptions): Weigher => new Weigher(nowHours, opts);

/** The totals a strategy sees for one arm at the weigher's `now` (delay-aware floor included). */
export function foldArm(arm: ArmBuckets, weigher: Weigher, dim: number): ArmStats {
  const { nowHours, opts } = weigher;
  const out = zeroStats(dim);
  const baseW = foldsIntoBase(opts.decay) ? decayWeight(opts.decay, Math.floor(nowHours) - arm.baseHour) : 0;
  if (baseW > 0) addStats(out, arm.base, baseW);
  const S = bucketWidth(dim);
  const T = 1 + trialWidth(dim);
  const slab = arm.slab;
  for (let i = 0; i < arm.count; i++) {
    const o = i * S;
    weigher.load(slab[o]!);
    const reward = weigher.reward;
    const trialsN = slab[o + 1]!;
    let trial = weigher.trial;
    const n0 = out.n;
    let nAdd = trial * trialsN;
    if (opts.counting === "delay-aware" && trialsN > 0 && reward > 0) {
      // A converted decision has arrived: the bucket counts at least its converted share of trials. n gets
      // max(φ·n, ρ·converted) exactly, so that Σ n ≥ Σ ρ·converted = Σr holds in floating point too.
      const floor = reward * Math.min(trialsN, slab[o + T]!);
      if (floor > nAdd) {
        trial = floor / trialsN;
        nAdd = floor;
      }
    }
    if (trial !== 0) {
      addFromSlab(out, slab, o + 1, dim, true, trial);
      out.n = n0 + nAdd;
    }
    if (reward !== 0) {
      const n = out.n;
      addFromSlab(out, slab, o + T, dim, false, reward);
      out.n = n; // rewards.n counts conversions, not trials
    }
  }
  return out;
}

/** Keeps the buckets `keep` says yes to, in order (in place). */
function retain(arm: ArmBuckets, dim: number, keep: (hour: number) => boolean): void {
  const S = bucketWidth(dim);
  let kept = 0;
  for (let i = 0; i < arm.count; i++) {
    const o = i * S;
    if (!keep(arm.slab[o]!)) continue;
    if (kept !== i) arm.slab.copyWithin(kept * S, o, o + S);
    kept++;
  }
  arm.count = kept;
}

/**
 * Keeps an arm's buckets bounded at `nowHours`: matured buckets fold into the base (re-referenced to the
 * hour of now) when the decay allows it; with a sliding window, buckets that left it are dropped.
 * The fold at any later `now` is unchanged by a compaction (up to rounding).
 */
export function compactArm(arm: ArmBuckets, nowHours: number, opts: FoldOptions, dim: number): void {
  const nowHour = Math.floor(nowHours);
  const W = opts.delay.windowHours;
  if (!foldsIntoBase(opts.decay)) {
    retain(arm, dim, (h) => decayWeight(opts.decay, nowHour - h) !== 0);
    return;
  }
  // Maturity is monotone in the hour, and the slab is in hour order: the matured buckets are a prefix.
  const S = bucketWidth(dim);
  const T = 1 + trialWidth(dim);
  let matured = 0;
  while (matured < arm.count && isMatured(arm.slab[matured * S]!, nowHours, W)) matured++;
  if (matured === 0) return;
  if (arm.baseHour !== nowHour) {
    const f = decayWeight(opts.decay, nowHour - arm.baseHour);
    if (f !== 1) {
      const scaled = zeroStats(dim);
      addStats(scaled, arm.base, f);
      arm.base = scaled;
    }
    arm.baseHour = nowHour;
  }
  for (let i = 0; i < matured; i++) {
    const o = i * S;
    const w = decayWeight(opts.decay, nowHour - arm.slab[o]!);
    addFromSlab(arm.base, arm.slab, o + 1, dim, true, w);
    const n = arm.base.n;
    addFromSlab(arm.base, arm.slab, o + T, dim, false, w);
    arm.base.n = n;
  }
  arm.slab.copyWithin(0, matured * S, arm.count * S);
  arm.count -= matured;
}
