/**
 * The one owner of arm statistics.
 *
 * An arm's sufficient statistics are `ArmStats` (strategies/types.ts): n, Σr, Σr², and for linear
 * models Σxxᵀ (row-major dim × dim) and Σr·x. They are commutative sums: adding increments in any order
 * gives the same totals, which is what lets several processes share one database (arm_stats rows are
 * upserted with `n = arm_stats.n + excluded.n`, src/store/arm-stats.ts).
 *
 * Everything that moves statistics goes through this module:
 * - the arithmetic (`addStats` with a sign for add / subtract, `scaleStats`, `mergeIncrements`), and
 *   the two increments the service knows: a decision's trial (`trialIncrement`) and the change of a
 *   decision's running reward when an event teaches (`rewardIncrement`);
 * - the invariant of a live campaign, for every arm i:
 *
 *       memory.stats[i] = database totals[i] + memory.pending[i]
 *
 *   where `pending` holds the decision increments queued but not yet committed. The five transitions
 *   (`queued`, `committed`, `failed`, `applied`, `fromDatabase`) are the only writers of `stats` and
 *   `pending`; the engine calls them under its readers–writer lock (src/engine/live.ts).
 *
 * Time buckets: an increment may carry `bucket`, the start (epoch ms) of the time bucket it belongs to;
 * today every increment is an all-time total (no bucket). The posterior totals of an arm are the fold of
 * its buckets (`foldBuckets`, optionally weighted), so bucketed statistics only change what the
 * database returns per arm and the weights, not the ledger.
 */
import type { ArmStats } from "../../strategies/types.ts";

/** Which arm (and, once statistics are bucketed, which time bucket) an increment belongs to. */
export interface ArmKey {
  campaignId: string;
  armKey: string;
  /** Start of the increment's time bucket (epoch ms); undefined for all-time totals. */
  bucket?: number;
}

/** The one delta type: what a decision, an event or a rebuild adds to an arm's statistics. */
export interface ArmIncrement extends ArmKey, ArmStats {}

export const zeroStats = (dim: number): ArmStats =>
  dim > 0
    ? { n: 0, sum: 0, sumSq: 0, xx: new Array(dim * dim).fill(0), xr: new Array(dim).fill(0) }
    : { n: 0, sum: 0, sumSq: 0 };

/** target += sign · delta (arrays element-wise; a missing array counts as zeros). */
export function addStats(target: ArmStats, delta: ArmStats, sign = 1): void {
  target.n += sign * delta.n;
  target.sum += sign * delta.sum;
  target.sumSq += sign * delta.sumSq;
  if (delta.xx && target.xx) for (let i = 0; i < delta.xx.length; i++) target.xx[i] += sign * delta.xx[i];
  if (delta.xr && target.xr) for (let i = 0; i < delta.xr.length; i++) target.xr[i] += sign * delta.xr[i];
}

/** w · s, as new statistics (a bucket's weight under decay). */
export function scaleStats(s: ArmStats, w: number): ArmStats {
  return {
    n: w * s.n,
    sum: w * s.sum,
    sumSq: w * s.sumSq,
    ...(s.xx ? { xx: s.xx.map((v) => w * v) } : {}),
    ...(s.xr ? { xr: s.xr.map((v) => w * v) } : {}),
  };
}

/** The statistics only (arrays copied), without the key. */
function statsOf(s: ArmStats, dim: number): ArmStats {
  const out = zeroStats(dim);
  addStats(out, s);
  return out;
}

/**
 * One decision's trial: n = 1, reward r, and for a context x: x xᵀ and r·x. The reward is the
 * objective's base reward (0, or minus the arm's cost for profit).
 */
export function trialIncrement(key: ArmKey, reward: number, x?: ArrayLike<number>): ArmIncrement {
  // Fields listed rather than spread: one object shape on the hot path (a spread of `key` was a
  // visible share of a decision's CPU in profiles).
  const inc: ArmIncrement = {
    campaignId: key.campaignId,
    armKey: key.armKey,
    n: 1,
    sum: reward,
    sumSq: reward * reward,
  };
  if (key.bucket !== undefined) inc.bucket = key.bucket;
  if (x) {
    const d = x.length;
    const xx = new Array<number>(d * d).fill(0);
    addOuter(xx, x);
    inc.xx = xx;
    inc.xr = Array.from(x, (v) => reward * v);
  }
  return inc;
}

/**
 * A decision's running reward moved from `before` to `after` (events taught): Σr and Σr² move so that
 * they stay exactly the sums over decisions of r and r² (not of each event's value); Σr·x follows.
 */
export function rewardIncrement(key: ArmKey, before: number, after: number, x?: ArrayLike<number>): ArmIncrement {
  const dr = after - before;
  // Fields listed, as in trialIncrement (one increment per taught decision on the ingest path).
  const inc: ArmIncrement = {
    campaignId: key.campaignId,
    armKey: key.armKey,
    n: 0,
    sum: dr,
    sumSq: after * after - before * before,
  };
  if (key.bucket !== undefined) inc.bucket = key.bucket;
  if (x) inc.xr = Array.from(x, (v) => dr * v);
  return inc;
}

const keyOf = (k: ArmKey) => `${k.campaignId}\u0000${k.armKey}\u0000${k.bucket ?? ""}`;

/**
 * Sums the increments of the same arm and bucket (one upsert may touch a row only once), in
 * (campaign, arm, bucket) order so that concurrent writers lock rows in the same order.
 */
export function mergeIncrements(incs: Iterable<ArmIncrement>): ArmIncrement[] {
  const by = new Map<string, ArmIncrement>();
  for (const i of incs) {
    const k = keyOf(i);
    const m = by.get(k);
    if (!m) {
      const own: ArmIncrement = { campaignId: i.campaignId, armKey: i.armKey, n: i.n, sum: i.sum, sumSq: i.sumSq };
      if (i.bucket !== undefined) own.bucket = i.bucket;
      if (i.xx) own.xx = Array.from(i.xx);
      if (i.xr) own.xr = Array.from(i.xr);
      by.set(k, own);
      continue;
    }
    if (i.xx && !m.xx) m.xx = new Array(i.xx.length).fill(0);
    if (i.xr && !m.xr) m.xr = new Array(i.xr.length).fill(0);
    addStats(m, i);
  }
  return [...by.values()].sort((a, b) => compareKeys(a, b));
}

function compareKeys(a: ArmKey, b: ArmKey): number {
  if (a.campaignId !== b.campaignId) return a.campaignId < b.campaignId ? -1 : 1;
  if (a.armKey !== b.armKey) return a.armKey < b.armKey ? -1 : 1;
  return (a.bucket ?? 0) - (b.bucket ?? 0);
}

/** x xᵀ added into a row-major dim × dim array. */
export function addOuter(xx: number[], x: ArrayLike<number>): void {
  const d = x.length;
  for (let i = 0; i < d; i++) {
    const xi = x[i];
    if (xi === 0) continue;
    const row = i * d;
    for (let j = 0; j < d; j++) xx[row + j] += xi * x[j];
  }
}

/** Stored totals as read back (arrays are null before the first contextual increment). */
export interface StoredStats {
  n: number;
  sum: number;
  sumSq: number;
  xx?: number[] | null;
  xr?: number[] | null;
}

/** Stored totals as statistics of `dim` (arrays of another length are ignored: the context changed). */
export function fromStored(r: StoredStats, dim: number): ArmStats {
  const s = zeroStats(dim);
  s.n = Number(r.n);
  s.sum = Number(r.sum);
  s.sumSq = Number(r.sumSq);
  if (dim > 0) {
    if (r.xx && r.xx.length === dim * dim) s.xx = r.xx.map(Number);
    if (r.xr && r.xr.length === dim) s.xr = r.xr.map(Number);
  }
  return s;
}

/**
 * An arm's posterior totals from its buckets: Σ_b w_b · stats_b (weight 1 unless given). With all-time
 * totals there is one bucket per arm; decay or a sliding window become weights here.
 */
export function foldBuckets(
  buckets: Iterable<StoredStats & { bucket?: number }>,
  dim: number,
  weight?: (bucket: number | undefined) => number,
): ArmStats {
  const out = zeroStats(dim);
  for (const b of buckets) {
    const s = fromStored(b, dim);
    const w = weight ? weight(b.bucket) : 1;
    addStats(out, w === 1 ? s : scaleStats(s, w));
  }
  return out;
}

// ---------------------------------------------------------------- the invariant, written once

/** A live campaign's statistics: per arm, memory totals and the still-queued part of them. */
export interface Ledger {
  readonly dim: number;
  readonly stats: ArmStats[];
  /**
   * Created on an arm's first queued decision: most arms of most campaigns in memory have none in this
   * process, and a missing entry is all zeros (adding it changed nothing, bit for bit).
   */
  readonly pending: (ArmStats | undefined)[];
}

/** Arm i's pending part, created (zeros) on first use. */
function pendingOf(l: Ledger, i: number): ArmStats {
  let p = l.pending[i];
  if (!p) l.pending[i] = p = zeroStats(l.dim);
  return p;
}

/** A decision was made and queued: memory counts it at once, and it is pending until committed. */
export function queued(l: Ledger, i: number, inc: ArmStats): void {
  addStats(l.stats[i], inc);
  addStats(pendingOf(l, i), inc);
}

/** The decision log committed it: the database now holds it, so it is no longer pending. */
export function committed(l: Ledger, i: number, inc: ArmStats): void {
  addStats(pendingOf(l, i), inc, -1);
}

/** Its commit failed: not logged, so not counted — it leaves memory altogether. */
export function failed(l: Ledger, i: number, inc: ArmStats): void {
  addStats(pendingOf(l, i), inc, -1);
  addStats(l.stats[i], inc, -1);
}

/** An increment committed by another path (event ingest): memory follows the database. */
export function applied(l: Ledger, i: number, inc: ArmStats): void {
  addStats(l.stats[i], inc);
}

/** The database's totals were read (load, refresh, recompute): memory = database + pending. */
export function fromDatabase(l: Ledger, i: number, db: ArmStats): void {
  const t = statsOf(db, l.dim);
  const p = l.pending[i];
  if (p) addStats(t, p);
  l.stats[i] = t;
}

/** A rebuilt campaign takes over what its predecessor still has queued (by arm key). */
export function carryPending(
  from: Ledger & { arms: { key: string; index: number }[] },
  to: Ledger & { armByKey: Map<string, { index: number }> },
): void {
  for (const a of from.arms) {
    const n = to.armByKey.get(a.key);
    const p = from.pending[a.index];
    if (!n || !p) continue;
    addStats(pendingOf(to, n.index), p);
    addStats(to.stats[n.index], p);
  }
}
