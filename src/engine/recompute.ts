/**
 * Exact rebuild of a campaign's arm_stats (and each decision's running reward) from the decision log
 * and its attributed, valid events: what the statistics would be had flagged events never arrived.
 * The fraud module calls it (through `Engine.recompute`) after marking events invalid, to take back
 * what they taught; the consistency check (`checkConsistency`) runs it on every campaign and reports
 * what it had to repair.
 *
 * Concurrency, without blocking decision commits:
 * 1. a first read finds the decisions whose running reward must change (those with events flagged
 *    since), and they are locked (FOR UPDATE, id order: the lock order of every transaction, learn.ts);
 * 2. one statement then reads the stored totals S, the decisions and the teaching events (one
 *    snapshot, taken with those decisions locked, so no ingest can move them meanwhile);
 * 3. the rebuilt totals R follow from the rows (rewards.ts, stats.ts); should a decision outside the
 *    locked ones need rewriting too (flagged in between), the attempt is run again (bounded);
 * 4. their rewards are rewritten and the correction R − S is added to arm_stats like any increment.
 * A decision commit or ingest that lands after the snapshot adds its own increment on top of S, so
 * S + its increment + (R − S) = R + its increment: nothing is lost or counted twice.
 *
 * The hour buckets (arm_stat_buckets) and the observed delays (conversion_delays) are rebuilt the same
 * way, as corrections to the snapshot's rows: each trial in the hour it started (the decision's, or with
 * `trialAt: impression` its first teaching event's), its reward change in the rewards part, each first
 * conversion's delay in its cohort — the rules learn.ts applies as events arrive. Buckets older than the
 * campaign's retention (timed.ts `retentionHours`) are neither read nor rewritten: only the totals keep them,
 * and their rows are deleted here (the consistency job runs this for every campaign every 15 minutes).
 */
import type { Db } from "../store/db.ts";
import { incrementArmStats } from "../store/arm-stats.ts";
import {
  deleteBucketsBefore,
  incrementBuckets,
  upsertDelayIncrements,
  type BucketIncrement,
  type DelayIncrement,
} from "../store/buckets.ts";
import { lockDecisionRewards, rebuildSnapshot, setDecisionRewards, type RebuildSnapshot } from "../store/rebuild.ts";
import { retryTransient } from "./db-errors.ts";
import { applyEvent, baseReward, type RewardState } from "./rewards.ts";
import { hourOf } from "./buckets.ts";
import { DELAY_BINS, delayBin } from "./delay.ts";
import {
  addStats,
  foldBuckets,
  mergeIncrements,
  rewardIncrement,
  trialIncrement,
  zeroStats,
  type ArmIncrement,
} from "./stats.ts";
import { retentionHours } from "./timed.ts";
import type { ArmStats } from "../../strategies/types.ts";

export interface RecomputeOptions {
  /** Encodes a logged context into x; required for contextual campaigns (their statistics hold x xᵀ). */
  encode?: (ctx: Record<string, unknown> | undefined) => ArrayLike<number>;
  /** Context dimension (encode's length) for contextual campaigns. */
  dim?: number;
}

/** One arm whose stored totals differed from what the rows imply (before the repair). */
export interface ArmRepair {
  armKey: string;
  stored: ArmStats;
  rebuilt: ArmStats;
}

export interface RecomputeResult {
  campaignId: string;
  /** Arms whose totals were off by more than the tolerance. */
  repaired: ArmRepair[];
  /** Decisions whose running reward was rewritten. */
  decisionsRewritten: number;
  /** Hour buckets (arm, hour) and delay cohorts whose stored rows differed from what the rows imply. */
  bucketsRepaired: number;
  delaysRepaired: number;
}

/** A relative difference below this is float summation order, not an error. */
const TOLERANCE = 1e-9;

/** A decision the rebuild must rewrite was not locked: run again (treated like SQLSTATE 40001). */
class MovedSinceSnapshot extends Error {
  readonly code = "40001";
  constructor() {
    super("a decision to rewrite was not locked");
  }
}

export function recomputeArmStats(db: Db, campaignId: string, opts: RecomputeOptions = {}): Promise<RecomputeResult> {
  return retryTransient(() => db.transaction((tx) => rebuild(tx, campaignId, opts)), 8);
}

async function rebuild(tx: Db, campaignId: string, opts: RecomputeOptions): Promise<RecomputeResult> {
  const none: RecomputeResult = {
    campaignId,
    repaired: [],
    decisionsRewritten: 0,
    bucketsRepaired: 0,
    delaysRepaired: 0,
  };
  let snap = await rebuildSnapshot(tx, campaignId);
  if (!snap) return none;
  // Lock the decisions to rewrite and read again, until every one to rewrite is locked: a locked decision
  // cannot move, so under steady ingest this converges instead of restarting the whole transaction.
  const locked = new Set<string>();
  for (let round = 0; ; round++) {
    const more = rebuiltRewards(snap)
      .changed.map((c) => c.id)
      .filter((id) => !locked.has(id));
    if (more.length === 0) break;
    if (round === 5) throw new MovedSinceSnapshot();
    await lockDecisionRewards(tx, campaignId, more);
    for (const id of more) locked.add(id);
    snap = await rebuildSnapshot(tx, campaignId);
    if (!snap) return none;
  }
  const contextual = (opts.dim ?? 0) > 0 && opts.encode !== undefined;
  if (!contextual && snap.stats.some((r) => r.xx !== null))
    throw new Error("recomputeArmStats: contextual campaign needs opts.encode and opts.dim");
  const dim = contextual ? opts.dim! : 0;

  const { state, changed } = rebuiltRewards(snap);
  if (changed.some((c) => !locked.has(c.id))) throw new MovedSinceSnapshot();

  // R: every arm at zero, plus each trial with its rebuilt reward; the buckets and delays it implies
  const incs: ArmIncrement[] = [];
  for (const a of snap.arms) incs.push({ campaignId, armKey: a.key, ...zeroStats(dim) });
  for (const r of snap.stats) incs.push({ campaignId, armKey: r.armKey, ...zeroStats(dim) });
  const cost = new Map(snap.arms.map((a) => [a.key, a.cost]));
  const fromHour =
    hourOf(snap.nowMs) - retentionHours({ windowHours: snap.attributionWindowHours, decay: snap.decay ?? undefined });
  const buckets = new Map<string, { armKey: string; hour: number; trials: ArmStats; rewards: ArmStats }>();
  const bucket = (armKey: string, hour: number) => {
    const k = `${armKey}\u0000${hour}`;
    let b = buckets.get(k);
    if (!b) buckets.set(k, (b = { armKey, hour, trials: zeroStats(dim), rewards: zeroStats(dim) }));
    return b;
  };
  const delays = new Map<number, number[]>();
  for (const d of snap.decisions) {
    const s = state.get(d.id)!;
    const createdMs = Date.parse(d.createdAt);
    // trialAt impression: a decision no teaching event reached is no trial
    if (snap.trialAt === "impression" && s.firstAt === undefined) continue;
    const startMs = snap.trialAt === "impression" ? Math.max(createdMs, s.firstAt!) : createdMs;
    const x = contextual ? opts.encode!(d.context ?? undefined) : undefined;
    const key = { campaignId, armKey: d.armKey };
    incs.push(trialIncrement(key, s.reward, x));
    const hour = hourOf(startMs);
    if (s.convertedAt !== undefined) {
      const counts = delays.get(hour) ?? new Array<number>(DELAY_BINS).fill(0);
      counts[delayBin((s.convertedAt - startMs) / 3_600_000)]! += 1;
      delays.set(hour, counts);
    }
    if (hour < fromHour) continue;
    const b = bucket(d.armKey, hour);
    const r0 = baseReward(snap.objective, cost.get(d.armKey) ?? 0);
    addStats(b.trials, trialIncrement(key, r0, x));
    if (s.reward !== r0 || s.converted) {
      const inc = rewardIncrement(key, r0, s.reward, x);
      addStats(b.rewards, { ...inc, n: s.converted ? 1 : 0 });
    }
  }
  const rebuilt = mergeIncrements(incs);
  const stored = new Map(snap.stats.map((r) => [r.armKey, foldBuckets([r], dim)]));
  await setDecisionRewards(tx, changed);

  // hour buckets and delay cohorts: corrections where the stored rows differ
  for (const r of snap.buckets) {
    if (r.hour < fromHour) continue;
    const b = bucket(r.armKey, r.hour);
    const vec = (a: number[] | null, len: number) =>
      len ? (a ?? new Array<number>(len).fill(0)).map(Number) : undefined;
    addStats(b.trials, { n: r.n, sum: r.sum, sumSq: r.sumSq, xx: vec(r.xx, dim * dim), xr: vec(r.xr, dim) }, -1);
    addStats(b.rewards, { n: r.converted, sum: r.rewardSum, sumSq: r.rewardSumSq, xr: vec(r.rewardXr, dim) }, -1);
  }
  const bucketFixes: BucketIncrement[] = [];
  const zero = zeroStats(dim);
  for (const b of [...buckets.values()].sort((p, q) =>
    p.armKey < q.armKey ? -1 : p.armKey > q.armKey ? 1 : p.hour - q.hour,
  ))
    if (differs(b.trials, zero) || differs(b.rewards, zero))
      bucketFixes.push({ campaignId, armKey: b.armKey, hour: b.hour, trials: b.trials, rewards: b.rewards });
  for (const r of snap.delays) {
    const counts = delays.get(r.hour) ?? new Array<number>(DELAY_BINS).fill(0);
    r.counts.forEach((v, j) => {
      counts[j] = (counts[j] ?? 0) - Number(v);
    });
    delays.set(r.hour, counts);
  }
  const delayFixes: DelayIncrement[] = [];
  for (const [hour, counts] of delays) if (counts.some((v) => v !== 0)) delayFixes.push({ campaignId, hour, counts });
  await incrementBuckets(tx, bucketFixes);
  if (delayFixes.length) await tx.execute(upsertDelayIncrements(delayFixes));
  // Bucket rows older than the retention are read by no load or refresh (their trials and rewards are in
  // arm_stats, the fold's base) and weigh nothing with a decay: deleting them changes no posterior.
  await deleteBucketsBefore(tx, campaignId, fromHour);

  const corrections: ArmIncrement[] = [];
  const repaired: ArmRepair[] = [];
  for (const r of rebuilt) {
    const s = stored.get(r.armKey) ?? zeroStats(dim);
    const c: ArmIncrement = { campaignId, armKey: r.armKey, ...zeroStats(dim) };
    addStats(c, r);
    addStats(c, s, -1);
    if (differs(s, r)) {
      corrections.push(c);
      repaired.push({
        armKey: r.armKey,
        stored: s,
        rebuilt: { n: r.n, sum: r.sum, sumSq: r.sumSq, xx: r.xx, xr: r.xr },
      });
    }
  }
  await incrementArmStats(tx, corrections);
  return {
    campaignId,
    repaired,
    decisionsRewritten: changed.length,
    bucketsRepaired: bucketFixes.length,
    delaysRepaired: delayFixes.length,
  };
}

/** What the teaching events imply for one decision (learn.ts applies the same rules as they arrive). */
interface Rebuilt extends RewardState {
  /** Its first teaching event's time (epoch ms): the earliest occurred among the first received. */
  firstAt?: number;
  firstReceived?: string;
  /** Its first conversion's time, likewise among the conversions received with the first one. */
  convertedAt?: number;
  convertedReceived?: string;
}

/** Each decision's running reward per the teaching events, and the decisions whose stored one differs. */
function rebuiltRewards(snap: RebuildSnapshot) {
  const cost = new Map(snap.arms.map((a) => [a.key, a.cost]));
  const state = new Map<string, Rebuilt>();
  for (const d of snap.decisions)
    state.set(d.id, { reward: baseReward(snap.objective, cost.get(d.armKey) ?? 0), converted: false });
  for (const e of snap.events) {
    const s = state.get(e.decisionId);
    if (!s) continue;
    const at = Date.parse(e.occurredAt);
    if (s.firstReceived === undefined) {
      s.firstReceived = e.receivedAt;
      s.firstAt = at;
    } else if (s.firstReceived === e.receivedAt && at < s.firstAt!) s.firstAt = at;
    if (e.type === "conversion") {
      if (!s.converted) {
        s.convertedReceived = e.receivedAt;
        s.convertedAt = at;
      } else if (s.convertedReceived === e.receivedAt && at < s.convertedAt!) s.convertedAt = at;
    }
    applyEvent(snap.objective, s, e);
  }
  const changed: { id: string; reward: number; converted: boolean }[] = [];
  for (const d of snap.decisions) {
    const s = state.get(d.id)!;
    if (s.reward !== d.reward || s.converted !== d.converted)
      changed.push({ id: d.id, reward: s.reward, converted: s.converted });
  }
  return { state, changed };
}

function differs(a: ArmStats, b: ArmStats): boolean {
  const off = (x: number, y: number) => Math.abs(x - y) > TOLERANCE * Math.max(1, Math.abs(x), Math.abs(y));
  if (off(a.n, b.n) || off(a.sum, b.sum) || off(a.sumSq, b.sumSq)) return true;
  for (const k of ["xx", "xr"] as const) {
    const x = a[k] ?? [];
    const y = b[k] ?? [];
    for (let i = 0; i < Math.max(x.length, y.length); i++) if (off(x[i] ?? 0, y[i] ?? 0)) return true;
  }
  return false;
}
