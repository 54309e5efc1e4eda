/**
 * The learn flow: a batch of events in one transaction, as named steps —
 *
 *   parse → attribute → classify → persist → reward deltas → (commit) → apply
 *
 * - parse: per-item checks that need no database: an id repeated in the batch (duplicate, or conflict
 *   if its payload differs), a decision id that cannot exist, `occurredAt` in the future;
 * - attribute: the decisions the events refer to, locked; an event dated before its decision is
 *   rejected; the campaign's attribution window says whether it may teach;
 * - classify: the fraud gate's verdict per event (an invalid event is stored but teaches nothing);
 * - persist: `insert … on conflict do nothing returning`; an id already stored is a duplicate if its
 *   stored payload is the same, else a conflict (the sender reused an id: its bug is not hidden);
 * - reward deltas: the running reward of each decision moves per the objective (rewards.ts), which
 *   gives one reward increment per changed decision (stats.ts), written with the new rewards;
 * - apply: once committed, memory moves by exactly those increments.
 *
 * Lock order — every transaction that writes statistics takes its row locks in this order, so none
 * can wait for another in a cycle:
 *   1. decisions: FOR UPDATE in id order (ingest; the exact rebuild, recompute.ts, for the decisions it
 *      rewrites); a decision commit only inserts new rows;
 *   2. events: the insert of new ids (ingest);
 *   3. arm_stats: upserts of merged increments in (campaign, arm) order (decision commit, ingest,
 *      rebuild), always the last statement of the transaction.
 * A serialization failure or deadlock (40001, 40P01) is still run again, a bounded number of times
 * (db-errors.ts), so it never reaches a client.
 *
 * Round trips on PostgreSQL, four per batch: BEGIN; the lock; the insert (the trialAt read sent ahead of
 * it); the reward, bucket, delay and spend writes with the COMMIT pipelined behind them (a failed write
 * turns the COMMIT into a ROLLBACK, so the writes are awaited after it). Statements run prepared
 * (store/db.ts `preparing`): unprepared, postgres.js spends two round trips on each and pipelines nothing.
 *
 * The transaction runs under the live state's shared lock. A campaign not in memory yet (created by
 * another process) is loaded before the transaction, never inside it (load takes the exclusive lock).
 */
import type { Logger } from "pino";
import type { Db } from "../store/db.ts";
import { commitPipelines, isUnavailable } from "../store/db.ts";
import type { PrivacyKeys } from "../privacy/keys.ts";
import { sourcePseudonymiser } from "../privacy/pseudonym.ts";
import { lockDecisions, type LockedDecision, type MadeWithin } from "../store/decisions.ts";
import {
  applyRewards,
  firstTeachingEvents,
  insertEvents,
  storedEvents,
  type EventRow,
  type RewardUpdate,
} from "../store/events.ts";
import { MAX_ATTRIBUTION_WINDOW_HOURS, type LiveCampaign } from "./campaign.ts";
import { isTransient } from "./db-errors.ts";
import { DomainError } from "./errors.ts";
import { incrementBuckets, upsertDelayIncrements } from "../store/buckets.ts";
import { hourOf } from "./buckets.ts";
import { applyEventSpend, eventSpend } from "../budget/spend.ts";
import { incrementSpend, type SpendIncrement } from "../store/spend.ts";
import { DELAY_BINS, delayBin } from "./delay.ts";
import { isUuid, type BucketReward, type LiveState } from "./live.ts";
import { applyEvent } from "./rewards.ts";
import { rewardIncrement, trialIncrement, type ArmIncrement } from "./stats.ts";
import type { EventResult, EventType, FraudGate, IncomingEvent, IngestResult } from "./types.ts";

/**
 * How far `occurredAt` may lie before its decision or after the time it was received: senders' and
 * replicas' clocks disagree by a little; beyond this the event is rejected
 * (`occurred_before_decision`, `occurred_in_future`).
 */
export const CLOCK_SKEW_TOLERANCE_MS = 5 * 60_000;

/** Attempts of an ingest transaction that hit a serialization failure or deadlock. */
const ATTEMPTS = 5;

export interface EventInput {
  id: string;
  decisionId: string;
  type: EventType;
  value?: number;
  cost?: number;
  occurredAt?: string | Date;
  source?: { ip?: string; userAgent?: string; publisher?: string; placement?: string };
}

export type EventCounter = (status: "accepted" | "duplicate" | "rejected" | "conflict" | "invalid", n: number) => void;

interface Candidate {
  /** Position in the request. */
  i: number;
  ev: IncomingEvent;
  /** The sender gave occurredAt (else it is the time received, and a resend need not match it). */
  dated: boolean;
}

interface Attributed extends Candidate {
  /** A served decision (one answered without an arm takes no events). */
  decision: LockedDecision & { armKey: string };
  campaign: LiveCampaign;
  attributed: boolean;
  invalidReason: string | null;
}

export interface LearnerOptions {
  db: Db;
  live: LiveState;
  logger: Logger;
  fraudGate: () => FraudGate;
  /** IPs and user agents are stored (and judged by the gate) as pseudonyms (src/privacy). */
  privacy: PrivacyKeys;
  onEvents?: EventCounter;
  /** Tolerance on occurredAt (default CLOCK_SKEW_TOLERANCE_MS). */
  clockSkewToleranceMs?: number;
}

/** Campaigns the transaction needs in memory but found missing: load them, then run again. */
class CampaignsMissing extends Error {
  constructor(readonly ids: string[]) {
    super("campaigns not loaded");
  }
}

export class Learner {
  private readonly skew: number;

  constructor(private readonly o: LearnerOptions) {
    this.skew = o.clockSkewToleranceMs ?? CLOCK_SKEW_TOLERANCE_MS;
  }

  async ingest(workspaceId: string, input: EventInput[]): Promise<IngestResult> {
    const receivedAt = new Date();
    const { results, candidates } = parse(input, receivedAt, this.skew);
    if (candidates.length) {
      const pseudonymise = sourcePseudonymiser(await this.o.privacy.require(workspaceId));
      for (const c of candidates) c.ev.source = pseudonymise(c.ev.source);
    }
    let mayLoad = true;
    for (let attempt = 1; candidates.length; attempt++) {
      try {
        await this.run(workspaceId, candidates, results, mayLoad);
        break;
      } catch (err) {
        if (err instanceof CampaignsMissing && mayLoad) {
          for (const id of err.ids) await this.o.live.load(id);
          mayLoad = false;
          continue;
        }
        if (isTransient(err) && attempt < ATTEMPTS) {
          await new Promise((r) => setTimeout(r, 2 ** attempt + Math.random() * 10 * attempt));
          continue;
        }
        if (isUnavailable(err)) throw new DomainError("unavailable", "database unavailable");
        throw err;
      }
    }
    return this.count(results);
  }

  /** One transaction under the shared lock; memory follows what it committed. */
  private async run(
    workspaceId: string,
    candidates: Candidate[],
    results: EventResult[],
    mayLoad: boolean,
  ): Promise<void> {
    const { db, live } = this.o;
    await live.shared(async () => {
      let incs: ArmIncrement[] = [];
      let bucketRewards: BucketReward[] = [];
      let spend: SpendIncrement[] = [];
      let invalid = 0;
      let last: Promise<unknown> | undefined;
      await db.transaction(async (tx) => {
        const attributed = await this.attribute(tx, workspaceId, candidates, results, mayLoad);
        this.classify(attributed);
        // The earlier teaching events are read before this batch's are inserted: sent in that order, together.
        const [trialsAt, kept] = await Promise.all([
          priorTrials(tx, workspaceId, attributed),
          persist(tx, workspaceId, attributed, results),
        ]);
        invalid = kept.filter((a) => a.invalidReason !== null).length;
        const { updates, increments, rewards } = rewardDeltas(kept, trialsAt);
        spend = eventSpend(kept);
        // Independent commutative writes, sent together: the connection runs them in this order (the
        // lock order), and the transaction waits one round trip instead of four.
        const writes = Promise.all([
          applyRewards(tx, updates, increments),
          ...persistBucketRewards(tx, rewards),
          incrementSpend(tx, spend),
        ]);
        incs = increments;
        bucketRewards = rewards;
        // On PostgreSQL the COMMIT follows them in the same round trip: the hot rows they lock (arm_stats,
        // buckets, spend counters — every batch writes the same few) are then held for their execution
        // and the commit only, not also until their answers reach this process and it sends the COMMIT.
        if (commitPipelines(tx)) {
          last = writes;
          writes.catch(() => {}); // awaited below, once the transaction has returned
          return;
        }
        await writes;
      });
      // A write that failed aborted the transaction, and PostgreSQL answered its COMMIT with ROLLBACK:
      // nothing is stored, nothing is applied, and the error goes to the caller (retried if transient).
      await last;
      live.applied(incs, bucketRewards);
      applyEventSpend(live.campaigns, spend);
      if (invalid) this.o.onEvents?.("invalid", invalid);
    });
  }

  /**
   * The referred decisions, locked; unknown ones and events dated before their decision rejected; the
   * attribution window applied. A campaign not in memory ends the attempt (`mayLoad`: it is loaded
   * outside the lock) or, once loading did not find it, rejects its events.
   */
  private async attribute(
    tx: Pick<Db, "execute">,
    workspaceId: string,
    candidates: Candidate[],
    results: EventResult[],
    mayLoad: boolean,
  ): Promise<Attributed[]> {
    const ids = [...new Set(candidates.map((c) => c.ev.decisionId))];
    const decisions = new Map(
      (await lockDecisions(tx, workspaceId, ids, this.madeWithin(workspaceId, candidates))).map((d) => [d.id, d]),
    );
    const missing = new Set<string>();
    for (const d of decisions.values()) if (!this.o.live.campaigns.has(d.campaignId)) missing.add(d.campaignId);
    if (missing.size && mayLoad) throw new CampaignsMissing([...missing]);
    const out: Attributed[] = [];
    for (const c of candidates) {
      const decision = decisions.get(c.ev.decisionId);
      const campaign = decision && this.o.live.campaigns.get(decision.campaignId);
      if (!decision || !campaign) {
        results[c.i] = { id: c.ev.id, status: "rejected", reason: "unknown_decision" };
        continue;
      }
      if (decision.armKey === null) {
        results[c.i] = { id: c.ev.id, status: "rejected", reason: "decision_not_served" };
        continue;
      }
      const since = c.ev.occurredAt.getTime() - decision.createdAt.getTime();
      if (since < -this.skew) {
        results[c.i] = { id: c.ev.id, status: "rejected", reason: "occurred_before_decision" };
        continue;
      }
      const attributed = since <= campaign.attributionWindowHours * 3_600_000;
      // Fields listed, not spread: V8 builds `{ ...c, more }` in the runtime (~2.5 µs an object, measured),
      // a per-event cost on the ingest path.
      out.push({
        i: c.i,
        ev: c.ev,
        dated: c.dated,
        decision: decision as Attributed["decision"],
        campaign,
        attributed,
        invalidReason: null,
      });
    }
    return out;
  }

  /**
   * When the decisions these events can be attributed to were made: from the earliest event less the
   * longest attribution window of the workspace's campaigns loaded (the longest allowed when none is;
   * LiveState.attributionWindowBound) and the skew tolerance, to the latest event plus the tolerance. Only
   * a bound for the lookup's partition pruning: decisions outside it are still found (lockDecisions), so
   * the answers are unchanged.
   */
  private madeWithin(workspaceId: string, candidates: Candidate[]): MadeWithin {
    const windowHours = this.o.live.attributionWindowBound(workspaceId) || MAX_ATTRIBUTION_WINDOW_HOURS;
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const c of candidates) {
      const t = c.ev.occurredAt.getTime();
      if (t < lo) lo = t;
      if (t > hi) hi = t;
    }
    return { from: new Date(lo - windowHours * 3_600_000 - this.skew), to: new Date(hi + this.skew) };
  }

  private classify(events: Attributed[]): void {
    const gate = this.o.fraudGate();
    for (const a of events) a.invalidReason = gate.classify(a.ev, a.decision);
  }

  private count(results: EventResult[]): IngestResult {
    const out: IngestResult = { accepted: 0, duplicates: 0, rejected: 0, conflicts: 0, results };
    for (const r of results) {
      if (r.status === "accepted") out.accepted++;
      else if (r.status === "duplicate") out.duplicates++;
      else if (r.status === "conflict") out.conflicts++;
      else out.rejected++;
    }
    if (out.accepted) this.o.onEvents?.("accepted", out.accepted);
    if (out.duplicates) this.o.onEvents?.("duplicate", out.duplicates);
    if (out.rejected) this.o.onEvents?.("rejected", out.rejected);
    if (out.conflicts) this.o.onEvents?.("conflict", out.conflicts);
    return out;
  }
}

/** What must match for a resent id to be a duplicate rather than a conflict. */
interface Payload {
  type: string;
  decisionId: string;
  value: number;
  cost: number;
  /** undefined: not given by the sender (any stored time matches). */
  occurredAt?: number;
}

const samePayload = (a: Payload, b: Payload) =>
  a.type === b.type &&
  a.decisionId === b.decisionId &&
  a.value === b.value &&
  a.cost === b.cost &&
  (a.occurredAt === undefined || b.occurredAt === undefined || a.occurredAt === b.occurredAt);

const payloadOf = (c: Candidate): Payload => ({
  type: c.ev.type,
  decisionId: c.ev.decisionId,
  value: c.ev.value,
  cost: c.ev.cost,
  occurredAt: c.dated ? c.ev.occurredAt.getTime() : undefined,
});

/** Per-item checks without the database. */
function parse(
  input: EventInput[],
  receivedAt: Date,
  skew: number,
): { results: EventResult[]; candidates: Candidate[] } {
  const results: EventResult[] = input.map((e) => ({ id: e.id, status: "accepted" }));
  const first = new Map<string, Payload>();
  const candidates: Candidate[] = [];
  input.forEach((e, i) => {
    const occurredAt = e.occurredAt === undefined ? receivedAt : new Date(e.occurredAt);
    const c: Candidate = {
      i,
      dated: e.occurredAt !== undefined,
      ev: {
        id: e.id,
        decisionId: e.decisionId.toLowerCase(),
        type: e.type,
        value: e.value ?? 0,
        cost: e.cost ?? 0,
        occurredAt,
        receivedAt,
        source: e.source ?? {},
      },
    };
    const seen = first.get(e.id);
    if (seen) {
      results[i] = { id: e.id, status: samePayload(seen, payloadOf(c)) ? "duplicate" : "conflict" };
      return;
    }
    first.set(e.id, payloadOf(c));
    if (!isUuid(e.decisionId)) results[i] = { id: e.id, status: "rejected", reason: "unknown_decision" };
    else if (occurredAt.getTime() - receivedAt.getTime() > skew)
      results[i] = { id: e.id, status: "rejected", reason: "occurred_in_future" };
    else candidates.push(c);
  });
  return { results, candidates };
}

/**
 * Stores the events and sets each one's result: accepted (with `invalid` and its reason when the gate
 * flagged it), duplicate or conflict. Returns the events inserted.
 */
async function persist(
  tx: Pick<Db, "execute" | "select">,
  workspaceId: string,
  events: Attributed[],
  results: EventResult[],
): Promise<Attributed[]> {
  const rows: EventRow[] = events.map(({ ev, decision, attributed, invalidReason }) => ({
    workspaceId,
    eventId: ev.id,
    decisionId: decision.id,
    campaignId: decision.campaignId,
    armKey: decision.armKey,
    type: ev.type,
    value: ev.value,
    cost: ev.cost,
    occurredAt: ev.occurredAt,
    receivedAt: ev.receivedAt,
    sourceIp: ev.source.ip ?? null,
    sourceUserAgent: ev.source.userAgent ?? null,
    sourcePublisher: ev.source.publisher ?? null,
    sourcePlacement: ev.source.placement ?? null,
    attributed,
    invalidReason,
  }));
  const inserted = await insertEvents(tx, rows);
  const kept: Attributed[] = [];
  const resent: Attributed[] = [];
  for (const a of events) {
    if (!inserted.has(a.ev.id)) {
      resent.push(a);
      continue;
    }
    results[a.i] =
      a.invalidReason === null
        ? { id: a.ev.id, status: "accepted" }
        : { id: a.ev.id, status: "accepted", invalid: true, reason: a.invalidReason };
    kept.push(a);
  }
  if (resent.length) {
    const stored = await storedEvents(
      tx,
      workspaceId,
      resent.map((a) => a.ev.id),
    );
    for (const a of resent) {
      const s = stored.get(a.ev.id);
      const same =
        s !== undefined &&
        samePayload(payloadOf(a), {
          type: s.type,
          decisionId: s.decisionId,
          value: s.value,
          cost: s.cost,
          occurredAt: s.occurredAt.getTime(),
        });
      results[a.i] = { id: a.ev.id, status: same ? "duplicate" : "conflict" };
    }
  }
  return kept;
}

/**
 * The running reward of each decision taught by the stored events (attributed and valid), in batch
 * order, and the reward increment each change implies. In a campaign counting trials at impression,
 * a decision's first teaching event also makes it a trial (`trialIncrement` at its reward so far) in
 * the hour bucket of that event's time; its rewards and its delay are then counted from that time.
 * `trialsAt`: when such decisions already became trials (events received before this batch).
 */
function rewardDeltas(
  events: Attributed[],
  trialsAt: ReadonlyMap<string, Date>,
): {
  updates: RewardUpdate[];
  increments: ArmIncrement[];
  rewards: BucketReward[];
} {
  const running = new Map<
    string,
    { a: Attributed; reward: number; converted: boolean; convertedAt?: Date; firstAt: Date }
  >();
  for (const a of events) {
    if (!a.attributed || a.invalidReason !== null) continue;
    let s = running.get(a.decision.id);
    if (!s)
      running.set(
        a.decision.id,
        (s = { a, reward: a.decision.reward, converted: a.decision.converted, firstAt: a.ev.occurredAt }),
      );
    // The first conversion's time: the earliest among this batch's conversions (all received at once),
    // as the exact rebuild (recompute.ts) reads it from the stored rows.
    if (a.ev.type === "conversion" && !a.decision.converted && !(s.convertedAt && s.convertedAt <= a.ev.occurredAt))
      s.convertedAt = a.ev.occurredAt;
    applyEvent(a.campaign.objective, s, a.ev);
    if (a.ev.occurredAt < s.firstAt) s.firstAt = a.ev.occurredAt;
  }
  const updates: RewardUpdate[] = [];
  const increments: ArmIncrement[] = [];
  const rewards: BucketReward[] = [];
  for (const { a, reward, converted, convertedAt, firstAt } of running.values()) {
    const d = a.decision;
    const c = a.campaign;
    const atImpression = c.trialAt === "impression";
    const prior = atImpression ? trialsAt.get(d.id) : undefined;
    const newTrial = atImpression && prior === undefined;
    const changed = reward !== d.reward || converted !== d.converted;
    if (!changed && !newTrial) continue;
    if (changed) updates.push({ id: d.id, rowId: d.rowId, createdAt: d.createdAt, reward, converted });
    const first = converted && !d.converted;
    // The trial's time: the decision, or (trialAt impression) its first teaching event, never before the decision.
    const startMs = atImpression
      ? Math.max(d.createdAt.getTime(), (prior ?? firstAt).getTime())
      : d.createdAt.getTime();
    const hour = hourOf(startMs);
    const key = { campaignId: c.id, armKey: d.armKey };
    let x: Float64Array | undefined;
    if (c.encoder && (newTrial || reward !== d.reward)) {
      try {
        x = c.encoder.encode(d.context ?? undefined);
      } catch {
        x = new Float64Array(c.dim);
      }
    }
    const entry: BucketReward = {
      campaignId: key.campaignId,
      armKey: key.armKey,
      hour,
      stats: { n: 0, sum: 0, sumSq: 0 },
      delayHours: first && convertedAt ? (convertedAt.getTime() - startMs) / 3_600_000 : undefined,
    };
    if (newTrial) {
      const t = trialIncrement(key, d.reward, x);
      increments.push(t);
      entry.trial = { n: t.n, sum: t.sum, sumSq: t.sumSq, ...(t.xx ? { xx: t.xx, xr: t.xr } : {}) };
    }
    if (reward !== d.reward) {
      const inc = rewardIncrement(key, d.reward, reward, x);
      increments.push(inc);
      // The rewards part of the trial's hour bucket: n counts the decisions that converted.
      entry.stats = { n: first ? 1 : 0, sum: inc.sum, sumSq: inc.sumSq, ...(inc.xr ? { xr: inc.xr } : {}) };
    } else if (first) {
      // Converted without a change of reward (e.g. a conversion worth 0): the bucket counts it as arrived.
      entry.stats = { n: 1, sum: 0, sumSq: 0 };
    }
    rewards.push(entry);
  }
  return { updates, increments, rewards };
}

/** Decisions of campaigns counting trials at impression: when the ones already counted became trials. */
async function priorTrials(
  tx: Pick<Db, "execute">,
  workspaceId: string,
  events: Attributed[],
): Promise<Map<string, Date>> {
  const ids = new Set<string>();
  for (const a of events) if (a.campaign.trialAt === "impression") ids.add(a.decision.id);
  return ids.size ? firstTeachingEvents(tx, workspaceId, [...ids]) : new Map();
}

/**
 * The rewards parts of the decisions' hour buckets, and the delays of first conversions per cohort hour:
 * the statements, started (in this order), for the caller to await together.
 */
function persistBucketRewards(tx: Pick<Db, "execute">, rewards: BucketReward[]): Promise<unknown>[] {
  if (rewards.length === 0) return [];
  const writes: Promise<unknown>[] = [
    incrementBuckets(
      tx,
      rewards.map((r) => ({
        campaignId: r.campaignId,
        armKey: r.armKey,
        hour: r.hour,
        trials: r.trial,
        rewards: r.stats,
      })),
    ),
  ];
  const delays = rewards
    .filter((r) => r.delayHours !== undefined)
    .map((r) => {
      const counts = new Array<number>(DELAY_BINS).fill(0);
      counts[delayBin(r.delayHours!)] = 1;
      return { campaignId: r.campaignId, hour: r.hour, counts };
    });
  if (delays.length) writes.push(tx.execute(upsertDelayIncrements(delays)));
  return writes;
}
