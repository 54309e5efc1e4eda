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
 * 2. one query then reads the stored totals S, the decisions and the teaching events (one snapshot,
 *    taken with those decisions locked, so no ingest can move them meanwhile) — a cursor fetched in
 *    chunks (store/rebuild.ts), kept as compact columns, each event applied as it arrives;
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
import {
  lockDecisionRewards,
  setDecisionRewards,
  streamRebuildSnapshot,
  type RebuildDecision,
  type RebuildEvent,
  type RebuildHeader,
  type RebuildSink,
} from "../store/rebuild.ts";
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
import { retentionHours, type StoredBucketStats } from "./timed.ts";
import type { ArmStats } from "../../strategies/types.ts";

export interface RecomputeOptions {
  /** Encodes a logged context into x; required for contextual campaigns (their statistics hold x xᵀ). */
  encode?: (ctx: Record<string, unknown> | undefined) => ArrayLike<number>;
  /** Context dimension (encode's length) for contextual campaigns. */
  dim?: number;
  /** Rows per FETCH of the snapshot's cursor (default 5000; tests set it small to cross chunks). */
  chunkRows?: number;
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
  const contextual = (opts.dim ?? 0) > 0 && opts.encode !== undefined;
  const read = () => readSnapshot(tx, campaignId, contextual, opts.chunkRows);
  let snap: Snapshot | undefined = await read();
  if (!snap) return none;
  // Lock the decisions to rewrite and read again, until every one to rewrite is locked: a locked decision
  // cannot move, so under steady ingest this converges instead of restarting the whole transaction.
  const locked = new Set<string>();
  for (let round = 0; ; round++) {
    const more = snap
      .changed()
      .map((c) => c.id)
      .filter((id) => !locked.has(id));
    if (more.length === 0) break;
    if (round === 5) throw new MovedSinceSnapshot();
    await lockDecisionRewards(tx, campaignId, more);
    for (const id of more) locked.add(id);
    snap = undefined; // not kept while the next one is read: a large campaign's is hundreds of MB
    snap = await read();
    if (!snap) return none;
  }
  if (!contextual && snap.stats.some((r) => r.xx !== null))
    throw new Error("recomputeArmStats: contextual campaign needs opts.encode and opts.dim");
  const dim = contextual ? opts.dim! : 0;
  const h = snap.head!;

  const changed = snap.changed();
  if (changed.some((c) => !locked.has(c.id))) throw new MovedSinceSnapshot();

  // R: every arm at zero, plus each trial with its rebuilt reward (summed per arm in decision order, as
  // mergeIncrements of the list of them would); the buckets and delays it implies
  const totals = new Map<string, ArmIncrement>();
  const total = (armKey: string) => {
    let t = totals.get(armKey);
    if (!t) totals.set(armKey, (t = { campaignId, armKey, ...zeroStats(dim) }));
    return t;
  };
  for (const a of snap.arms) total(a.key);
  for (const r of snap.stats) total(r.armKey);
  const fromHour =
    hourOf(h.nowMs) - retentionHours({ windowHours: h.attributionWindowHours, decay: h.decay ?? undefined });
  const buckets = new Map<string, { armKey: string; hour: number; trials: ArmStats; rewards: ArmStats }>();
  const bucket = (armKey: string, hour: number) => {
    const k = `${armKey}\u0000${hour}`;
    let b = buckets.get(k);
    if (!b) buckets.set(k, (b = { armKey, hour, trials: zeroStats(dim), rewards: zeroStats(dim) }));
    return b;
  };
  const delays = new Map<number, number[]>();
  const d = snap.decisions;
  for (let i = 0; i < d.count; i++) {
    const firstAt = d.firstAt.at(i);
    // trialAt impression: a decision no teaching event reached is no trial
    if (h.trialAt === "impression" && Number.isNaN(firstAt)) continue;
    const createdMs = d.createdMs.at(i);
    const startMs = h.trialAt === "impression" ? Math.max(createdMs, firstAt) : createdMs;
    const x = contextual ? opts.encode!(d.contexts[i] ?? undefined) : undefined;
    const armKey = snap.armKeys[d.arm.at(i)]!;
    const key = { campaignId, armKey };
    const reward = d.reward.at(i);
    const converted = d.converted.at(i) === 1;
    addStats(total(armKey), trialIncrement(key, reward, x));
    const hour = hourOf(startMs);
    const convertedAt = d.convertedAt.at(i);
    if (!Number.isNaN(convertedAt)) {
      const counts = delays.get(hour) ?? new Array<number>(DELAY_BINS).fill(0);
      counts[delayBin((convertedAt - startMs) / 3_600_000)]! += 1;
      delays.set(hour, counts);
    }
    if (hour < fromHour) continue;
    const b = bucket(armKey, hour);
    const r0 = baseReward(h.objective, snap.cost.get(armKey) ?? 0);
    addStats(b.trials, trialIncrement(key, r0, x));
    if (reward !== r0 || converted) {
      const inc = rewardIncrement(key, r0, reward, x);
      addStats(b.rewards, { ...inc, n: converted ? 1 : 0 });
    }
  }
  const rebuilt = mergeIncrements(totals.values());
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

async function readSnapshot(
  tx: Db,
  campaignId: string,
  withContext: boolean,
  chunkRows: number | undefined,
): Promise<Snapshot | undefined> {
  const snap = new Snapshot(withContext);
  const found = await streamRebuildSnapshot(tx, campaignId, snap, { chunkRows, withContext });
  return found ? snap : undefined;
}

/** A growable typed array: the per-decision columns, 8 bytes (or 1–4) a value instead of an object each. */
class Column<A extends Float64Array | Uint8Array | Uint32Array> {
  private a: A;
  private n = 0;
  constructor(private readonly make: (n: number) => A) {
    this.a = make(1024);
  }
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = this.make(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  at(i: number): number {
    return this.a[i]!;
  }
  set(i: number, v: number): void {
    this.a[i] = v;
  }
}

const floats = () => new Column((n) => new Float64Array(n));

/**
 * The decisions of a snapshot, by their order in it: what was stored, and their rebuilt running reward
 * with the times learn.ts's rules need (NaN: none), filled in as the events stream in.
 */
class Decisions {
  count = 0;
  readonly ids: string[] = [];
  readonly index = new Map<string, number>();
  /** Index into Snapshot.armKeys. */
  readonly arm = new Column((n) => new Uint32Array(n));
  readonly createdMs = floats();
  readonly contexts: (Record<string, unknown> | null)[] = [];
  readonly storedReward = floats();
  readonly storedConverted = new Column((n) => new Uint8Array(n));
  readonly reward = floats();
  readonly converted = new Column((n) => new Uint8Array(n));
  /** Its first teaching event's time (epoch ms): the earliest occurred among the first received. */
  readonly firstAt = floats();
  readonly firstReceivedUs = floats();
  /** Its first conversion's time, likewise among the conversions received with the first one. */
  readonly convertedAt = floats();
  readonly convertedReceivedUs = floats();
}

/**
 * The snapshot as the rebuild keeps it: the small rows as they come, the decisions as compact columns,
 * the events not kept at all — each is applied to its decision on arrival (they come in arrival order,
 * after every decision).
 */
class Snapshot implements RebuildSink {
  head?: RebuildHeader;
  readonly arms: { key: string; cost: number }[] = [];
  readonly cost = new Map<string, number>();
  readonly stats: Parameters<RebuildSink["stat"]>[0][] = [];
  readonly buckets: StoredBucketStats[] = [];
  readonly delays: { hour: number; counts: number[] }[] = [];
  readonly decisions = new Decisions();
  /** Arm keys interned: a decision holds an index, not its own copy of the string. */
  readonly armKeys: string[] = [];
  private readonly armIndex = new Map<string, number>();
  private readonly scratch: RewardState = { reward: 0, converted: false };

  constructor(private readonly withContext: boolean) {}

  header(h: RebuildHeader): void {
    this.head = h;
  }
  arm(a: { key: string; cost: number }): void {
    this.arms.push(a);
    this.cost.set(a.key, a.cost);
  }
  stat(s: Parameters<RebuildSink["stat"]>[0]): void {
    this.stats.push(s);
  }
  bucket(b: StoredBucketStats): void {
    this.buckets.push(b);
  }
  delay(d: { hour: number; counts: number[] }): void {
    this.delays.push(d);
  }

  decision(r: RebuildDecision): void {
    const d = this.decisions;
    d.index.set(r.id, d.count++);
    d.ids.push(r.id);
    d.arm.push(this.intern(r.armKey));
    d.createdMs.push(r.createdMs);
    if (this.withContext) d.contexts.push(r.context);
    d.storedReward.push(r.reward);
    d.storedConverted.push(r.converted ? 1 : 0);
    d.reward.push(baseReward(this.head!.objective, this.cost.get(r.armKey) ?? 0));
    d.converted.push(0);
    for (const c of [d.firstAt, d.firstReceivedUs, d.convertedAt, d.convertedReceivedUs]) c.push(Number.NaN);
  }

  /** learn.ts's rules for one teaching event, in arrival order. */
  event(e: RebuildEvent): void {
    const d = this.decisions;
    const i = d.index.get(e.decisionId);
    if (i === undefined) return;
    const at = e.occurredMs;
    const first = d.firstReceivedUs.at(i);
    if (Number.isNaN(first)) {
      d.firstReceivedUs.set(i, e.receivedUs);
      d.firstAt.set(i, at);
    } else if (first === e.receivedUs && at < d.firstAt.at(i)) d.firstAt.set(i, at);
    const s = this.scratch;
    s.reward = d.reward.at(i);
    s.converted = d.converted.at(i) === 1;
    if (e.type === "conversion") {
      if (!s.converted) {
        d.convertedReceivedUs.set(i, e.receivedUs);
        d.convertedAt.set(i, at);
      } else if (d.convertedReceivedUs.at(i) === e.receivedUs && at < d.convertedAt.at(i)) d.convertedAt.set(i, at);
    }
    applyEvent(this.head!.objective, s, e);
    d.reward.set(i, s.reward);
    d.converted.set(i, s.converted ? 1 : 0);
  }

  /** The decisions whose stored running reward differs from the rebuilt one. */
  changed(): { id: string; reward: number; converted: boolean }[] {
    const d = this.decisions;
    const out: { id: string; reward: number; converted: boolean }[] = [];
    for (let i = 0; i < d.count; i++) {
      const reward = d.reward.at(i);
      const converted = d.converted.at(i);
      if (reward !== d.storedReward.at(i) || converted !== d.storedConverted.at(i))
        out.push({ id: d.ids[i]!, reward, converted: converted === 1 });
    }
    return out;
  }

  private intern(armKey: string): number {
    let i = this.armIndex.get(armKey);
    if (i === undefined) {
      i = this.armKeys.push(armKey) - 1;
      this.armIndex.set(armKey, i);
    }
    return i;
  }
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
