/**
 * One campaign's time-aware statistics: every arm's hour buckets (buckets.ts), the observed delays
 * (delay.ts) and the options that turn them into what the strategy sees. Pure (no I/O, no clock: `now`
 * is passed in hours since the epoch), so the service's engine and the simulator run the same code.
 *
 *   trial(arm, hour, delta)          a trial counts (decision or first impression), in its decision's hour
 *   reward(arm, hour, delta, delay)  an event changed that decision's reward; `delay` = hours since it
 *   refresh(now)                     the delay model in use, compaction, and the weights of every bucket
 *   fold(arm)                        the totals to hand to `setArmStats` at the last refresh's `now`
 */
import type { ArmStats } from "../../strategies/types.ts";
import {
  addReward,
  addTrial,
  bucketWeigher,
  compactArm,
  emptyArmBuckets,
  foldArm,
  type ArmBuckets,
  type FoldOptions,
  type TrialCounting,
  type Weigher,
} from "./buckets.ts";
import type { DecaySpec } from "./decay.ts";
import {
  addDelay,
  emptyDelayCounts,
  learnDelay,
  matureDelays,
  priorDelay,
  type ConversionDelaySpec,
  type DelayCounts,
  type DelayModel,
} from "./delay.ts";

export interface TimedOptions {
  windowHours: number;
  counting?: TrialCounting;
  conversionDelay?: ConversionDelaySpec;
  decay?: DecaySpec;
}

export class TimedStats {
  readonly arms: ArmBuckets[];
  readonly delays: DelayCounts = emptyDelayCounts();
  readonly prior: DelayModel;
  model: DelayModel;
  private weigher: Weigher;
  private lastRefreshHour = -Infinity;

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
    if (delayHours !== undefined && delta.n > 0 && delayHours <= this.options.windowHours)
      addDelay(this.delays, hour, delayHours, sign);
  }

  /**
   * At `nowHours`: once per hour the delay model is refitted (delay-aware counting, unless `learn: false`)
   * as of the whole hour, from the cohorts before it — so replicas refreshing at different minutes agree —
   * and complete delay cohorts and matured buckets are folded; every call sets the weights `fold` uses.
   */
  refresh(nowHours: number): void {
    const hour = Math.floor(nowHours);
    if (hour !== this.lastRefreshHour) {
      this.lastRefreshHour = hour;
      const W = this.options.windowHours;
      if (this.counting === "delay-aware")
        this.model = learnDelay(this.prior, this.delays, hour, this.options.conversionDelay?.learn ?? true);
      matureDelays(this.delays, nowHours, W);
      const o = this.foldOptions();
      for (const a of this.arms) compactArm(a, nowHours, o, this.dim);
    }
    this.weigher = bucketWeigher(nowHours, this.foldOptions());
  }

  fold(arm: number): ArmStats {
    return foldArm(this.arms[arm]!, this.weigher, this.dim);
  }
}
