/**
 * The decide flow: the strategy chooses from the in-memory posterior (prepare), the trial is counted in
 * memory at once and queued (LiveState.queued), and the group commit (decision-log.ts) writes every
 * queued decision in one multi-row INSERT plus the arm_stats increments in the same statement; the
 * caller's promise resolves only after the commit. A commit settles its increments (committed, or taken
 * back out of memory) before it releases the shared lock, so a refresh never sees one counted twice.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Xoshiro128 } from "../../strategies/rng.ts";
import { pseudonymiseUnit, type WorkspacePrivacy } from "../privacy/pseudonym.ts";
import type { PrivacyKeys } from "../privacy/keys.ts";
import { isUnavailable, type Db } from "../store/db.ts";
import { insertDecisionsWithStats, type DecisionRow } from "../store/decisions.ts";
import type { LiveCampaign } from "./campaign.ts";
import { DecisionLog } from "./decision-log.ts";
import { describeDbError, isDataError } from "./db-errors.ts";
import { DomainError } from "./errors.ts";
import type { LiveState } from "./live.ts";
import { asDomainError } from "./registry.ts";
import { baseReward } from "./rewards.ts";
import { isValidTimeZone, nextSendAt } from "./sendtime.ts";
import { hourOf } from "./buckets.ts";
import { chooseWithBudget } from "../budget/serve.ts";
import { pacersStored, pacerWrites, settleSpend, spendIncrements, spendOfDecision } from "../budget/spend.ts";
import type { PacerRow, SpendIncrement } from "../store/spend.ts";
import { trialIncrement, type ArmIncrement } from "./stats.ts";
import type { DecisionRequest, DecisionResult } from "./types.ts";

/** A decision made and counted in memory, waiting for its commit. */
export interface PendingDecision {
  row: DecisionRow;
  /** Its trial (stats.ts trialIncrement); none when it was not served, or not yet a trial (trialAt impression). */
  inc?: ArmIncrement;
  /** What it adds to the campaign's spend counters (src/budget/). */
  spend?: SpendIncrement;
}

export type BatchItemResult =
  | DecisionResult
  | { error: { code: string; message: string; details?: { path: string; message: string }[] } };

export interface DeciderOptions {
  db: Db;
  live: LiveState;
  logger: Logger;
  rng: Xoshiro128;
  /** The workspaces' secrets and settings: unit ids are logged as their keyed hash (src/privacy). */
  privacy: PrivacyKeys;
  maxBatch?: number;
  maxInflight?: number;
  minParallelBatch?: number;
  onDecisions?: (n: number) => void;
}

const notFound = () => new DomainError("not_found", "campaign not found");

export class Decider {
  private readonly log: DecisionLog<PendingDecision>;
  closed = false;

  constructor(private readonly o: DeciderOptions) {
    this.log = new DecisionLog<PendingDecision>({
      write: (batch) => this.commit(batch),
      maxBatch: o.maxBatch,
      maxInflight: o.maxInflight,
      minParallelBatch: o.minParallelBatch,
    });
  }

  /** The workspace's campaign (synchronously when in memory: the hot path awaits nothing before the commit). */
  private campaign(workspaceId: string, id: string): LiveCampaign | Promise<LiveCampaign> {
    const c = this.o.live.campaigns.get(id);
    if (c) {
      if (c.workspaceId !== workspaceId) throw notFound();
      return c;
    }
    return this.o.live.get(id).then((l) => {
      if (!l || l.workspaceId !== workspaceId) throw notFound();
      return l;
    });
  }

  /** Chooses an arm, counts the trial in memory and queues the log row; resolves after the commit. */
  async decide(workspaceId: string, campaignId: string, req: DecisionRequest): Promise<DecisionResult> {
    const got = this.campaign(workspaceId, campaignId);
    const c = got instanceof Promise ? await got : got;
    const known = this.o.privacy.require(workspaceId);
    const ws = known instanceof Promise ? await known : known;
    const { result, pending } = this.prepare(c, req, null, ws);
    await this.log.append(pending);
    return result;
  }

  /** Each request decided independently; a failing one gets `{error}` in its place. */
  async decideBatch(
    workspaceId: string,
    requests: (DecisionRequest & { campaignId: string })[],
  ): Promise<BatchItemResult[]> {
    const out: BatchItemResult[] = new Array(requests.length);
    const waits: Promise<void>[] = [];
    const ws = await this.o.privacy.require(workspaceId);
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i];
      try {
        const got = this.campaign(workspaceId, r.campaignId);
        const c = got instanceof Promise ? await got : got;
        const { result, pending } = this.prepare(c, r, i, ws);
        out[i] = result;
        waits.push(this.log.append(pending));
      } catch (err) {
        const d = err instanceof DomainError ? err : undefined;
        if (!d) throw err;
        out[i] = {
          error: {
            code: d.code,
            message: d.message,
            ...(d.details ? { details: d.details.map((x) => ({ ...x, path: `requests.${i}.${x.path}` })) } : {}),
          },
        };
      }
    }
    await Promise.all(waits);
    return out;
  }

  /** Resolves when nothing is queued or in flight. */
  flush(): Promise<void> {
    return this.log.flush();
  }

  /**
   * Without consent to personalisation (`consent.personalisation: false`) the decision is made as if no
   * context were given — the campaign's non-contextual policy — and logged with its propensity but with
   * neither context nor unit.
   */
  private prepare(
    c: LiveCampaign,
    req: DecisionRequest,
    position: number | null,
    ws: WorkspacePrivacy,
  ): { result: DecisionResult; pending: PendingDecision } {
    const personal = req.consent?.personalisation !== false;
    if (this.closed) throw new DomainError("unavailable", "service is shutting down");
    if (c.status !== "active") throw new DomainError("conflict", `campaign is ${c.status}`);
    let after: Date | undefined;
    let tz = "UTC";
    if (c.kind === "send_time") {
      if (req.timezone !== undefined) {
        if (!isValidTimeZone(req.timezone))
          throw new DomainError("invalid_request", `timezone: unknown IANA time zone "${req.timezone}"`, [
            { path: "timezone", message: "unknown IANA time zone" },
          ]);
        tz = req.timezone;
      }
      after = req.after === undefined ? new Date() : new Date(req.after);
      if (Number.isNaN(after.getTime()))
        throw new DomainError("invalid_request", "after: not an ISO-8601 instant", [
          { path: "after", message: "not an ISO-8601 instant" },
        ]);
    }
    let x: Float64Array | undefined;
    if (c.encoder) {
      try {
        x = c.encoder.encode(personal ? req.context : undefined);
      } catch (err) {
        throw asDomainError(err, "context") ?? err;
      }
    }
    if (!c.arms.some((a) => a.status === "active")) throw new DomainError("conflict", "campaign has no active arm");
    const createdAt = new Date();
    // Budgets, pacing and ROI guardrails (src/budget/serve.ts): an arm, or none and why.
    const choice = chooseWithBudget(c, x, this.o.rng, createdAt.getTime());
    const arm = choice.arm >= 0 ? c.arms[choice.arm] : undefined;
    const spend = spendOfDecision(c, arm, createdAt.getTime());
    const reward = arm ? baseReward(c.objective, arm.cost) : 0;
    let inc: ArmIncrement | undefined;
    // trialAt "impression": logged now, counted as a trial when its first impression arrives (learn.ts).
    if (arm && c.trialAt !== "impression") {
      inc = trialIncrement({ campaignId: c.id, armKey: arm.key }, reward, x);
      this.o.live.queued(c, arm.index, inc, hourOf(createdAt.getTime()));
    }
    const id = randomUUID();
    const result: DecisionResult = {
      decisionId: id,
      campaignId: c.id,
      arm: arm ? { key: arm.key, name: arm.name, metadata: arm.metadata } : null,
      propensity: choice.propensity,
    };
    if (choice.reason) result.reason = choice.reason;
    if (req.unitId !== undefined) result.unitId = req.unitId;
    if (after && arm) result.sendAt = nextSendAt(arm.key, tz, after).toISOString();
    const row: DecisionRow = {
      id,
      workspaceId: c.workspaceId,
      campaignId: c.id,
      armKey: arm?.key ?? null,
      propensity: choice.propensity,
      served: arm !== undefined,
      reason: choice.reason ?? null,
      context: personal ? (req.context ?? null) : null,
      timezone: c.kind === "send_time" ? tz : null,
      ...(personal && req.unitId !== undefined ? pseudonymiseUnit(ws, req.unitId) : { unitId: null, unitHash: null }),
      position,
      strategyVersion: c.version,
      createdAt,
      reward,
      converted: false,
    };
    return { result, pending: { row, inc, spend } };
  }

  /**
   * One group commit under the shared lock. Committed: the increments leave `pending`. Failed: they
   * leave memory altogether (not logged, so not counted) and the decisions get the error.
   *
   * A batch the database refuses for another reason than being unreachable is split in halves and each
   * half tried again (bisection), so that only the decision the database cannot store fails — one
   * request never fails the others it happened to share a commit with. That decision's failure is
   * logged in one line (its ids and the driver's message, never the batch's parameters) and answered
   * 400 when the database refused its data (class 22 or 54), else as it came.
   */
  private commit(batch: PendingDecision[]): Promise<(unknown | undefined)[]> {
    return this.o.live.shared(async () => {
      const out: (unknown | undefined)[] = new Array(batch.length);
      await this.commitPart(batch, 0, batch.length, out);
      return out;
    });
  }

  private async commitPart(
    batch: PendingDecision[],
    from: number,
    to: number,
    out: (unknown | undefined)[],
  ): Promise<void> {
    const { live, db, logger } = this.o;
    const part = from === 0 && to === batch.length ? batch : batch.slice(from, to);
    let pacers: PacerRow[] = [];
    try {
      const served = part.filter((e) => e.inc !== undefined);
      pacers = pacerWrites(live.campaigns, part);
      await insertDecisionsWithStats(
        db,
        part.map((e) => e.row),
        served.map((e) => e.inc!),
        served.map((e) => ({
          campaignId: e.row.campaignId,
          armKey: e.row.armKey!,
          hour: hourOf(e.row.createdAt.getTime()),
          trials: e.inc,
        })),
        spendIncrements(part),
        pacers,
      );
    } catch (err) {
      if (isUnavailable(err) || part.length === 1) {
        for (const e of part) settle(live, e, false);
        const answer = failure(err);
        for (let i = from; i < to; i++) out[i] = answer;
        if (!isUnavailable(err))
          logger.error(
            { decisionId: part[0].row.id, campaignId: part[0].row.campaignId, db: describeDbError(err) },
            "decision could not be logged",
          );
        return;
      }
      const mid = from + Math.ceil(part.length / 2);
      await this.commitPart(batch, from, mid, out);
      await this.commitPart(batch, mid, to, out);
      return;
    }
    for (const e of part) settle(live, e, true);
    pacersStored(live.campaigns, pacers);
    // Before the answers: a client's next decision sees these trials (one posterior sync per commit).
    live.syncDirty();
    this.o.onDecisions?.(part.length);
    for (let i = from; i < to; i++) out[i] = undefined;
  }
}

/** A decision's trial and spend leave `pending` (committed) or memory (failed). */
function settle(live: LiveState, e: PendingDecision, ok: boolean): void {
  if (e.inc) live.settle(e.inc, ok, hourOf(e.row.createdAt.getTime()));
  if (e.spend) settleSpend(live.campaigns.get(e.row.campaignId), e.spend, ok);
}

/** The answer for a decision whose commit failed. */
function failure(err: unknown): unknown {
  if (isUnavailable(err)) return new DomainError("unavailable", "database unavailable");
  if (isDataError(err))
    return new DomainError("invalid_request", `the decision could not be stored: ${describeDbError(err).message}`);
  return err;
}
