/**
 * The engine's façade: the methods the API, the jobs and the fraud module call, delegating to one
 * module per flow —
 *
 * - live state (live.ts): the campaigns in memory, the readers–writer lock, load and refresh;
 * - campaigns (campaigns.ts): validation on top of the store's queries;
 * - decide (decide.ts): prepare a decision and group-commit the decision log;
 * - learn (learn.ts): ingest events as named steps (attribute → classify → persist → reward deltas → apply);
 * - recompute (recompute.ts): the exact rebuild of a campaign's statistics from stored rows.
 *
 * Arm statistics have one owner (stats.ts), which every flow goes through.
 */
import { budgetLoader } from "../budget/load.ts";
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { Xoshiro128 } from "../../strategies/rng.ts";
import { deleteCampaignRows, type CampaignDeletion } from "../privacy/erase.ts";
import { PrivacyKeys } from "../privacy/keys.ts";
import { servedCampaignIds } from "../store/campaigns.ts";
import type { Database } from "../store/db.ts";
import type { LiveArm, LiveCampaign } from "./campaign.ts";
import { Campaigns, type ArmInput, type ArmPatch, type CampaignInput, type CampaignPatch } from "./campaigns.ts";
import { Decider, type BatchItemResult } from "./decide.ts";
import { importDecisions, type DecisionImportResult, type ImportedDecision } from "./decision-import.ts";
import { DomainError } from "./errors.ts";
import { Learner, type EventCounter, type EventInput } from "./learn.ts";
import { LiveState } from "./live.ts";
import { recomputeArmStats, type RecomputeResult } from "./recompute.ts";
import type { StrategyRegistry } from "./registry.ts";
import { allowAll, type DecisionRequest, type DecisionResult, type FraudGate, type IngestResult } from "./types.ts";

export type {
  ArmInput,
  ArmPatch,
  BatchItemResult,
  CampaignInput,
  CampaignPatch,
  DecisionImportResult,
  EventInput,
  ImportedDecision,
};

export interface EngineOptions {
  database: Database;
  registry: StrategyRegistry;
  logger: Logger;
  seed?: number;
  refreshIntervalMs?: number;
  /** Campaigns kept in memory at most, the least recently used leaving first (0 / undefined: unbounded). */
  maxLiveCampaigns?: number;
  /** Campaigns loaded before start completes, the most recently written first (default 1,000). */
  preloadCampaigns?: number;
  /** A campaign unused for this long (ms) leaves memory (default: only the budget evicts). */
  campaignIdleMs?: number;
  fraudGate?: FraudGate;
  /** Largest number of decisions in one group commit. */
  maxBatch?: number;
  /** Group commits in flight at once (default 2). */
  maxInflight?: number;
  /** Queue length from which a commit starts while another is in flight (default 16). */
  minParallelBatch?: number;
  onDecisions?: (n: number) => void;
  onEvents?: EventCounter;
  /** Tolerance on events' occurredAt before their decision or after receipt (default 5 min). */
  clockSkewToleranceMs?: number;
}

export interface ConsistencyReport {
  /** Campaigns compared. */
  checked: number;
  /** Campaigns whose statistics differed from their rows, with what was repaired. */
  repaired: RecomputeResult[];
  /** Campaigns that could not be checked this time (e.g. the database went away); tried on the next run. */
  failed: { campaignId: string; error: string }[];
}

export class Engine {
  private readonly live: LiveState;
  private readonly campaignsFlow: Campaigns;
  private readonly decider: Decider;
  private readonly learner: Learner;
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  fraudGate: FraudGate;
  /** The workspaces' secrets and privacy settings (src/privacy), cached for the decide and learn flows. */
  readonly privacy: PrivacyKeys;

  constructor(private readonly opts: EngineOptions) {
    const db = opts.database.db;
    this.fraudGate = opts.fraudGate ?? allowAll;
    this.live = new LiveState(db, opts.registry, opts.logger, {
      maxLive: opts.maxLiveCampaigns,
      preload: opts.preloadCampaigns,
      refoldMs: opts.refreshIntervalMs || 2000,
      idleMs: opts.campaignIdleMs,
    });
    this.live.addLoader(budgetLoader);
    this.campaignsFlow = new Campaigns(db, this.live, opts.registry);
    this.privacy = new PrivacyKeys(() => db, opts.refreshIntervalMs ?? 2000);
    this.decider = new Decider({
      db: opts.database.logDb,
      live: this.live,
      logger: opts.logger,
      rng: new Xoshiro128(opts.seed ?? randomBytes(4).readUInt32LE(0)),
      privacy: this.privacy,
      maxBatch: opts.maxBatch,
      maxInflight: opts.maxInflight,
      minParallelBatch: opts.minParallelBatch,
      onDecisions: opts.onDecisions,
    });
    this.learner = new Learner({
      db,
      live: this.live,
      logger: opts.logger,
      fraudGate: () => this.fraudGate,
      privacy: this.privacy,
      onEvents: opts.onEvents,
      clockSkewToleranceMs: opts.clockSkewToleranceMs,
    });
  }

  /** The campaigns in memory, by id. */
  get campaigns(): ReadonlyMap<string, LiveCampaign> {
    return this.live.campaigns;
  }

  /**
   * Deletes an archived campaign and all its rows (src/privacy/erase.ts); 409 unless it is archived.
   * Queued decisions are committed first, so none of its rows is written after the delete.
   */
  async deleteCampaign(workspaceId: string, id: string, keyId: string | null): Promise<CampaignDeletion> {
    const c = await this.campaign(workspaceId, id);
    if (c.status !== "archived")
      throw new DomainError("conflict", `campaign is ${c.status}: archive it before deleting it`);
    await this.flush();
    const removed = await deleteCampaignRows(this.opts.database.db, workspaceId, c.id, keyId);
    this.live.campaigns.delete(c.id);
    return removed;
  }

  /** The live state: eviction, the last refresh's report, hooks for per-campaign state (live.ts). */
  get liveState(): LiveState {
    return this.live;
  }

  /** Loads every campaign and starts the refresh loop. */
  async start(): Promise<void> {
    await this.live.loadAll();
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
    this.decider.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.live.close();
    await this.refreshing;
    await this.flush();
  }

  setFraudGate(gate: FraudGate): void {
    this.fraudGate = gate;
  }

  // ---------------------------------------------------------------- campaigns

  /**
   * The live campaign if it belongs to the workspace (foreign ids answer not_found, like unknown ones), its
   * delay model fitted on every delay observed so far (between refreshes refits wait up to a second).
   */
  async campaign(workspaceId: string, id: string): Promise<LiveCampaign> {
    const c = await this.campaignsFlow.get(workspaceId, id);
    this.live.refitNow(c);
    return c;
  }

  /** Re-reads one campaign (configuration, arms and totals) from the database. */
  reload(id: string): Promise<LiveCampaign | undefined> {
    return this.live.load(id);
  }

  listCampaigns(workspaceId: string): Promise<LiveCampaign[]> {
    return this.campaignsFlow.list(workspaceId);
  }

  createCampaign(workspaceId: string, input: CampaignInput): Promise<LiveCampaign> {
    return this.campaignsFlow.create(workspaceId, input);
  }

  patchCampaign(workspaceId: string, id: string, patch: CampaignPatch): Promise<LiveCampaign> {
    return this.campaignsFlow.patch(workspaceId, id, patch);
  }

  addArm(workspaceId: string, id: string, arm: ArmInput): Promise<LiveArm> {
    return this.campaignsFlow.addArm(workspaceId, id, arm);
  }

  patchArm(workspaceId: string, id: string, key: string, patch: ArmPatch): Promise<LiveArm> {
    return this.campaignsFlow.patchArm(workspaceId, id, key, patch);
  }

  // ---------------------------------------------------------------- decisions and events

  /** Chooses an arm, counts the trial in memory and queues the log row; resolves after the commit. */
  decide(workspaceId: string, campaignId: string, req: DecisionRequest): Promise<DecisionResult> {
    return this.decider.decide(workspaceId, campaignId, req);
  }

  /** Each request decided independently; a failing one gets `{error}` in its place. */
  decideBatch(workspaceId: string, requests: (DecisionRequest & { campaignId: string })[]): Promise<BatchItemResult[]> {
    return this.decider.decideBatch(workspaceId, requests);
  }

  /** Commits everything queued (group commit); resolves when nothing is queued or in flight. */
  async flush(): Promise<void> {
    await this.decider.flush();
    // the strategies see every flushed decision's trial at once (otherwise within POSTERIOR_SYNC_MS)
    this.live.syncDirty();
  }

  ingest(workspaceId: string, input: EventInput[]): Promise<IngestResult> {
    return this.learner.ingest(workspaceId, input);
  }

  /** Historical decisions into the log, idempotent by id (decision-import.ts: their trials count). */
  async importDecisions(
    workspaceId: string,
    campaignId: string,
    decisions: ImportedDecision[],
  ): Promise<DecisionImportResult> {
    const c = await this.campaign(workspaceId, campaignId);
    const ws = await this.privacy.require(workspaceId);
    return importDecisions(this.opts.database.db, this.live, c, decisions, ws, this.opts.clockSkewToleranceMs);
  }

  // ---------------------------------------------------------------- sync

  /** Reads back totals written by other processes and rebuilds campaigns whose version changed. */
  refresh(): Promise<void> {
    return this.live.refresh();
  }

  /** Replaces one campaign's in-memory totals by the database's at once (e.g. after a recompute). */
  reloadStats(campaignId: string): Promise<void> {
    return this.live.reloadStats(campaignId);
  }

  /** Rebuilds a campaign's statistics exactly from decisions + valid attributed events, then reloads memory. */
  async recompute(campaignId: string): Promise<void> {
    await this.rebuild(campaignId);
  }

  /** recompute, returning what differed from the rows and was repaired. */
  private async rebuild(campaignId: string): Promise<RecomputeResult> {
    await this.flush();
    // A campaign not in memory is checked without loading it (the check walks every served campaign).
    const ctx = await this.live.contextOf(campaignId);
    if (!ctx) throw new DomainError("not_found", "campaign not found");
    const result = await recomputeArmStats(this.opts.database.db, campaignId, ctx);
    await this.live.reloadStats(campaignId);
    return result;
  }

  /**
   * The consistency check: compares every served campaign's arm_stats (and decisions' running rewards)
   * with what its stored decisions and valid attributed events imply, repairs the differences, logs one
   * warning per repaired campaign and returns the report. The jobs schedule it (src/jobs, "consistency").
   */
  async checkConsistency(): Promise<ConsistencyReport> {
    const report: ConsistencyReport = { checked: 0, repaired: [], failed: [] };
    for (const id of await servedCampaignIds(this.opts.database.db)) {
      try {
        const r = await this.rebuild(id);
        report.checked++;
        if (r.repaired.length || r.decisionsRewritten) {
          report.repaired.push(r);
          this.opts.logger.warn(
            {
              campaignId: id,
              decisionsRewritten: r.decisionsRewritten,
              arms: r.repaired.map((a) => ({
                armKey: a.armKey,
                stored: { n: a.stored.n, sum: a.stored.sum, sumSq: a.stored.sumSq },
                rebuilt: { n: a.rebuilt.n, sum: a.rebuilt.sum, sumSq: a.rebuilt.sumSq },
              })),
            },
            "consistency check repaired arm statistics",
          );
        }
      } catch (err) {
        report.failed.push({ campaignId: id, error: String((err as Error)?.message ?? err).slice(0, 200) });
      }
    }
    return report;
  }

  /** A seeded generator for derived quantities (P(best) Monte Carlo), independent of decisions. */
  statsRng(seed = 1): Xoshiro128 {
    return new Xoshiro128(seed);
  }
}
