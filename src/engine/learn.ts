/**
 * The learn flow: a batch of events in one transaction, as named steps —
 *
 *   parse → attribute → classify → persist → reward deltas → (commit) → apply
 *
 * - parse: per-item checks that need no database (repeated id in the batch, decision id shape);
 * - attribute: the decisions the events refer to, locked (FOR UPDATE, id order), and whether each
 *   event falls in its campaign's attribution window;
 * - classify: the fraud gate's verdict per event (an invalid event is stored but teaches nothing);
 * - persist: `insert … on conflict do nothing returning` — what was not inserted is a duplicate;
 * - reward deltas: the running reward of each decision moves per the objective (rewards.ts), which
 *   gives one reward increment per changed decision (stats.ts), written with the new rewards;
 * - apply: once committed, memory moves by exactly those increments.
 *
 * The transaction runs under the live state's shared lock. A campaign not in memory yet (created by
 * another process) is loaded before the transaction, never inside it (load takes the exclusive lock).
 */
import type { Logger } from "pino";
import type { Db } from "../store/db.ts";
import { isUnavailable } from "../store/db.ts";
import { lockDecisions, type DecisionRow } from "../store/decisions.ts";
import { applyRewards, insertEvents, type EventRow } from "../store/events.ts";
import type { LiveCampaign } from "./campaign.ts";
import { DomainError } from "./errors.ts";
import { isUuid, type LiveState } from "./live.ts";
import { applyEvent } from "./rewards.ts";
import { rewardIncrement, type ArmIncrement } from "./stats.ts";
import type { EventType, FraudGate, IncomingEvent, IngestResult } from "./types.ts";

export interface EventInput {
  id: string;
  decisionId: string;
  type: EventType;
  value?: number;
  cost?: number;
  occurredAt?: string | Date;
  source?: { ip?: string; userAgent?: string; publisher?: string; placement?: string };
}

type ItemResult = IngestResult["results"][number];

interface Candidate {
  /** Position in the request. */
  i: number;
  ev: IncomingEvent;
}

interface Attributed extends Candidate {
  decision: DecisionRow;
  campaign: LiveCampaign;
  attributed: boolean;
  invalidReason: string | null;
}

export interface LearnerOptions {
  db: Db;
  live: LiveState;
  logger: Logger;
  fraudGate: () => FraudGate;
  onEvents?: (status: "accepted" | "duplicate" | "rejected" | "invalid", n: number) => void;
}

/** Campaigns the transaction needs in memory but found missing: load them, then run again. */
class CampaignsMissing extends Error {
  constructor(readonly ids: string[]) {
    super("campaigns not loaded");
  }
}

export class Learner {
  constructor(private readonly o: LearnerOptions) {}

  async ingest(workspaceId: string, input: EventInput[]): Promise<IngestResult> {
    const receivedAt = new Date();
    const { results, candidates } = parse(input, receivedAt);
    if (candidates.length) {
      try {
        await this.run(workspaceId, candidates, results, true);
      } catch (err) {
        if (!(err instanceof CampaignsMissing)) throw err;
        for (const id of err.ids) await this.o.live.load(id);
        await this.run(workspaceId, candidates, results, false);
      }
    }
    return this.count(results);
  }

  /** One transaction under the shared lock; memory follows what it committed. */
  private async run(
    workspaceId: string,
    candidates: Candidate[],
    results: ItemResult[],
    mayLoad: boolean,
  ): Promise<void> {
    const { db, live } = this.o;
    await live.shared(async () => {
      let incs: ArmIncrement[] = [];
      let invalid = 0;
      try {
        await db.transaction(async (tx) => {
          const attributed = await this.attribute(tx, workspaceId, candidates, results, mayLoad);
          this.classify(attributed);
          const inserted = await persist(tx, workspaceId, attributed);
          const kept: Attributed[] = [];
          for (const a of attributed) {
            if (!inserted.has(a.ev.id)) results[a.i] = { id: a.ev.id, status: "duplicate" };
            else {
              results[a.i] = { id: a.ev.id, status: "accepted" };
              kept.push(a);
            }
          }
          invalid = kept.filter((a) => a.invalidReason !== null).length;
          const { updates, increments } = rewardDeltas(kept);
          await applyRewards(tx, updates, increments);
          incs = increments;
        });
      } catch (err) {
        if (isUnavailable(err)) throw new DomainError("unavailable", "database unavailable");
        throw err;
      }
      live.applied(incs);
      if (invalid) this.o.onEvents?.("invalid", invalid);
    });
  }

  /**
   * The referred decisions, locked; unknown ones rejected; the attribution window applied. A campaign
   * not in memory ends the attempt (`mayLoad`: to be loaded outside the lock) or rejects its events.
   */
  private async attribute(
    tx: Pick<Db, "select">,
    workspaceId: string,
    candidates: Candidate[],
    results: ItemResult[],
    mayLoad: boolean,
  ): Promise<Attributed[]> {
    const ids = [...new Set(candidates.map((c) => c.ev.decisionId))];
    const decisions = new Map((await lockDecisions(tx, workspaceId, ids)).map((d) => [d.id, d]));
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
      const attributed =
        c.ev.occurredAt.getTime() - decision.createdAt.getTime() <= campaign.attributionWindowHours * 3_600_000;
      out.push({ ...c, decision, campaign, attributed, invalidReason: null });
    }
    return out;
  }

  private classify(events: Attributed[]): void {
    const gate = this.o.fraudGate();
    for (const a of events) a.invalidReason = gate.classify(a.ev, a.decision);
  }

  private count(results: ItemResult[]): IngestResult {
    const out: IngestResult = { accepted: 0, duplicates: 0, rejected: 0, results };
    for (const r of results) {
      if (r.status === "accepted") out.accepted++;
      else if (r.status === "duplicate") out.duplicates++;
      else out.rejected++;
    }
    if (out.accepted) this.o.onEvents?.("accepted", out.accepted);
    if (out.duplicates) this.o.onEvents?.("duplicate", out.duplicates);
    if (out.rejected) this.o.onEvents?.("rejected", out.rejected);
    return out;
  }
}

/** Per-item checks without the database: an id repeated in the batch, a decision id that cannot exist. */
function parse(input: EventInput[], receivedAt: Date): { results: ItemResult[]; candidates: Candidate[] } {
  const results: ItemResult[] = input.map((e) => ({ id: e.id, status: "accepted" }));
  const seen = new Set<string>();
  const candidates: Candidate[] = [];
  input.forEach((e, i) => {
    if (seen.has(e.id)) {
      results[i] = { id: e.id, status: "duplicate" };
      return;
    }
    seen.add(e.id);
    if (!isUuid(e.decisionId)) {
      results[i] = { id: e.id, status: "rejected", reason: "unknown_decision" };
      return;
    }
    candidates.push({
      i,
      ev: {
        id: e.id,
        decisionId: e.decisionId.toLowerCase(),
        type: e.type,
        value: e.value ?? 0,
        cost: e.cost ?? 0,
        occurredAt: e.occurredAt === undefined ? receivedAt : new Date(e.occurredAt),
        receivedAt,
        source: e.source ?? {},
      },
    });
  });
  return { results, candidates };
}

/** Stores the events; returns the ids actually inserted (the others were already stored). */
function persist(tx: Pick<Db, "execute">, workspaceId: string, events: Attributed[]): Promise<Set<string>> {
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
  return insertEvents(tx, rows);
}

/**
 * The running reward of each decision taught by the stored events (attributed and valid), in batch
 * order, and the reward increment each change implies.
 */
function rewardDeltas(events: Attributed[]): {
  updates: { id: string; reward: number; converted: boolean }[];
  increments: ArmIncrement[];
} {
  const running = new Map<string, { a: Attributed; reward: number; converted: boolean }>();
  for (const a of events) {
    if (!a.attributed || a.invalidReason !== null) continue;
    let s = running.get(a.decision.id);
    if (!s) running.set(a.decision.id, (s = { a, reward: a.decision.reward, converted: a.decision.converted }));
    applyEvent(a.campaign.objective, s, a.ev);
  }
  const updates: { id: string; reward: number; converted: boolean }[] = [];
  const increments: ArmIncrement[] = [];
  for (const { a, reward, converted } of running.values()) {
    const d = a.decision;
    if (reward === d.reward && converted === d.converted) continue;
    updates.push({ id: d.id, reward, converted });
    if (reward === d.reward) continue;
    const c = a.campaign;
    let x: Float64Array | undefined;
    if (c.encoder) {
      try {
        x = c.encoder.encode(d.context ?? undefined);
      } catch {
        x = new Float64Array(c.dim);
      }
    }
    increments.push(rewardIncrement({ campaignId: c.id, armKey: d.armKey }, d.reward, reward, x));
  }
  return { updates, increments };
}
