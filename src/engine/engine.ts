/**
 * The engine: live campaigns in memory, decide, learn, flush, refresh.
 *
 * - decide: the strategy chooses from the in-memory posterior; the trial is counted in memory at once
 *   and queued; a group commit writes every queued decision in one multi-row INSERT plus the arm_stats
 *   increments in the same transaction, and the caller's promise resolves only after the commit.
 * - ingest: one transaction per batch of events (dedupe by `insert … on conflict do nothing returning`,
 *   attribution window, fraud gate, running reward per decision so sum_sq stays exact), then the
 *   in-memory statistics move by exactly what was committed.
 * - refresh: every `refreshIntervalMs`, totals written by other processes are read back
 *   (stats = database + still-queued increments), and campaigns whose version changed are rebuilt.
 * A readers–writer lock orders these: flushes and ingests run side by side (their increments commute),
 * refresh and reloads run alone, so memory never counts an increment twice or misses one.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import type { Logger } from "pino";
import { Xoshiro128 } from "../../strategies/rng.ts";
import type { ArmStats } from "../../strategies/types.ts";
import { readArmStats, type ArmStatsRow } from "../store/arm-stats.ts";
import { isUnavailable, rows, type Database, type Db } from "../store/db.ts";
import { applyRewards, insertEvents, lockDecisions, type EventRow } from "../store/events.ts";
import { recomputeArmStats } from "./recompute.ts";
import { applyEvent, baseReward } from "./rewards.ts";
import {
  armStats,
  arms,
  campaigns,
  type ArmRowStatus,
  type CampaignKind,
  type CampaignStatus,
  type ContextFeatureSpec,
  type Objective,
} from "../store/schema.ts";
import {
  buildLive,
  publicCampaign,
  syncArm,
  strategyParams,
  toStrategyStatus,
  type CampaignConfig,
  type LiveArm,
  type LiveCampaign,
} from "./campaign.ts";
import { DomainError } from "./errors.ts";
import { DecisionLog, type QueuedDecision } from "./decision-log.ts";
import { RwLock } from "./mutex.ts";
import { asDomainError, resolveStrategy, type StrategyRegistry } from "./registry.ts";
import { DAY_HOURS, isValidTimeZone, nextSendAt, parseSendTimeKey } from "./sendtime.ts";
import {
  applied,
  carryPending,
  committed,
  failed,
  foldBuckets,
  fromDatabase,
  queued,
  rewardIncrement,
  trialIncrement,
  type ArmIncrement,
} from "./stats.ts";
import {
  allowAll,
  type DecisionRequest,
  type DecisionResult,
  type DecisionRow,
  type EventType,
  type FraudGate,
  type IngestResult,
  type IncomingEvent,
} from "./types.ts";

export interface EngineOptions {
  database: Database;
  registry: StrategyRegistry;
  logger: Logger;
  seed?: number;
  refreshIntervalMs?: number;
  fraudGate?: FraudGate;
  /** Largest number of decisions in one group commit. */
  maxBatch?: number;
  /** Group commits in flight at once (default 2). */
  maxInflight?: number;
  /** Queue length from which a commit starts while another is in flight (default 16). */
  minParallelBatch?: number;
  onDecisions?: (n: number) => void;
  onEvents?: (status: "accepted" | "duplicate" | "rejected" | "invalid", n: number) => void;
}

export interface ArmInput {
  key: string;
  name?: string;
  cost?: number;
  metadata?: Record<string, unknown>;
}

export interface CampaignInput {
  name: string;
  kind: CampaignKind;
  objective: Objective;
  strategy: { type: string } & Record<string, unknown>;
  arms?: ArmInput[];
  attributionWindowHours?: number;
  explorationFloor?: number;
  contextFeatures?: ContextFeatureSpec[];
}

export interface CampaignPatch {
  name?: string;
  status?: CampaignStatus;
  strategy?: Record<string, unknown>;
  explorationFloor?: number;
  attributionWindowHours?: number;
}

export interface EventInput {
  id: string;
  decisionId: string;
  type: EventType;
  value?: number;
  cost?: number;
  occurredAt?: string | Date;
  source?: { ip?: string; userAgent?: string; publisher?: string; placement?: string };
}

/**
 * Params that make a posterior depend on the order of observations (discounting, sliding windows)
 * cannot be rebuilt from the commutative sums the service persists and shares between processes,
 * so the service refuses them rather than silently ignoring them (simulations may use them).
 */
const ORDER_DEPENDENT_PARAMS = ["discount", "window"] as const;

function refuseOrderDependent(strategy: Record<string, unknown>): void {
  for (const k of ORDER_DEPENDENT_PARAMS)
    if (strategy[k] !== undefined)
      throw new DomainError(
        "invalid_request",
        `strategy.${k}: not supported by the service (statistics are persisted as commutative sums shared by every process)`,
        [{ path: `strategy.${k}`, message: "not supported by the service" }],
      );
}

const REFRESH_MARGIN_MS = 60_000;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const notFound = (what = "campaign") => new DomainError("not_found", `${what} not found`);

export class Engine {
  readonly campaigns = new Map<string, LiveCampaign>();
  private readonly db: Db;
  private readonly rng: Xoshiro128;
  private readonly lock = new RwLock();
  private readonly log: DecisionLog;
  /** Arms whose trials were counted since the strategy state last saw them (synced once per tick). */
  private dirty = new Map<LiveCampaign, Set<number>>();
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private closed = false;
  fraudGate: FraudGate;
  private lastRefreshAt: Date | null = null;
  private refreshes = 0;

  constructor(private readonly opts: EngineOptions) {
    this.db = opts.database.db;
    this.rng = new Xoshiro128(opts.seed ?? randomBytes(4).readUInt32LE(0));
    this.fraudGate = opts.fraudGate ?? allowAll;
    this.log = new DecisionLog({
      db: this.db,
      lock: this.lock,
      logger: opts.logger,
      maxBatch: opts.maxBatch,
      maxInflight: opts.maxInflight,
      minParallelBatch: opts.minParallelBatch,
      beforeCommit: () => this.syncDirty(),
      settle: (e, committed) => this.settle(e, committed),
      onCommitted: opts.onDecisions,
    });
  }

  /** Loads every campaign and starts the refresh loop. */
  async start(): Promise<void> {
    const ids = await rows<{ id: string }>(this.db, sql`select id from campaigns where status <> 'archived'`);
    await this.lock.exclusive(async () => {
      for (const { id } of ids) {
        try {
          await this.loadUnlocked(this.db, id);
        } catch (err) {
          // One campaign the library can no longer build must not keep the others from being served.
          if (isUnavailable(err)) throw err;
          this.opts.logger.error({ err, campaignId: id }, "campaign could not be loaded");
        }
      }
    });
    const every = this.opts.refreshIntervalMs ?? 2000;
    if (every > 0) {
      this.timer = setInterval(() => {
        if (!this.refreshing)
          this.refreshing = this.refresh()
            .catch((err) => this.opts.logger.warn({ err }, "refresh failed"))
            .finally(() => (this.refreshing = null));
      }, every);
      this.timer.unref();
    }
  }

  /** Stops the refresh loop and waits for queued decisions to be committed. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.refreshing;
    await this.flush();
  }

  setFraudGate(gate: FraudGate): void {
    this.fraudGate = gate;
  }

  // ---------------------------------------------------------------- campaigns

  /** The live campaign if it belongs to the workspace (foreign ids answer not_found, like unknown ones). */
  async campaign(workspaceId: string, id: string): Promise<LiveCampaign> {
    const c =
      this.campaigns.get(id) ??
      (UUID_RE.test(id) ? await this.lock.exclusive(() => this.loadUnlocked(this.db, id)) : undefined);
    if (!c || c.workspaceId !== workspaceId) throw notFound();
    return c;
  }

  private async loadUnlocked(db: Pick<Db, "select" | "execute">, id: string): Promise<LiveCampaign | undefined> {
    const [row] = await db.select().from(campaigns).where(eq(campaigns.id, id));
    if (!row) return undefined;
    const armRows = await db.select().from(arms).where(eq(arms.campaignId, id));
    const statRows = await db.select().from(armStats).where(eq(armStats.campaignId, id));
    const cfg: CampaignConfig = { ...row, contextFeatures: row.contextFeatures ?? [] };
    const impl = resolveStrategy(this.opts.registry, cfg.strategy.type);
    const encoder = impl.contextual ? this.opts.registry.createEncoder(cfg.contextFeatures) : undefined;
    const dim = impl.contextual ? (encoder?.dim ?? 1) : 0;
    const liveArms: LiveArm[] = armRows.map((a) => ({
      key: a.key,
      name: a.name,
      cost: a.cost,
      metadata: a.metadata ?? {},
      status: a.status,
      index: a.position,
      createdAt: a.createdAt,
    }));
    const prev = this.campaigns.get(id);
    const totals = new Map<string, ArmStats>();
    for (const s of statRows) totals.set(s.armKey, foldBuckets([s], dim));
    const live = buildLive(cfg, impl, encoder, liveArms, totals);
    if (prev) {
      carryPending(prev, live);
      for (const a of live.arms) syncArm(live.impl, live.state, a.index, live.stats[a.index]);
    }
    this.campaigns.set(id, live);
    return live;
  }

  /** Re-reads one campaign (configuration, arms and totals) from the database. */
  async reload(id: string): Promise<LiveCampaign | undefined> {
    return this.lock.exclusive(() => this.loadUnlocked(this.db, id));
  }

  async listCampaigns(workspaceId: string) {
    const rowsC = await this.db
      .select({ id: campaigns.id })
      .from(campaigns)
      .where(eq(campaigns.workspaceId, workspaceId))
      .orderBy(campaigns.createdAt);
    const out = [];
    for (const r of rowsC) {
      const c = this.campaigns.get(r.id) ?? (await this.reload(r.id));
      if (c) out.push(publicCampaign(c));
    }
    return out;
  }

  async createCampaign(workspaceId: string, input: CampaignInput) {
    const impl = resolveStrategy(this.opts.registry, input.strategy.type);
    refuseOrderDependent(input.strategy);
    const contextFeatures = input.contextFeatures ?? [];
    const sf = input.strategy.explorationFloor;
    const floor = input.explorationFloor ?? (typeof sf === "number" ? sf : 0);
    if (impl.contextual && contextFeatures.length === 0)
      throw new DomainError(
        "invalid_request",
        `contextFeatures: strategy "${impl.type}" is contextual and needs at least one context feature`,
        [{ path: "contextFeatures", message: "required (non-empty) for a contextual strategy" }],
      );
    try {
      impl.parseParams(strategyParams(input.strategy, floor));
    } catch (err) {
      throw asDomainError(err, "strategy") ?? err;
    }
    let encoder: ReturnType<StrategyRegistry["createEncoder"]> | undefined;
    try {
      if (impl.contextual || contextFeatures.length) encoder = this.opts.registry.createEncoder(contextFeatures);
    } catch (err) {
      // The encoder names fields "features[i].type"; the API calls them contextFeatures.i.type.
      const d = asDomainError(err, "contextFeatures");
      if (!d) throw err;
      const fix = (t: string) =>
        t.replace("contextFeatures.features[", "contextFeatures.").replace(/^(contextFeatures\.\d+)\]/, "$1");
      throw new DomainError(
        d.code,
        fix(d.message),
        d.details?.map((x) => ({ path: fix(x.path), message: x.message })),
      );
    }
    let armsIn = input.arms;
    if (!armsIn || armsIn.length === 0) {
      if (input.kind !== "send_time")
        throw new DomainError("invalid_request", "arms: at least one arm is required", [
          { path: "arms", message: "at least one arm is required" },
        ]);
      armsIn = DAY_HOURS.map((key) => ({ key }));
    }
    const seen = new Set<string>();
    armsIn.forEach((a, i) => {
      if (seen.has(a.key))
        throw new DomainError("invalid_request", `arms.${i}.key: duplicate key "${a.key}"`, [
          { path: `arms.${i}.key`, message: `duplicate key "${a.key}"` },
        ]);
      seen.add(a.key);
      if (input.kind === "send_time" && !parseSendTimeKey(a.key))
        throw new DomainError(
          "invalid_request",
          `arms.${i}.key: a send_time arm is an hour "00".."23" or "mon-00".."sun-23"`,
          [{ path: `arms.${i}.key`, message: 'a send_time arm is an hour "00".."23" or "mon-00".."sun-23"' }],
        );
    });
    const id = randomUUID();
    const now = new Date();
    const cfg: CampaignConfig = {
      id,
      workspaceId,
      name: input.name,
      kind: input.kind,
      objective: input.objective,
      strategy: input.strategy,
      status: "active",
      attributionWindowHours: input.attributionWindowHours ?? 168,
      explorationFloor: floor,
      contextFeatures,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    const liveArms: LiveArm[] = armsIn.map((a, i) => ({
      key: a.key,
      name: a.name ?? null,
      cost: a.cost ?? 0,
      metadata: a.metadata ?? {},
      status: "active",
      index: i,
      createdAt: now,
    }));
    let live: LiveCampaign;
    try {
      live = buildLive(cfg, impl, encoder, liveArms, new Map());
    } catch (err) {
      throw asDomainError(err, "strategy") ?? err;
    }
    await this.db.transaction(async (tx) => {
      await tx.insert(campaigns).values(cfg);
      await tx.insert(arms).values(
        liveArms.map((a) => ({
          campaignId: id,
          key: a.key,
          name: a.name,
          cost: a.cost,
          metadata: a.metadata,
          status: a.status,
          position: a.index,
          createdAt: now,
        })),
      );
      await tx.insert(armStats).values(liveArms.map((a) => ({ campaignId: id, armKey: a.key })));
    });
    this.campaigns.set(id, live);
    return publicCampaign(live);
  }

  async patchCampaign(workspaceId: string, id: string, patch: CampaignPatch) {
    const c = await this.campaign(workspaceId, id);
    if (c.status === "archived" && patch.status && patch.status !== "archived")
      throw new DomainError("conflict", "an archived campaign cannot be reactivated");
    let strategy = c.strategy;
    if (patch.strategy) {
      if (patch.strategy.type !== undefined && patch.strategy.type !== c.strategy.type)
        throw new DomainError(
          "conflict",
          `strategy.type cannot change (campaign uses "${c.strategy.type}"); create a new campaign`,
        );
      refuseOrderDependent(patch.strategy);
      strategy = { ...c.strategy, ...patch.strategy, type: c.strategy.type };
      try {
        c.impl.parseParams(strategyParams(strategy, patch.explorationFloor ?? c.explorationFloor));
      } catch (err) {
        throw asDomainError(err, "strategy") ?? err;
      }
    }
    // Build the changed campaign in memory first: what the strategy refuses never reaches the database.
    try {
      buildLive(
        { ...c, strategy, explorationFloor: patch.explorationFloor ?? c.explorationFloor },
        c.impl,
        c.encoder,
        c.arms,
        new Map(c.arms.map((a) => [a.key, c.stats[a.index]])),
      );
    } catch (err) {
      throw asDomainError(err, "strategy") ?? err;
    }
    const set: Partial<typeof campaigns.$inferInsert> = { strategy, updatedAt: new Date() };
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.status !== undefined) set.status = patch.status;
    if (patch.explorationFloor !== undefined) set.explorationFloor = patch.explorationFloor;
    if (patch.attributionWindowHours !== undefined) set.attributionWindowHours = patch.attributionWindowHours;
    await this.db
      .update(campaigns)
      .set({ ...set, version: sql`${campaigns.version} + 1` })
      .where(eq(campaigns.id, id));
    return publicCampaign((await this.reload(id))!);
  }

  async addArm(workspaceId: string, id: string, arm: ArmInput) {
    const c = await this.campaign(workspaceId, id);
    if (c.status === "archived") throw new DomainError("conflict", "campaign is archived");
    if (c.kind === "send_time" && !parseSendTimeKey(arm.key))
      throw new DomainError("invalid_request", 'key: a send_time arm is an hour "00".."23" or "mon-00".."sun-23"', [
        { path: "key", message: "not a send-time hour" },
      ]);
    if (c.armByKey.has(arm.key))
      throw new DomainError(
        "conflict",
        `arm key "${arm.key}" is already used in this campaign (keys are never reused)`,
      );
    try {
      const probe: LiveArm = {
        key: arm.key,
        name: null,
        cost: 0,
        metadata: {},
        status: "active",
        index: c.arms.length,
        createdAt: new Date(),
      };
      buildLive(c, c.impl, c.encoder, [...c.arms, probe], new Map());
    } catch (err) {
      throw asDomainError(err, "strategy") ?? err;
    }
    await this.db.transaction(async (tx) => {
      await tx.execute(sql`select id from campaigns where id = ${id}::uuid for update`);
      const [{ used, next }] = await rows<{ used: number; next: number }>(
        tx,
        sql`select count(*) filter (where key = ${arm.key})::int as used, coalesce(max(position) + 1, 0)::int as next from arms where campaign_id = ${id}::uuid`,
      );
      if (used > 0)
        throw new DomainError(
          "conflict",
          `arm key "${arm.key}" is already used in this campaign (keys are never reused)`,
        );
      await tx.insert(arms).values({
        campaignId: id,
        key: arm.key,
        name: arm.name ?? null,
        cost: arm.cost ?? 0,
        metadata: arm.metadata ?? {},
        status: "active",
        position: next,
      });
      await tx.insert(armStats).values({ campaignId: id, armKey: arm.key }).onConflictDoNothing();
      await tx
        .update(campaigns)
        .set({ version: sql`${campaigns.version} + 1`, updatedAt: new Date() })
        .where(eq(campaigns.id, id));
    });
    const live = (await this.reload(id))!;
    return armView(live.armByKey.get(arm.key)!);
  }

  async patchArm(
    workspaceId: string,
    id: string,
    key: string,
    patch: { status?: ArmRowStatus; name?: string; cost?: number; metadata?: Record<string, unknown> },
  ) {
    const c = await this.campaign(workspaceId, id);
    const a = c.armByKey.get(key);
    if (!a) throw notFound("arm");
    if (a.status === "archived" && patch.status && patch.status !== "archived")
      throw new DomainError("conflict", "an archived arm cannot be resumed");
    const set: Partial<typeof arms.$inferInsert> = {};
    if (patch.status !== undefined) set.status = patch.status;
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.cost !== undefined) set.cost = patch.cost;
    if (patch.metadata !== undefined) set.metadata = patch.metadata;
    await this.db.transaction(async (tx) => {
      if (Object.keys(set).length)
        await tx
          .update(arms)
          .set(set)
          .where(and(eq(arms.campaignId, id), eq(arms.key, key)));
      await tx
        .update(campaigns)
        .set({ version: sql`${campaigns.version} + 1`, updatedAt: new Date() })
        .where(eq(campaigns.id, id));
    });
    const live = (await this.reload(id))!;
    return armView(live.armByKey.get(key)!);
  }

  // ---------------------------------------------------------------- decisions

  /** Chooses an arm, counts the trial in memory and queues the log row; resolves after the commit. */
  async decide(workspaceId: string, campaignId: string, req: DecisionRequest): Promise<DecisionResult> {
    const c = this.campaigns.get(campaignId) ?? (await this.campaign(workspaceId, campaignId));
    if (c.workspaceId !== workspaceId) throw notFound();
    const { result, entry } = this.prepare(c, req, null);
    await this.log.append(entry);
    return result;
  }

  /** Each request decided independently; a failing one gets `{error}` in its place. */
  async decideBatch(
    workspaceId: string,
    requests: (DecisionRequest & { campaignId: string })[],
  ): Promise<
    (DecisionResult | { error: { code: string; message: string; details?: { path: string; message: string }[] } })[]
  > {
    const out: (
      | DecisionResult
      | { error: { code: string; message: string; details?: { path: string; message: string }[] } }
    )[] = new Array(requests.length);
    const waits: Promise<void>[] = [];
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i];
      try {
        const c = this.campaigns.get(r.campaignId) ?? (await this.campaign(workspaceId, r.campaignId));
        if (c.workspaceId !== workspaceId) throw notFound();
        const { result, entry } = this.prepare(c, r, i);
        out[i] = result;
        waits.push(this.log.append(entry));
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

  private prepare(
    c: LiveCampaign,
    req: DecisionRequest,
    position: number | null,
  ): { result: DecisionResult; entry: Omit<QueuedDecision, "resolve" | "reject"> } {
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
        x = c.encoder.encode(req.context);
      } catch (err) {
        throw asDomainError(err, "context") ?? err;
      }
    }
    if (!c.arms.some((a) => a.status === "active")) throw new DomainError("conflict", "campaign has no active arm");
    const choice = c.impl.choose(c.state, x, this.rng);
    const arm = c.arms[choice.arm];
    const inc = trialIncrement({ campaignId: c.id, armKey: arm.key }, baseReward(c.objective, arm.cost), x);
    queued(c, arm.index, inc);
    this.markDirty(c, arm.index);
    const now = new Date();
    const id = randomUUID();
    const result: DecisionResult = {
      decisionId: id,
      campaignId: c.id,
      arm: { key: arm.key, name: arm.name, metadata: arm.metadata },
      propensity: choice.propensity,
    };
    if (after) result.sendAt = nextSendAt(arm.key, tz, after).toISOString();
    const entry = {
      row: {
        id,
        workspaceId: c.workspaceId,
        campaignId: c.id,
        armKey: arm.key,
        propensity: choice.propensity,
        context: req.context ?? null,
        unitId: req.unitId ?? null,
        position,
        strategyVersion: c.version,
        createdAt: now,
        reward: inc.sum,
        converted: false,
      },
      inc,
    };
    return { result, entry };
  }

  /**
   * The strategy state sees the new trial counts at the end of the tick (syncDirty): every decision in
   * one tick shares one posterior, so a strategy's cached pmf (exact propensities by integration) is
   * computed once per tick, not once per decision.
   */
  private markDirty(c: LiveCampaign, index: number): void {
    let set = this.dirty.get(c);
    if (!set) this.dirty.set(c, (set = new Set()));
    set.add(index);
  }

  private syncDirty(): void {
    if (this.dirty.size === 0) return;
    const dirty = this.dirty;
    this.dirty = new Map();
    for (const [c, arms] of dirty) {
      if (this.campaigns.get(c.id) !== c) continue;
      for (const i of arms) syncArm(c.impl, c.state, i, c.stats[i]);
    }
  }

  /** Commits everything queued (group commit); resolves when nothing is queued or in flight. */
  flush(): Promise<void> {
    return this.log.flush();
  }

  /** After a flush: the increment leaves `pending` (committed) or leaves memory altogether (failed). */
  private settle(e: QueuedDecision, ok: boolean): void {
    const c = this.campaigns.get(e.inc.campaignId);
    const a = c?.armByKey.get(e.inc.armKey);
    if (!c || !a) return;
    if (ok) committed(c, a.index, e.inc);
    else {
      failed(c, a.index, e.inc);
      syncArm(c.impl, c.state, a.index, c.stats[a.index]);
    }
  }

  // ---------------------------------------------------------------- events

  async ingest(workspaceId: string, input: EventInput[]): Promise<IngestResult> {
    const receivedAt = new Date();
    const results: IngestResult["results"] = input.map((e) => ({ id: e.id, status: "accepted" as const }));
    const seen = new Set<string>();
    const candidates: { i: number; ev: IncomingEvent }[] = [];
    input.forEach((e, i) => {
      if (seen.has(e.id)) {
        results[i] = { id: e.id, status: "duplicate" };
        return;
      }
      seen.add(e.id);
      if (!UUID_RE.test(e.decisionId)) {
        results[i] = { id: e.id, status: "rejected", reason: "unknown_decision" };
        return;
      }
      const occurredAt = e.occurredAt === undefined ? receivedAt : new Date(e.occurredAt);
      candidates.push({
        i,
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
      });
    });

    if (candidates.length) {
      await this.lock.shared(async () => {
        const memory: ArmIncrement[] = [];
        let invalid = 0;
        try {
          await this.db.transaction(async (tx) => {
            const ids = [...new Set(candidates.map((c) => c.ev.decisionId))];
            const decs = await lockDecisions(tx, workspaceId, ids);
            const byId = new Map(decs.map((d) => [d.id, d]));
            const live = new Map<string, LiveCampaign>();
            for (const d of decs) {
              if (live.has(d.campaignId)) continue;
              const c = this.campaigns.get(d.campaignId) ?? (await this.loadUnlocked(tx, d.campaignId));
              if (c) live.set(d.campaignId, c);
            }
            const toInsert: EventRow[] = [];
            const meta: {
              i: number;
              ev: IncomingEvent;
              d: (typeof decs)[number];
              teaches: boolean;
              invalid: boolean;
            }[] = [];
            for (const { i, ev } of candidates) {
              const d = byId.get(ev.decisionId);
              const c = d && live.get(d.campaignId);
              if (!d || !c) {
                results[i] = { id: ev.id, status: "rejected", reason: "unknown_decision" };
                continue;
              }
              const attributed =
                ev.occurredAt.getTime() - d.createdAt.getTime() <= c.attributionWindowHours * 3_600_000;
              const row: DecisionRow = { ...d, context: d.context ?? null };
              const reason = this.fraudGate.classify(ev, row);
              toInsert.push({
                workspaceId,
                eventId: ev.id,
                decisionId: d.id,
                campaignId: d.campaignId,
                armKey: d.armKey,
                type: ev.type,
                value: ev.value,
                cost: ev.cost,
                occurredAt: ev.occurredAt,
                receivedAt,
                sourceIp: ev.source.ip ?? null,
                sourceUserAgent: ev.source.userAgent ?? null,
                sourcePublisher: ev.source.publisher ?? null,
                sourcePlacement: ev.source.placement ?? null,
                attributed,
                invalidReason: reason,
              });
              meta.push({ i, ev, d, teaches: attributed && reason === null, invalid: reason !== null });
            }
            const inserted = await insertEvents(tx, toInsert);
            const changed = new Map<string, { d: (typeof decs)[number]; reward: number; converted: boolean }>();
            for (const m of meta) {
              if (!inserted.has(m.ev.id)) {
                results[m.i] = { id: m.ev.id, status: "duplicate" };
                continue;
              }
              if (m.invalid) invalid++;
              if (!m.teaches) continue;
              let s = changed.get(m.d.id);
              if (!s) changed.set(m.d.id, (s = { d: m.d, reward: m.d.reward, converted: m.d.converted }));
              applyEvent(live.get(m.d.campaignId)!.objective, s, m.ev);
            }
            const updates: { id: string; reward: number; converted: boolean }[] = [];
            for (const s of changed.values()) {
              if (s.reward === s.d.reward && s.converted === s.d.converted) continue;
              updates.push({ id: s.d.id, reward: s.reward, converted: s.converted });
              if (s.reward === s.d.reward) continue;
              const c = live.get(s.d.campaignId)!;
              let x: Float64Array | undefined;
              if (c.encoder) {
                try {
                  x = c.encoder.encode(s.d.context ?? undefined);
                } catch {
                  x = new Float64Array(c.dim);
                }
              }
              memory.push(rewardIncrement({ campaignId: c.id, armKey: s.d.armKey }, s.d.reward, s.reward, x));
            }
            await applyRewards(tx, updates, memory);
          });
        } catch (err) {
          if (isUnavailable(err)) throw new DomainError("unavailable", "database unavailable");
          throw err;
        }
        // Committed: memory must follow even if one campaign's strategy objects (logged, not thrown).
        for (const m of memory) {
          const c = this.campaigns.get(m.campaignId);
          const a = c?.armByKey.get(m.armKey);
          if (!c || !a) continue;
          applied(c, a.index, m);
          const s = c.stats[a.index];
          try {
            syncArm(c.impl, c.state, a.index, s);
          } catch (err) {
            this.opts.logger.error({ err, campaignId: c.id, arm: a.key }, "strategy refused updated statistics");
          }
        }
        if (invalid) this.opts.onEvents?.("invalid", invalid);
      });
    }
    const out: IngestResult = { accepted: 0, duplicates: 0, rejected: 0, results };
    for (const r of results) {
      if (r.status === "accepted") out.accepted++;
      else if (r.status === "duplicate") out.duplicates++;
      else out.rejected++;
    }
    if (out.accepted) this.opts.onEvents?.("accepted", out.accepted);
    if (out.duplicates) this.opts.onEvents?.("duplicate", out.duplicates);
    if (out.rejected) this.opts.onEvents?.("rejected", out.rejected);
    return out;
  }

  // ---------------------------------------------------------------- sync

  /** Reads back totals written by other processes and rebuilds campaigns whose version changed. */
  async refresh(): Promise<void> {
    await this.lock.exclusive(async () => {
      const ids = [...this.campaigns.keys()];
      if (ids.length === 0) return;
      const versions = await rows<{ id: string; version: number; db_now: Date | string }>(
        this.db,
        sql`select id, version, now() as db_now from campaigns where id = any(${`{${ids.join(",")}}`}::uuid[])`,
      );
      if (versions.length === 0) return;
      const stale = new Set<string>();
      for (const v of versions) if (this.campaigns.get(v.id)!.version !== Number(v.version)) stale.add(v.id);
      for (const id of stale) await this.loadUnlocked(this.db, id);
      const fresh = ids.filter((id) => !stale.has(id));
      // Only rows moved since the last refresh (by the database's clock), with a margin far beyond any
      // transaction's duration (statement and lock timeouts); a full read now and then as a safety net.
      const full = this.lastRefreshAt === null || this.refreshes % 150 === 0;
      const since = full ? undefined : new Date(this.lastRefreshAt!.getTime() - REFRESH_MARGIN_MS);
      for (const r of await readArmStats(this.db, fresh, since)) this.setFromRow(r);
      this.lastRefreshAt = new Date(versions[0].db_now);
      this.refreshes++;
    });
  }

  /** Replaces one campaign's in-memory totals by the database's at once (e.g. after a recompute). */
  async reloadStats(campaignId: string): Promise<void> {
    await this.lock.exclusive(async () => {
      for (const r of await readArmStats(this.db, [campaignId])) this.setFromRow(r);
    });
  }

  private setFromRow(r: ArmStatsRow): void {
    const c = this.campaigns.get(r.campaignId);
    const a = c?.armByKey.get(r.armKey);
    if (!c || !a) return;
    fromDatabase(c, a.index, foldBuckets([r], c.dim));
    syncArm(c.impl, c.state, a.index, c.stats[a.index]);
  }

  /** Rebuilds a campaign's statistics exactly from decisions + valid attributed events, then reloads memory. */
  async recompute(campaignId: string): Promise<void> {
    await this.flush();
    const c = this.campaigns.get(campaignId) ?? (await this.reload(campaignId));
    if (!c) throw notFound();
    const enc = c.encoder;
    await recomputeArmStats(this.db, campaignId, enc ? { encode: (ctx) => enc.encode(ctx), dim: c.dim } : {});
    await this.reloadStats(campaignId);
  }

  /** A seeded generator for derived quantities (P(best) Monte Carlo), independent of decisions. */
  statsRng(seed = 1): Xoshiro128 {
    return new Xoshiro128(seed);
  }
}

export function armView(a: LiveArm) {
  return { key: a.key, name: a.name, cost: a.cost, metadata: a.metadata, status: a.status };
}

export { toStrategyStatus };
