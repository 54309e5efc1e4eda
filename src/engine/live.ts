/**
 * Live state: the campaigns in memory, the readers–writer lock that orders every change of their
 * statistics, load and refresh.
 *
 * - Decision commits and event ingests hold the lock shared (their increments commute); load, reload,
 *   refresh and the read-back after a recompute hold it exclusively, so that "memory = database + still
 *   queued" (src/engine/stats.ts) holds whenever the lock is free. `load` takes the exclusive lock
 *   itself: a caller holding the shared lock must not load (it would wait for itself); it leaves the
 *   lock and loads first.
 * - refresh: totals written by other processes are read back (stats = database + pending), and
 *   campaigns whose version changed are rebuilt.
 * - Strategy states see a campaign's statistics through `syncArm`. Decisions only mark their arm dirty;
 *   the dirty arms are synced at most every POSTERIOR_SYNC_MS, so every decision in that time shares one
 *   posterior (a strategy's cached pmf is computed once per sync, not once per decision).
 */
import type { Logger } from "pino";
import type { ArmStats } from "../../strategies/types.ts";
import { readArmStats, type ArmStatsRow } from "../store/arm-stats.ts";
import { campaignVersions, readCampaign, servedCampaignIds } from "../store/campaigns.ts";
import { isUnavailable, type Db } from "../store/db.ts";
import { readBuckets, readDelays, type StoredBucket } from "../store/buckets.ts";
import { addTrial, hourOf } from "./buckets.ts";
import { buildLive, refreshWeights, syncPosterior, timedOptions, type LiveArm, type LiveCampaign } from "./campaign.ts";
import { RwLock } from "./mutex.ts";
import { resolveStrategy, type StrategyRegistry } from "./registry.ts";
import {
  applied,
  carryPending,
  committed,
  failed,
  foldBuckets,
  fromDatabase,
  queued,
  zeroStats,
  addStats,
  type ArmIncrement,
} from "./stats.ts";
import { retentionHours, timedFromStored } from "./timed.ts";

/** What an event ingest adds to the hour bucket of its decision (src/engine/learn.ts). */
export interface BucketReward {
  campaignId: string;
  armKey: string;
  /** Hour of the decision. */
  hour: number;
  /** n = 1 when the decision converted for the first time. */
  stats: ArmStats;
  /** The decision's trial, when this ingest made it one (trialAt "impression", learn.ts). */
  trial?: ArmStats;
  /** Decision → conversion delay in hours, on a first conversion. */
  delayHours?: number;
}

const REFRESH_MARGIN_MS = 60_000;

/**
 * The strategy sees queued trials (and recomputes its exact pmf) when their group commit lands, before
 * they are answered (decide.ts), or after at most this many milliseconds — not once per event-loop turn:
 * the pmf was the largest single cost of a decision under load. Every propensity stays exact for the
 * posterior the decision was made with.
 */
export const POSTERIOR_SYNC_MS = 10;

function byCampaign<T extends { campaignId: string }>(rows: T[]): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const r of rows) {
    const l = m.get(r.campaignId);
    if (l) l.push(r);
    else m.set(r.campaignId, [r]);
  }
  return m;
}
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID_RE.test(s);

export class LiveState {
  readonly campaigns = new Map<string, LiveCampaign>();
  private readonly lock = new RwLock();
  /** Arms whose trials were counted since the strategy state last saw them. */
  private dirty = new Map<LiveCampaign, Set<number>>();
  private syncScheduled = false;
  private lastRefreshAt: Date | null = null;
  private refreshes = 0;

  constructor(
    private readonly db: Db,
    private readonly registry: StrategyRegistry,
    private readonly logger: Logger,
  ) {}

  /** Runs `fn` with the lock held shared (decision commits, ingests). */
  shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.shared(fn);
  }

  /** Loads every served campaign; one the library can no longer build is logged and skipped. */
  async loadAll(): Promise<void> {
    const ids = await servedCampaignIds(this.db);
    await this.lock.exclusive(async () => {
      for (const id of ids) {
        try {
          await this.loadUnlocked(id);
        } catch (err) {
          if (isUnavailable(err)) throw err;
          this.logger.error({ err, campaignId: id }, "campaign could not be loaded");
        }
      }
    });
  }

  /** (Re-)reads one campaign (configuration, arms and totals) from the database. */
  load(id: string): Promise<LiveCampaign | undefined> {
    return this.lock.exclusive(() => this.loadUnlocked(id));
  }

  /** The campaign in memory, else loaded if the id can be one. */
  async get(id: string): Promise<LiveCampaign | undefined> {
    return this.campaigns.get(id) ?? (isUuid(id) ? await this.load(id) : undefined);
  }

  /** A campaign just created (nothing queued, totals zero). */
  adopt(c: LiveCampaign): void {
    this.campaigns.set(c.id, c);
  }

  private async loadUnlocked(id: string): Promise<LiveCampaign | undefined> {
    const stored = await readCampaign(this.db, id);
    if (!stored) return undefined;
    const cfg = stored.campaign;
    const impl = resolveStrategy(this.registry, cfg.strategy.type);
    const encoder = impl.contextual ? this.registry.createEncoder(cfg.contextFeatures) : undefined;
    const dim = impl.contextual ? (encoder?.dim ?? 1) : 0;
    const arms: LiveArm[] = stored.arms.map((a) => ({
      key: a.key,
      name: a.name,
      cost: a.cost,
      metadata: a.metadata ?? {},
      status: a.status,
      index: a.position,
      createdAt: a.createdAt,
    }));
    const totals = new Map<string, ArmStats>();
    for (const s of stored.stats) totals.set(s.armKey, foldBuckets([s], dim));
    const live = buildLive(cfg, impl, encoder, arms, totals);
    const prev = this.campaigns.get(id);
    if (prev) {
      carryPending(prev, live);
      for (const a of prev.arms) {
        const n = live.armByKey.get(a.key);
        if (!n) continue;
        for (const [h, b] of prev.pendingBuckets[a.index]!.buckets)
          addTrial(live.pendingBuckets[n.index]!, h, b.trials, live.dim);
      }
    }
    const hour = hourOf(Date.now());
    const from = hour - retentionHours(live.timed.options);
    this.rebuildTimed(live, await readBuckets(this.db, [id], from), await readDelays(this.db, [id]));
    this.campaigns.set(id, live);
    return live;
  }

  /**
   * A campaign's buckets from the database rows + its still-queued trials; base = all-time totals in the
   * database minus the rows read (src/engine/timed.ts); then every arm's posterior is refolded.
   */
  private rebuildTimed(c: LiveCampaign, rows: StoredBucket[], delays: { hour: number; counts: number[] }[]): void {
    const allTime = new Map<string, ArmStats>();
    for (const a of c.arms) {
      const t = zeroStats(c.dim);
      addStats(t, c.stats[a.index]!);
      addStats(t, c.pending[a.index]!, -1);
      allTime.set(a.key, t);
    }
    const keys = c.arms.map((a) => a.key);
    c.timed = timedFromStored(keys, c.dim, timedOptions(c), allTime, rows, delays);
    c.arms.forEach((a) => {
      for (const [h, b] of c.pendingBuckets[a.index]!.buckets) addTrial(c.timed.arms[a.index]!, h, b.trials, c.dim);
    });
    refreshWeights(c);
    for (const a of c.arms) this.sync(c, a.index);
  }

  // ---------------------------------------------------------------- statistics (src/engine/stats.ts)

  /** A decision's trial (made in `hour`), counted in memory at once and pending until its commit settles. */
  queued(c: LiveCampaign, index: number, inc: ArmIncrement, hour: number): void {
    queued(c, index, inc);
    addTrial(c.timed.arms[index]!, hour, inc, c.dim);
    addTrial(c.pendingBuckets[index]!, hour, inc, c.dim);
    let set = this.dirty.get(c);
    if (!set) this.dirty.set(c, (set = new Set()));
    set.add(index);
    if (!this.syncScheduled) {
      this.syncScheduled = true;
      setTimeout(() => this.syncDirty(), POSTERIOR_SYNC_MS).unref();
    }
  }

  /** After a commit (`ok`) or a failed one; called before the commit's shared lock is released. */
  settle(inc: ArmIncrement, ok: boolean, hour: number): void {
    const c = this.campaigns.get(inc.campaignId);
    const a = c?.armByKey.get(inc.armKey);
    if (!c || !a) return;
    addTrial(c.pendingBuckets[a.index]!, hour, inc, c.dim, -1);
    if (ok) committed(c, a.index, inc);
    else {
      failed(c, a.index, inc);
      addTrial(c.timed.arms[a.index]!, hour, inc, c.dim, -1);
      this.sync(c, a.index);
    }
  }

  /** Increments another path committed (event ingest): memory follows the database. */
  applied(incs: ArmIncrement[], rewards: BucketReward[] = []): void {
    const touched = new Map<LiveCampaign, Set<number>>();
    const touch = (c: LiveCampaign, i: number) => {
      let s = touched.get(c);
      if (!s) touched.set(c, (s = new Set()));
      s.add(i);
    };
    for (const inc of incs) {
      const c = this.campaigns.get(inc.campaignId);
      const a = c?.armByKey.get(inc.armKey);
      if (!c || !a) continue;
      applied(c, a.index, inc);
      touch(c, a.index);
    }
    for (const r of rewards) {
      const c = this.campaigns.get(r.campaignId);
      const a = c?.armByKey.get(r.armKey);
      if (!c || !a) continue;
      if (r.trial) c.timed.trial(a.index, r.hour, r.trial);
      c.timed.reward(a.index, r.hour, r.stats, r.delayHours);
      touch(c, a.index);
    }
    for (const [c, arms] of touched) {
      refreshWeights(c);
      for (const i of arms) this.sync(c, i);
    }
  }

  /** Hands the dirty arms' statistics to their strategies (once per event-loop turn). */
  syncDirty(): void {
    this.syncScheduled = false;
    if (this.dirty.size === 0) return;
    const dirty = this.dirty;
    this.dirty = new Map();
    for (const [c, arms] of dirty) {
      if (this.campaigns.get(c.id) !== c) continue;
      refreshWeights(c);
      for (const i of arms) syncPosterior(c, i);
      this.logWarnings(c);
    }
  }

  /**
   * Numerical problems the strategy met and handled (an ill-conditioned arm regularised or reset, an
   * overflowing observation dropped, a non-finite pmf served uniformly) are logged once each here and
   * shown on the campaign (`warnings` in its view), so an operator sees a model that needed rescuing.
   */
  private logWarnings(c: LiveCampaign): void {
    const ws = c.state.warnings;
    if (!ws?.length) return;
    const seen = (c.loggedWarnings ??= new Set());
    for (const w of ws) {
      if (seen.has(w)) continue;
      seen.add(w);
      this.logger.warn({ campaignId: c.id, warning: w }, "strategy handled a numerical problem");
    }
  }

  /** Memory follows committed statistics even if a campaign's strategy objects (logged, not thrown). */
  private sync(c: LiveCampaign, index: number): void {
    try {
      syncPosterior(c, index);
    } catch (err) {
      this.logger.error({ err, campaignId: c.id, arm: c.arms[index]?.key }, "strategy refused updated statistics");
    }
    this.logWarnings(c);
  }

  // ---------------------------------------------------------------- read-back

  /** Reads back totals written by other processes and rebuilds campaigns whose version changed. */
  async refresh(): Promise<void> {
    await this.lock.exclusive(async () => {
      const ids = [...this.campaigns.keys()];
      const versions = await campaignVersions(this.db, ids);
      if (versions.length === 0) return;
      const stale = new Set<string>();
      for (const v of versions) if (this.campaigns.get(v.id)?.version !== v.version) stale.add(v.id);
      for (const id of stale) await this.loadUnlocked(id);
      const fresh = ids.filter((id) => !stale.has(id));
      // Only rows moved since the last refresh (by the database's clock), with a margin far beyond any
      // transaction's duration (statement and lock timeouts); a full read now and then as a safety net.
      const full = this.lastRefreshAt === null || this.refreshes % 150 === 0;
      const since = full ? undefined : new Date(this.lastRefreshAt!.getTime() - REFRESH_MARGIN_MS);
      for (const r of await readArmStats(this.db, fresh, since)) this.setFromRow(r);
      await this.rebuildAllTimed(fresh);
      this.lastRefreshAt = versions[0].now;
      this.refreshes++;
    });
  }

  /** Every campaign's buckets and delays read back (one query each for all of them), posteriors refolded. */
  private async rebuildAllTimed(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const hour = hourOf(Date.now());
    let from = hour;
    for (const id of ids) {
      const c = this.campaigns.get(id);
      if (c) from = Math.min(from, hour - retentionHours(c.timed.options));
    }
    const rows = byCampaign(await readBuckets(this.db, ids, from));
    const delays = byCampaign(await readDelays(this.db, ids));
    for (const id of ids) {
      const c = this.campaigns.get(id);
      if (!c) continue;
      const own = hour - retentionHours(c.timed.options);
      this.rebuildTimed(
        c,
        (rows.get(id) ?? []).filter((r) => r.hour >= own),
        delays.get(id) ?? [],
      );
    }
  }

  /** Replaces one campaign's in-memory totals by the database's at once (e.g. after a recompute). */
  async reloadStats(campaignId: string): Promise<void> {
    await this.lock.exclusive(async () => {
      for (const r of await readArmStats(this.db, [campaignId])) this.setFromRow(r);
      await this.rebuildAllTimed([campaignId]);
    });
  }

  private setFromRow(r: ArmStatsRow): void {
    const c = this.campaigns.get(r.campaignId);
    const a = c?.armByKey.get(r.armKey);
    if (!c || !a) return;
    fromDatabase(c, a.index, foldBuckets([r], c.dim));
  }
}
