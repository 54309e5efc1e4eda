/**
 * One campaign's time-aware statistics: every arm's hour buckets (buckets.ts), the observed delays
 * (delay.ts) and the options that turn them into what the strategy sees. Pure (no I/O, no clock: `now`
 * is passed in hours since the epoch), so the service's engine and the simulator run the same code.
 *
 *   trial(arm, hour, delta)          a trial counts (decision or first impression), in its decision's hour
 *   reward(arm, hour, delta, delay)  an event changed that decision's reward; `delay` = hours since it
 *   refresh(now, refit?)             the delay model in use, compaction, and the weights of every bucket
 *   fold(arm)                        the totals to hand to `setArmStats` at the last refresh's `now`
 */
import type { ArmStats } from "../../strategies/types.ts";
import {
  addBucketsTo,
  addReward,
  addTrial,
  bucketWeigher,
  compactArm,
  emptyArmBuckets,
  foldArm,
  type ArmBuckets,
  type FoldOptions,
  type TrialCounting,
  reserveBuckets,
  type Weigher,
} from "./buckets.ts";
import { checkDecay, type DecaySpec } from "./decay.ts";
import {
  addDelay,
  DELAY_BINS,
  delayQuantiles,
  emptyDelayCounts,
  learnDelay,
  matureDelays,
  priorDelay,
  type ConversionDelaySpec,
  type DelayCounts,
  type DelayModel,
} from "./delay.ts";
import { DomainError } from "./errors.ts";
import { addStats } from "./stats.ts";

/** The shortest time between two refits of a delay model on new counts within one minute. */
export const REFIT_SECONDS = 1;

export interface TimedOptions {
  windowHours: number;
  counting?: TrialCounting;
  conversionDelay?: ConversionDelaySpec;
  decay?: DecaySpec;
  /**
   * Fold matured buckets into the base at refresh (default true: the simulator). The service keeps them
   * as the database has them and rebuilds from it instead (timedFromStored).
   */
  compact?: boolean;
}

export class TimedStats {
  readonly arms: ArmBuckets[];
  readonly delays: DelayCounts = emptyDelayCounts();
  readonly prior: DelayModel;
  model: DelayModel;
  private weigher: Weigher;
  private lastRefreshHour = -Infinity;
  /** Observed delays counted so far, and what the model in use was fitted on. */
  private observed = 0;
  private fit = { minute: -Infinity, observed: -1, atHours: -Infinity };

  constructor(
    armCount: number,
    readonly dim: number,
    readonly options: TimedOptions,
  ) {
    this.arms = Array.from({ length: armCount }, () => emptyArmBuckets(dim));
    this.prior = priorDelay(options.windowHours, options.conversionDelay);
    this.model = this.prior;
    this.weigher = bucketWeigher(0, this.foldOptions());
  }

  /** Delays observed since the model in use was fitted (a refit is due). */
  get refitPending(): boolean {
    return this.counting === "delay-aware" && this.observed !== this.fit.observed;
  }

  get counting(): TrialCounting {
    return this.options.counting ?? "delay-aware";
  }

  foldOptions(): FoldOptions {
    return { counting: this.counting, delay: this.model, decay: this.options.decay };
  }

  addArm(): number {
    return this.arms.push(emptyArmBuckets(this.dim)) - 1;
  }

  trial(arm: number, hour: number, delta: ArmStats, sign = 1): void {
    addTrial(this.arms[arm]!, hour, delta, this.dim, sign);
  }

  /** `delayHours` (when known) is recorded as an observed decision→conversion delay of cohort `hour`. */
  reward(arm: number, hour: number, delta: ArmStats, delayHours?: number, sign = 1): void {
    addReward(this.arms[arm]!, hour, delta, this.dim, sign);
    if (delayHours !== undefined && delta.n > 0 && delayHours <= this.options.windowHours) {
      addDelay(this.delays, hour, delayHours, sign);
      this.observed += sign;
    }
  }

  /**
   * At `nowHours`: the delay model in use is the fit of the observed delays as of the minute of `now`
   * (delay-aware counting, unless `learn: false`) — a function of (counts, minute) only, so replicas and
   * restarts that refit on the same counts agree. It is refitted when the minute changes, and on new counts
   * at most once per REFIT_SECONDS (`refit: "due"`, the default) or at once (`"now"`): a refit evaluates the
   * likelihood a few hundred times over every cohort of the window (2 to 20 ms), and one per event batch
   * capped a campaign's ingest at tens of batches a second while it blocked the event loop. `refitPending`
   * says when the counts moved since the model in use; the live state refits those at its next refresh.
   * Once an hour, complete delay cohorts and matured buckets are folded. Every call sets the weights
   * `fold` uses.
   */
  refresh(nowHours: number, refit: "due" | "now" = "due"): void {
    const hour = Math.floor(nowHours);
    const minute = Math.floor(nowHours * 60) / 60;
    if (
      this.counting === "delay-aware" &&
      (minute !== this.fit.minute ||
        (this.observed !== this.fit.observed &&
          (refit === "now" || nowHours - this.fit.atHours >= REFIT_SECONDS / 3600)))
    ) {
      this.model = learnDelay(this.prior, this.delays, minute, this.options.conversionDelay?.learn ?? true);
      this.fit = { minute, observed: this.observed, atHours: nowHours };
    }
    if (hour !== this.lastRefreshHour) {
      this.lastRefreshHour = hour;
      matureDelays(this.delays, nowHours, this.options.windowHours);
      const o = this.foldOptions();
      if (this.options.compact !== false) for (const a of this.arms) compactArm(a, nowHours, o, this.dim);
    }
    this.weigher.reset(nowHours, this.foldOptions());
  }

  /** Delays added straight into `delays` (a load from the database). */
  countDelays(counts: readonly number[]): void {
    for (const c of counts) this.observed += c;
  }

  fold(arm: number): ArmStats {
    return foldArm(this.arms[arm]!, this.weigher, this.dim);
  }
}

/** One stored bucket row as the store reads it (src/store/buckets.ts). */
export interface StoredBucketStats {
  armKey: string;
  hour: number;
  n: number;
  sum: number;
  sumSq: number;
  xx: number[] | null;
  xr: number[] | null;
  converted: number;
  rewardSum: number;
  rewardSumSq: number;
  rewardXr: number[] | null;
}

const arr = (a: number[] | null, len: number): number[] | undefined =>
  len > 0 ? (a && a.length === len ? a.map(Number) : new Array<number>(len).fill(0)) : undefined;

/**
 * A campaign's TimedStats from the database: every arm's recent buckets, and as its base the all-time totals
 * (arm_stats) minus those buckets — so old bucket rows may be deleted without losing anything. With a decay
 * the base is empty instead: an old bucket's weight is what is left of it (rows are kept until it vanishes).
 */
export function timedFromStored(
  armKeys: readonly string[],
  dim: number,
  options: TimedOptions,
  allTime: ReadonlyMap<string, ArmStats>,
  buckets: Iterable<StoredBucketStats>,
  delays: Iterable<{ hour: number; counts: number[] }>,
): TimedStats {
  const t = new TimedStats(armKeys.length, dim, options);
  const index = new Map(armKeys.map((k, i) => [k, i]));
  const rows = Array.isArray(buckets) ? (buckets as StoredBucketStats[]) : [...buckets];
  const counts = new Array<number>(armKeys.length).fill(0);
  for (const b of rows) {
    const i = index.get(b.armKey);
    if (i !== undefined) counts[i]!++;
  }
  reserveBuckets(t.arms, counts, dim);
  for (const b of rows) {
    const i = index.get(b.armKey);
    if (i === undefined) continue;
    t.trial(i, b.hour, { n: b.n, sum: b.sum, sumSq: b.sumSq, xx: arr(b.xx, dim * dim), xr: arr(b.xr, dim) });
    t.reward(i, b.hour, { n: b.converted, sum: b.rewardSum, sumSq: b.rewardSumSq, xr: arr(b.rewardXr, dim) });
  }
  for (const d of delays) {
    t.countDelays(d.counts);
    const h = t.delays.cohorts.get(d.hour);
    if (h) for (let j = 0; j < h.length; j++) h[j] = h[j]! + (d.counts[j] ?? 0);
    else
      t.delays.cohorts.set(
        d.hour,
        d.counts.slice(0, DELAY_BINS).concat(new Array(Math.max(0, DELAY_BINS - d.counts.length)).fill(0)),
      );
  }
  if (options.decay === undefined)
    armKeys.forEach((k, i) => {
      const total = allTime.get(k);
      if (!total) return;
      const arm = t.arms[i]!;
      addStats(arm.base, total);
      addBucketsTo(arm.base, arm, dim, -1);
    });
  return t;
}

/**
 * Checks a campaign's statistics settings (beyond their shape, which the API validates): the delay prior
 * must be a proper lognormal (0 < median < p95), the decay positive. A 400 names the field.
 */
export function checkTimedSettings(
  s: { conversionDelay?: ConversionDelaySpec | null; decay?: DecaySpec | null },
  windowHours: number,
): void {
  const bad = (path: string, message: string) =>
    new DomainError("invalid_request", `${path}: ${message}`, [{ path, message }]);
  if (s.conversionDelay) {
    const { medianHours, p95Hours } = s.conversionDelay;
    try {
      priorDelay(windowHours, s.conversionDelay);
    } catch {
      throw medianHours !== undefined && !(medianHours > 0)
        ? bad("conversionDelay.medianHours", "must be positive")
        : bad("conversionDelay.p95Hours", `must be above medianHours (${medianHours ?? (p95Hours ?? 0) / 5})`);
    }
  }
  if (!s.conversionDelay) {
    try {
      priorDelay(windowHours);
    } catch {
      throw bad("attributionWindowHours", "too short for a delay model (the default prior is W/10, W/2)");
    }
  }
  if (s.decay) {
    try {
      checkDecay(s.decay);
    } catch (e) {
      const [path, message] = (e as Error).message.split(": ", 2) as [string, string];
      throw bad(path, message);
    }
  }
}

/** The delay model in use, as GET /v1/campaigns/{id} shows it. */
export function delayModelView(m: DelayModel) {
  const q = delayQuantiles(m);
  return {
    family: m.family,
    medianHours: q.medianHours,
    p95Hours: q.p95Hours,
    mu: m.mu,
    sigma: m.sigma,
    windowHours: m.windowHours,
    source: m.source,
    observations: m.observations,
  };
}

/**
 * Hours of buckets the service reads back (older rows are in the base, or weigh nothing): the window plus
 * the current and the maturing hour; with a half-life, 20 half-lives (weight < 10⁻⁶); with a window, its N hours.
 */
export function retentionHours(o: TimedOptions): number {
  const matured = Math.ceil(o.windowHours) + 2;
  if (!o.decay) return matured;
  if ("halfLifeHours" in o.decay) return Math.max(matured, Math.ceil(20 * o.decay.halfLifeHours));
  return Math.max(matured, o.decay.windowHours + 1);
}
