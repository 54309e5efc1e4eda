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
 */
import type { Db } from "../store/db.ts";
import { incrementArmStats } from "../store/arm-stats.ts";
import { lockDecisionRewards, rebuildSnapshot, setDecisionRewards, type RebuildSnapshot } from "../store/rebuild.ts";
import { retryTransient } from "./db-errors.ts";
import { applyEvent, baseReward, type RewardState } from "./rewards.ts";
import { addStats, foldBuckets, mergeIncrements, trialIncrement, zeroStats, type ArmIncrement } from "./stats.ts";
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
  const none: RecomputeResult = { campaignId, repaired: [], decisionsRewritten: 0 };
  const first = await rebuildSnapshot(tx, campaignId);
  if (!first) return none;
  const toLock = rebuiltRewards(first).changed.map((c) => c.id);
  if (toLock.length) await lockDecisionRewards(tx, campaignId, toLock);
  const locked = new Set(toLock);
  const snap = toLock.length ? await rebuildSnapshot(tx, campaignId) : first;
  if (!snap) return none;
  const contextual = (opts.dim ?? 0) > 0 && opts.encode !== undefined;
  if (!contextual && snap.stats.some((r) => r.xx !== null))
    throw new Error("recomputeArmStats: contextual campaign needs opts.encode and opts.dim");
  const dim = contextual ? opts.dim! : 0;

  const { state, changed } = rebuiltRewards(snap);
  if (changed.some((c) => !locked.has(c.id))) throw new MovedSinceSnapshot();

  // R: every arm at zero, plus each decision's trial with its rebuilt reward
  const incs: ArmIncrement[] = [];
  for (const a of snap.arms) incs.push({ campaignId, armKey: a.key, ...zeroStats(dim) });
  for (const r of snap.stats) incs.push({ campaignId, armKey: r.armKey, ...zeroStats(dim) });
  for (const d of snap.decisions) {
    const x = contextual ? opts.encode!(d.context ?? undefined) : undefined;
    incs.push(trialIncrement({ campaignId, armKey: d.armKey }, state.get(d.id)!.reward, x));
  }
  const rebuilt = mergeIncrements(incs);
  const stored = new Map(snap.stats.map((r) => [r.armKey, foldBuckets([r], dim)]));
  await setDecisionRewards(tx, changed);

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
  return { campaignId, repaired, decisionsRewritten: changed.length };
}

/** Each decision's running reward per the teaching events, and the decisions whose stored one differs. */
function rebuiltRewards(snap: RebuildSnapshot) {
  const cost = new Map(snap.arms.map((a) => [a.key, a.cost]));
  const state = new Map<string, RewardState>();
  for (const d of snap.decisions)
    state.set(d.id, { reward: baseReward(snap.objective, cost.get(d.armKey) ?? 0), converted: false });
  for (const e of snap.events) {
    const s = state.get(e.decisionId);
    if (s) applyEvent(snap.objective, s, e);
  }
  const changed: { id: string; reward: number; converted: boolean }[] = [];
  for (const d of snap.decisions) {
    const s = state.get(d.id)!;
    if (s.reward !== d.reward || s.converted !== d.converted) changed.push({ id: d.id, ...s });
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
