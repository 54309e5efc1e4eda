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

export interface Bucket {
  trials: ArmStats;
  /** Increments from events; `n` counts the decisions that converted. */
  rewards: ArmStats;
}

export interface ArmBuckets {
  /** Matured buckets folded together, weighted as of `baseHour`. */
  base: ArmStats;
  baseHour: number;
  buckets: Map<number, Bucket>;
}

export type TrialCounting = "delay-aware" | "at-decision" | "matured-only";

export interface FoldOptions {
  counting: TrialCounting;
  /** The delay model (its window decides maturity in every mode). */
  delay: DelayShape;
  decay?: DecaySpec;
}

export const emptyArmBuckets = (dim: number, baseHour = 0): ArmBuckets => ({
  base: zeroStats(dim),
  baseHour,
  buckets: new Map(),
});

function bucketAt(arm: ArmBuckets, hour: number, dim: number): Bucket {
  let b = arm.buckets.get(hour);
  if (!b) arm.buckets.set(hour, (b = { trials: zeroStats(dim), rewards: zeroStats(dim) }));
  return b;
}

/** The trial of a decision made in `hour` counts (at the decision, or at its first impression). */
export function addTrial(arm: ArmBuckets, hour: number, delta: ArmStats, dim: number, sign = 1): void {
  addStats(bucketAt(arm, hour, dim).trials, delta, sign);
}

/** An event changed the reward of a decision made in `hour` (delta.n = 1 when it is the decision's first). */
export function addReward(arm: ArmBuckets, hour: number, delta: ArmStats, dim: number, sign = 1): void {
  addStats(bucketAt(arm, hour, dim).rewards, delta, sign);
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

/** The weights of every bucket at one `now`, for one campaign's options. */
export interface Weigher {
  nowHours: number;
  opts: FoldOptions;
  weight(hour: number): BucketWeight;
}

/**
 * The weights of any bucket at `nowHours` (memoised per hour: shared by every arm of a campaign).
 * Decay ages are whole hours (hour of now − bucket hour); F̄ uses the exact ages.
 */
export function bucketWeigher(nowHours: number, opts: FoldOptions): Weigher {
  const nowHour = Math.floor(nowHours);
  const memo = new Map<number, BucketWeight>();
  const W = opts.delay.windowHours;
  const weight = (hour: number): BucketWeight => {
    let w = memo.get(hour);
    if (w) return w;
    const d = decayWeight(opts.decay, nowHour - hour);
    if (opts.counting === "at-decision") w = { trial: d, reward: d };
    else if (opts.counting === "matured-only") {
      const m = isMatured(hour, nowHours, W) ? d : 0;
      w = { trial: m, reward: m };
    } else {
      const F = isMatured(hour, nowHours, W) ? 1 : meanCdf(opts.delay, nowHours - hour - 1, nowHours - hour);
      w = { trial: d * F, reward: d };
    }
    memo.set(hour, w);
    return w;
  };
  return { nowHours, opts, weight };
}

/** The totals a strategy sees for one arm at the weigher's `now` (delay-aware floor included). */
export function foldArm(arm: ArmBuckets, weigher: Weigher, dim: number): ArmStats {
  const { nowHours, opts } = weigher;
  const out = zeroStats(dim);
  const baseW = foldsIntoBase(opts.decay) ? decayWeight(opts.decay, Math.floor(nowHours) - arm.baseHour) : 0;
  if (baseW > 0) addStats(out, arm.base, baseW);
  const hours = [...arm.buckets.keys()].sort((a, b) => a - b);
  for (const h of hours) {
    const b = arm.buckets.get(h)!;
    const w = weigher.weight(h);
    let trial = w.trial;
    const n0 = out.n;
    let nAdd = trial * b.trials.n;
    if (opts.counting === "delay-aware" && b.trials.n > 0 && w.reward > 0) {
      // A converted decision has arrived: the bucket counts at least its converted share of trials. n gets
      // max(φ·n, ρ·converted) exactly, so that Σ n ≥ Σ ρ·converted = Σr holds in floating point too.
      const floor = w.reward * Math.min(b.trials.n, b.rewards.n);
      if (floor > nAdd) {
        trial = floor / b.trials.n;
        nAdd = floor;
      }
    }
    if (trial !== 0) {
      addStats(out, b.trials, trial);
      out.n = n0 + nAdd;
    }
    if (w.reward !== 0) {
      const n = out.n;
      addStats(out, b.rewards, w.reward);
      out.n = n; // rewards.n counts conversions, not trials
    }
  }
  return out;
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
    for (const h of [...arm.buckets.keys()]) if (decayWeight(opts.decay, nowHour - h) === 0) arm.buckets.delete(h);
    return;
  }
  const matured = [...arm.buckets.keys()].filter((h) => isMatured(h, nowHours, W)).sort((a, b) => a - b);
  if (matured.length === 0) return;
  if (arm.baseHour !== nowHour) {
    const f = decayWeight(opts.decay, nowHour - arm.baseHour);
    if (f !== 1) {
      const scaled = zeroStats(dim);
      addStats(scaled, arm.base, f);
      arm.base = scaled;
    }
    arm.baseHour = nowHour;
  }
  for (const h of matured) {
    const b = arm.buckets.get(h)!;
    const w = decayWeight(opts.decay, nowHour - h);
    addStats(arm.base, b.trials, w);
    const n = arm.base.n;
    addStats(arm.base, b.rewards, w);
    arm.base.n = n;
    arm.buckets.delete(h);
  }
}
