/**
 * The hour buckets as they were before the slab (a Map of bucket objects of ArmStats, commit 62be9c1 of
 * src/engine/buckets.ts), kept only as the reference the slab must agree with bit for bit
 * (test/engine/buckets-slab.test.ts). Not used by the service.
 */
import type { ArmStats } from "../../strategies/types.ts";
import { type BucketWeight, type FoldOptions, isMatured } from "../../src/engine/buckets.ts";
import { decayWeight, foldsIntoBase } from "../../src/engine/decay.ts";
import { meanCdf } from "../../src/engine/delay.ts";
import { addStats, zeroStats } from "../../src/engine/stats.ts";

interface Bucket {
  trials: ArmStats;
  /** Increments from events; `n` counts the decisions that converted. */
  rewards: ArmStats;
}

export interface MapArmBuckets {
  /** Matured buckets folded together, weighted as of `baseHour`. */
  base: ArmStats;
  baseHour: number;
  buckets: Map<number, Bucket>;
}

export const emptyMapArmBuckets = (dim: number, baseHour = 0): MapArmBuckets => ({
  base: zeroStats(dim),
  baseHour,
  buckets: new Map(),
});

function bucketAt(arm: MapArmBuckets, hour: number, dim: number): Bucket {
  let b = arm.buckets.get(hour);
  if (!b) arm.buckets.set(hour, (b = { trials: zeroStats(dim), rewards: zeroStats(dim) }));
  return b;
}

export interface RefWeigher {
  nowHours: number;
  opts: FoldOptions;
  weight(hour: number): BucketWeight;
}

/**
 * The weights of any bucket at `nowHours` (memoised per hour: shared by every arm of a campaign).
 * Decay ages are whole hours (hour of now − bucket hour); F̄ uses the exact ages.
 */
export function refBucketWeigher(nowHours: number, opts: FoldOptions): RefWeigher {
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

/** The trial of a decision made in `hour` counts (at the decision, or at its first impression). */
export function refAddTrial(arm: MapArmBuckets, hour: number, delta: ArmStats, dim: number, sign = 1): void {
  addStats(bucketAt(arm, hour, dim).trials, delta, sign);
}

/** An event changed the reward of a decision made in `hour` (delta.n = 1 when it is the decision's first). */
export function refAddReward(arm: MapArmBuckets, hour: number, delta: ArmStats, dim: number, sign = 1): void {
  addStats(bucketAt(arm, hour, dim).rewards, delta, sign);
}

/** The totals a strategy sees for one arm at the weigher's `now` (delay-aware floor included). */
export function refFoldArm(arm: MapArmBuckets, weigher: RefWeigher, dim: number): ArmStats {
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
export function refCompactArm(arm: MapArmBuckets, nowHours: number, opts: FoldOptions, dim: number): void {
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
