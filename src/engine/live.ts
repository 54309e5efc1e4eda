/**
 * Live state: the campaigns in memory, the readers–writer lock that orders every change of their
 * statistics, load, eviction and refresh.
 *
 * - Decision commits and event ingests hold the lock shared (their increments commute); reloading a
 *   campaign that is in memory, refresh and the read-back after a recompute hold it exclusively, so that
 *   "memory = database + still queued" (src/engine/stats.ts) holds whenever the lock is free.
 * - Loading a campaign that is NOT in memory blocks nobody: nothing of it can be queued or in flight
 *   here (decisions and ingests need it in memory first), so its rows are read outside the lock and it
 *   is installed under the shared lock (a synchronous step). Concurrent first uses share one read. The
 *   read's change mark lowers the next refresh's bound, so nothing written meanwhile is missed.
 * - Start-up, first use, reload and refresh all build campaigns through one path (`readMany` → `build`):
 *   a handful of set-based statements for any number of campaigns (src/store/live-load.ts), then the
 *   registered `CampaignStateLoader`s load their own per-campaign state (budgets, pacing) — one place.
 * - Memory by use: at most `maxLive` campaigns stay in memory; beyond it the least recently used leave
 *   (under the exclusive lock, so no commit or ingest is in flight), never one with an unsettled decision
 *   or that a loader calls busy. They come back on their next use, rebuilt from the database.
 * - refresh reads the change feed (rows written since the previous refresh's snapshot: one indexed
 *   statement) and re-reads only the campaigns in memory that changed; nothing changed → no statistics
 *   row is read.
 * - Strategy states see a campaign's statistics through `syncArm`. Decisions only mark their arm dirty;
 *   the dirty arms are synced when their group commit lands or within POSTERIOR_SYNC_MS, so the decisions
 *   in between share one posterior (a strategy's cached pmf is computed once per sync, not per decision).
 */
import type { Logger } from "pino";
import type { ArmStats } from "../../strategies/types.ts";
import { isUnavailable, type Db } from "../store/db.ts";
import {
  changedCampaigns,
  changeMark,
  earlierMark,
  type ChangeMark,
  hotCampaignIds,
  readCampaignRows,
  readLiveRows,
  type ArmRow,
  type ArmStatsRow,
  type BucketRow,
  type CampaignRow,
  type DelayRow,
  type LiveRows,
} from "../store/live-load.ts";
import { refreshBudgets } from "../budget/load.ts";
import { addTrial, addTrialsOf, emptyArmBuckets, hourOf, type ArmBuckets } from "./buckets.ts";
import { buildLive, refreshWeights, syncPosterior, timedOptions, type LiveArm, type LiveCampaign } from "./campaign.ts";
import { RwLock } from "./mutex.ts";
import type { RecomputeOptions } from "./recompute.ts";
import { resolveStrategy, type StrategyRegistry } from "./registry.ts";
import {
  addStats,
  applied,
  carryPending,
  committed,
  failed,
  foldBuckets,
  fromDatabase,
  queued,
  zeroStats,
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

/**
 * The strategy sees queued trials (and recomputes its exact pmf) when their group commit lands, before
 * they are answered (decide.ts), or after at most this many milliseconds — not once per event-loop turn:
 * the pmf was the largest single cost of a decision under load. Every propensity stays exact for the
 * posterior the decision was made with.
 */
export const POSTERIOR_SYNC_MS = 10;

/**
 * Per-campaign state kept beside the statistics (budgets, pacing): loaded for every campaign built from
 * the database — at start-up, on first use, on reload and when a refresh rebuilds it — before it serves.
 * `prev` is the object it replaces (a reload), if any.
 */
export interface CampaignStateLoader {
  load(db: Db, built: { campaign: LiveCampaign; prev?: LiveCampaign }[]): Promise<void>;
  /** False while the campaign holds state not yet persisted: it is not evicted then. */
  evictable?(c: LiveCampaign): boolean;
}

export interface LiveOptions {
  /** Campaigns kept in memory at most (the least recently used leave first); 0 / undefined: unbounded. */
  maxLive?: number;
  /**
   * Campaigns loaded before start-up completes, the most recently written first (default 1,000); the
   * rest, up to maxLive, stream in in the background (or load on first use, whichever comes first).
   */
  preload?: number;
  /**
   * A campaign in use has every arm's posterior refolded at the current time at least this often (ms;
   * pending trials weigh F(age), which moves with the clock). Idle campaigns are not refolded at all.
   */
  refoldMs?: number;
  /** A campaign unused for this long (ms) leaves memory at a refresh, whatever the budget (default: never). */
  idleMs?: number;
}

/** What the last refresh did (tests and the benchmark read it). */
export interface RefreshReport {
  /** Campaigns the change feed named (in memory or not). */
  changed: number;
  /** Campaigns in memory re-read. */
  reread: number;
  /** Statistics rows (arm_stats, buckets, delays) read. */
  rowsRead: number;
  evicted: number;
}

/** Campaigns read per set of statements (start-up streams chunks of this size). */
const CHUNK = 2000;
const DEFAULT_PRELOAD = 1000;
/** An eviction sweep brings the count down to this share of the budget (so sweeps stay rare). */
const SWEEP_TO = 0.9;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID_RE.test(s);

/** One campaign's rows. */
interface CampaignData {
  row: CampaignRow;
  arms: ArmRow[];
  stats: ArmStatsRow[];
  buckets: BucketRow[];
  delays: DelayRow[];
}

/** An arm's queued trials by hour, created on first use. */
function pendingOf(c: LiveCampaign, index: number): ArmBuckets {
  let b = c.pendingBuckets[index];
  if (!b) c.pendingBuckets[index] = b = emptyArmBuckets(c.dim);
  return b;
}

/**
 * Arm keys and names are short strings that many campaigns share ("red", "hero-1"): one copy each, so a
 * hundred thousand campaigns do not hold a million copies. Bounded, so odd keys cannot grow it forever.
 */
const INTERN_MAX = 100_000;
const interned = new Map<string, string>();
function intern<T extends string | null>(s: T): T {
  if (s === null) return s;
  const got = interned.get(s);
  if (got !== undefined) return got as T;
  if (interned.size < INTERN_MAX) interned.set(s, s);
  return s;
}

function groupRows(cfgs: CampaignRow[], data: LiveRows): Map<string, CampaignData> {
  const out = new Map<string, CampaignData>();
  for (const row of cfgs) out.set(row.id, { row, arms: [], stats: [], buckets: [], delays: [] });
  for (const a of data.arms) out.get(a.campaignId)?.arms.push(a);
  for (const s of data.stats) out.get(s.campaignId)?.stats.push(s);
  for (const b of data.buckets) out.get(b.campaignId)?.buckets.push(b);
  for (const d of data.delays) out.get(d.campaignId)?.delays.push(d);
  return out;
}

export class LiveState {
  readonly campaigns = new Map<string, LiveCampaign>();
  private readonly lock = new RwLock();
  /** Arms whose trials were counted since the strategy state last saw them. */
  private dirty = new Map<LiveCampaign, Set<number>>();
  /** Campaigns with delays observed since their model was fitted (refitPendingUnlocked). */
  private refitDue = new Set<LiveCampaign>();
  /** Per workspace, the longest attribution window loaded (attributionWindowBound). */
  private windows = new Map<string, number>();
  private syncScheduled = false;
  /** First uses being read (concurrent ones share one read). */
  private readonly loading = new Map<string, Promise<LiveCampaign | undefined>>();
  /** Where the next change-feed read starts (null before the first mark). */
  private since: ChangeMark | null = null;
  /** Campaigns to re-read at the next refresh whatever the feed says. */
  private readonly stale = new Set<string>();
  private readonly loaders: CampaignStateLoader[] = [];
  private uses = 0;
  private sweepScheduled = false;
  readonly maxLive: number;
  private readonly preload: number;
  lastRefresh: RefreshReport = { changed: 0, reread: 0, rowsRead: 0, evicted: 0 };
  /** Campaigns evicted so far. */
  evictions = 0;

  constructor(
    private readonly db: Db,
    private readonly registry: StrategyRegistry,
    private readonly logger: Logger,
    opts: LiveOptions = {},
  ) {
    this.maxLive = opts.maxLive && opts.maxLive > 0 ? opts.maxLive : Number.POSITIVE_INFINITY;
    this.preload = opts.preload ?? DEFAULT_PRELOAD;
    this.refoldMs = opts.refoldMs ?? 2000;
    this.idleMs = opts.idleMs && opts.idleMs > 0 ? opts.idleMs : 0;
  }

  private readonly idleMs: number;
  /** The use counter as it was at each refresh (when), to tell how long ago a campaign was last used. */
  private readonly useMarks: { at: number; uses: number }[] = [];

  private readonly refoldMs: number;

  /** Runs `fn` with the lock held shared (decision commits, ingests). */
  shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.shared(fn);
  }

  /** Other per-campaign state loaded with every built campaign (see CampaignStateLoader). */
  addLoader(loader: CampaignStateLoader): void {
    this.loaders.push(loader);
  }

  /**
   * Start-up: the most recently written served campaigns, up to `preload` (and the budget), streamed in
   * chunks of set-based statements; one the library can no longer build is logged and skipped. The
   * others load on first use.
   */
  async loadAll(): Promise<void> {
    // The change feed starts here, before anything is read or created: a campaign created or first used
    // before the first refresh must not miss what other replicas write meanwhile (the mark was taken at
    // the first refresh, so everything written by others in a replica's first interval was lost).
    this.lowerSince(await changeMark(this.db));
    const limit = Number.isFinite(this.maxLive) ? this.maxLive : 2 ** 31 - 1;
    const ids = await hotCampaignIds(this.db, limit);
    const first = Math.max(0, Math.min(this.preload, ids.length));
    await this.stream(ids.slice(0, first));
    if (first < ids.length)
      this.background = this.stream(ids.slice(first)).catch((err) =>
        this.logger.warn({ err }, "loading campaigns in the background stopped; the others load on first use"),
      );
  }

  /** Start-up's background part (awaited by close). */
  private background: Promise<void> | null = null;
  private closed = false;
  /** Ids installed at least once: the background part of start-up never installs one again (it may be stale). */
  private readonly seen = new Set<string>();

  /** Stops the background start-up (the campaigns not loaded yet load on first use). */
  async close(): Promise<void> {
    this.closed = true;
    await this.background;
  }

  /** Reads these campaigns in chunks of set-based statements and installs those not seen yet. */
  private async stream(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length && !this.closed; i += CHUNK) {
      const part = ids.slice(i, i + CHUNK).filter((id) => !this.seen.has(id) && !this.loading.has(id));
      if (part.length === 0) continue;
      const mark = await changeMark(this.db);
      const { built } = await this.readMany(part, new Map());
      await this.lock.shared(async () => {
        this.lowerSince(mark);
        for (const c of built.values()) if (!this.seen.has(c.id) && this.campaigns.size < this.maxLive) this.install(c);
      });
    }
  }

  /** The campaign in memory, else loaded if the id can be one. */
  async get(id: string): Promise<LiveCampaign | undefined> {
    const c = this.campaigns.get(id);
    if (c) {
      c.lastUsed = ++this.uses;
      if (Date.now() - c.foldedAt > this.refoldMs) this.refold(c);
      return c;
    }
    return isUuid(id) ? this.firstUse(id) : undefined;
  }

  /** Several campaigns; those not in memory are read together (a workspace's list). */
  async getMany(ids: string[]): Promise<LiveCampaign[]> {
    const missing = ids.filter((id) => !this.campaigns.has(id) && !this.loading.has(id) && isUuid(id));
    if (missing.length > 1) {
      const mark = await changeMark(this.db);
      const { built } = await this.readMany(missing, new Map());
      await this.lock.shared(async () => {
        this.lowerSince(mark);
        for (const c of built.values()) if (!this.campaigns.has(c.id)) this.install(c);
      });
      this.scheduleSweep();
    }
    const out: LiveCampaign[] = [];
    for (const id of ids) {
      const c = await this.get(id);
      if (c) out.push(c);
    }
    return out;
  }

  /**
   * (Re-)reads one campaign from the database. In memory: rebuilt under the exclusive lock (what it
   * still has queued carried over). Not in memory: a first use (no lock held while reading).
   */
  async load(id: string): Promise<LiveCampaign | undefined> {
    await this.loading.get(id)?.catch(() => undefined);
    if (!this.campaigns.has(id)) return this.firstUse(id, true);
    return this.lock.exclusive(async () => (await this.reloadUnlocked([id], true)).get(id));
  }

  /** A campaign just created (nothing queued, totals zero). */
  adopt(c: LiveCampaign): void {
    this.install(c);
    this.scheduleSweep();
  }

  /** Touches a campaign (a use that does not go through `get`). */
  private touch(c: LiveCampaign): void {
    c.lastUsed = ++this.uses;
  }

  private install(c: LiveCampaign): void {
    this.touch(c);
    this.put(c);
    this.seen.add(c.id);
  }

  /** The one way a campaign enters the map: its attribution window joins its workspace's bound. */
  private put(c: LiveCampaign): void {
    this.campaigns.set(c.id, c);
    if (c.attributionWindowHours > (this.windows.get(c.workspaceId) ?? 0))
      this.windows.set(c.workspaceId, c.attributionWindowHours);
  }

  /**
   * The longest attribution window (hours) of the workspace's campaigns loaded since start, 0 if none: a
   * bound for the event lookup's partition pruning (learn.ts `madeWithin`), kept per workspace so an event
   * batch does not scan every campaign in memory. It never shrinks (an evicted or shortened campaign's
   * window stays): too long only prunes less.
   */
  attributionWindowBound(workspaceId: string): number {
    return this.windows.get(workspaceId) ?? 0;
  }

  private lowerSince(mark: ChangeMark): void {
    this.since = this.since === null ? mark : earlierMark(this.since, mark);
  }

  /** A campaign not in memory: read without the lock, installed under the shared lock. */
  private firstUse(id: string, fresh = false): Promise<LiveCampaign | undefined> {
    const inFlight = fresh ? undefined : this.loading.get(id);
    if (inFlight) return inFlight;
    const p: Promise<LiveCampaign | undefined> = (async () => {
      const mark = await changeMark(this.db);
      const c = (await this.readMany([id], new Map(), true)).built.get(id);
      return this.lock.shared(async () => {
        this.lowerSince(mark);
        const cur = this.campaigns.get(id);
        if (cur) return cur;
        if (c) this.install(c);
        return c;
      });
    })().finally(() => {
      if (this.loading.get(id) === p) this.loading.delete(id);
      this.scheduleSweep();
    });
    this.loading.set(id, p);
    return p;
  }

  /**
   * Under the exclusive lock: rebuilds these campaigns from the database, carrying what they still have
   * queued; one deleted from the database leaves memory.
   */
  private async reloadUnlocked(ids: string[], rethrow: boolean): Promise<Map<string, LiveCampaign>> {
    const prev = new Map<string, LiveCampaign>();
    for (const id of ids) {
      const c = this.campaigns.get(id);
      if (c) prev.set(id, c);
    }
    const { built, found } = await this.readMany(ids, prev, rethrow);
    for (const id of ids) {
      const c = built.get(id);
      const p = prev.get(id);
      if (c) {
        c.lastUsed = p?.lastUsed ?? ++this.uses;
        c.loggedWarnings = p?.loggedWarnings;
        this.put(c);
      } else if (p && !found.has(id) && p.unsettled === 0) this.campaigns.delete(id);
    }
    return built;
  }

  /**
   * The one path from rows to live campaigns: the configuration of these ids, then their arms, totals,
   * recent buckets (each campaign's own retention) and delays — five statements for any number — built
   * (carrying `prev`'s still-queued trials), then handed to the loaders. A campaign that cannot be built
   * is logged and left out, or (`rethrow`: one campaign a request asked for) its error is thrown.
   */
  private async readMany(
    ids: string[],
    prev: ReadonlyMap<string, LiveCampaign>,
    rethrow = false,
  ): Promise<{ built: Map<string, LiveCampaign>; found: Set<string> }> {
    const out = new Map<string, LiveCampaign>();
    if (ids.length === 0) return { built: out, found: new Set() };
    const cfgs = await readCampaignRows(this.db, ids);
    const hour = hourOf(Date.now());
    const from = new Map(cfgs.map((r) => [r.id, hour - retentionHours(timedOptions(r))]));
    const data = await readLiveRows(this.db, from);
    this.rowsRead += data.stats.length + data.buckets.length + data.delays.length;
    for (const d of groupRows(cfgs, data).values()) {
      try {
        out.set(d.row.id, this.build(d, prev.get(d.row.id)));
      } catch (err) {
        if (rethrow || isUnavailable(err)) throw err;
        this.logger.error({ err, campaignId: d.row.id }, "campaign could not be loaded");
      }
    }
    if (this.loaders.length) {
      const list = [...out.values()].map((campaign) => ({ campaign, prev: prev.get(campaign.id) }));
      for (const l of this.loaders) await l.load(this.db, list);
    }
    return { built: out, found: new Set(cfgs.map((r) => r.id)) };
  }

  /** Statistics rows read so far (by every load and refresh). */
  rowsRead = 0;

  /** A live campaign from its rows (+ the still-queued trials of the one it replaces). */
  private build(d: CampaignData, prev: LiveCampaign | undefined): LiveCampaign {
    const cfg = d.row;
    const impl = resolveStrategy(this.registry, cfg.strategy.type);
    const encoder = impl.contextual ? this.registry.createEncoder(cfg.contextFeatures) : undefined;
    const arms: LiveArm[] = d.arms.map((a) => ({
      key: intern(a.key),
      name: intern(a.name),
      cost: a.cost,
      totalBudget: a.totalBudget,
      dailyBudget: a.dailyBudget,
      metadata: a.metadata ?? {},
      status: a.status,
      index: a.position,
      createdAt: a.createdAt,
    }));
    // Built at the prior; the totals are set below and the posterior folded once, in rebuildTimed.
    const live = buildLive(cfg, impl, encoder, arms, new Map());
    for (const s of d.stats) this.setFromRow(live, s);
    if (prev) {
      carryPending(prev, live);
      live.unsettled = prev.unsettled;
      for (const a of prev.arms) {
        const n = live.armByKey.get(a.key);
        if (!n) continue;
        const queuedByHour = prev.pendingBuckets[a.index];
        if (!queuedByHour) continue;
        addTrialsOf(pendingOf(live, n.index), queuedByHour, live.dim);
      }
    }
    this.rebuildTimed(live, d.buckets, d.delays);
    return live;
  }

  /**
   * A campaign's buckets from the database rows + its still-queued trials; base = all-time totals in the
   * database minus the rows read (src/engine/timed.ts); then every arm's posterior is refolded.
   */
  private rebuildTimed(c: LiveCampaign, rows: BucketRow[], delays: { hour: number; counts: number[] }[]): void {
    const allTime = new Map<string, ArmStats>();
    for (const a of c.arms) {
      const t = zeroStats(c.dim);
      addStats(t, c.stats[a.index]!);
      const queuedHere = c.pending[a.index];
      if (queuedHere) addStats(t, queuedHere, -1);
      allTime.set(a.key, t);
    }
    const keys = c.arms.map((a) => a.key);
    c.timed = timedFromStored(keys, c.dim, timedOptions(c), allTime, rows, delays);
    c.arms.forEach((a) => {
      const queuedByHour = c.pendingBuckets[a.index];
      if (queuedByHour) addTrialsOf(c.timed.arms[a.index]!, queuedByHour, c.dim);
    });
    this.refold(c);
  }

  /** Every arm's posterior folded at the current time. */
  private refold(c: LiveCampaign): void {
    c.foldedAt = Date.now();
    refreshWeights(c, c.foldedAt);
    for (const a of c.arms) this.sync(c, a.index);
  }

  // ---------------------------------------------------------------- statistics (src/engine/stats.ts)

  /** A decision's trial (made in `hour`), counted in memory at once and pending until its commit settles. */
  queued(chosen: LiveCampaign, index: number, inc: ArmIncrement, hour: number): void {
    let c = chosen;
    const cur = this.campaigns.get(c.id);
    if (cur !== c) {
      // The campaign left memory (or was rebuilt) between its lookup and this decision: count the trial
      // on the object in memory, re-adopting this one (re-read at the next refresh) if there is none.
      if (cur) {
        const a = cur.armByKey.get(inc.armKey);
        if (!a) return;
        c = cur;
        index = a.index;
      } else {
        this.install(c);
        this.stale.add(c.id);
      }
    }
    this.touch(c);
    c.unsettled++;
    queued(c, index, inc);
    addTrial(c.timed.arms[index]!, hour, inc, c.dim);
    addTrial(pendingOf(c, index), hour, inc, c.dim);
    let set = this.dirty.get(c);
    if (!set) this.dirty.set(c, (set = new Set()));
    set.add(index);
    const now = Date.now();
    if (now - c.foldedAt > this.refoldMs) {
      // In use again after a while: every arm is refolded at this turn's end, not just the chosen one.
      c.foldedAt = now;
      for (const a of c.arms) set.add(a.index);
    }
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
    c.unsettled--;
    const queuedByHour = pendingOf(c, a.index);
    addTrial(queuedByHour, hour, inc, c.dim, -1);
    if (c.unsettled === 0) c.pendingBuckets[a.index] = undefined;
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
      this.touch(c);
      refreshWeights(c);
      for (const i of arms) this.sync(c, i);
      if (c.timed.refitPending) this.refitDue.add(c);
    }
  }

  /**
   * The campaigns whose delay counts moved since their model was fitted (refits are at most once a second
   * on new counts, timed.ts): refitted now, every arm handed the new weights — at each refresh, so two
   * replicas that read the same counts also use the same model.
   */
  private refitPendingUnlocked(): void {
    if (this.refitDue.size === 0) return;
    const due = this.refitDue;
    this.refitDue = new Set();
    const now = Date.now();
    for (const c of due) if (this.campaigns.get(c.id) === c) this.refitNow(c, now);
  }

  /** The campaign's delay model refitted if delays arrived since its fit (what a view of it shows). */
  refitNow(c: LiveCampaign, nowMs = Date.now()): void {
    this.refitDue.delete(c);
    if (!c.timed.refitPending) return;
    refreshWeights(c, nowMs, "now");
    for (const a of c.arms) this.sync(c, a.index);
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

  // ---------------------------------------------------------------- eviction

  /** Whether a campaign may leave memory now (nothing of it unsettled; no loader objects). */
  private evictable(c: LiveCampaign): boolean {
    return c.unsettled === 0 && !this.loading.has(c.id) && this.loaders.every((l) => l.evictable?.(c) ?? true);
  }

  /** Under the exclusive lock: the least recently used leave until at most `target` remain. */
  private evictUnlocked(target: number): number {
    if (this.campaigns.size <= target) return 0;
    const candidates = [...this.campaigns.values()].filter((c) => this.evictable(c));
    candidates.sort((a, b) => a.lastUsed - b.lastUsed);
    let evicted = 0;
    for (const c of candidates) {
      if (this.campaigns.size <= target) break;
      this.campaigns.delete(c.id);
      this.dirty.delete(c);
      this.stale.delete(c.id);
      evicted++;
    }
    this.evictions += evicted;
    return evicted;
  }

  /**
   * Under the exclusive lock: campaigns not used for `idleMs` leave. The use counter is sampled at every
   * refresh, so "unused since" costs no clock reading per decision.
   */
  private evictIdleUnlocked(now: number): number {
    if (!this.idleMs) return 0;
    this.useMarks.push({ at: now, uses: this.uses });
    let threshold = -1;
    while (this.useMarks.length && this.useMarks[0]!.at <= now - this.idleMs) threshold = this.useMarks.shift()!.uses;
    if (threshold < 0) return 0;
    let evicted = 0;
    for (const c of [...this.campaigns.values()]) {
      if (c.lastUsed > threshold || !this.evictable(c)) continue;
      this.campaigns.delete(c.id);
      this.dirty.delete(c);
      this.stale.delete(c.id);
      evicted++;
    }
    this.evictions += evicted;
    return evicted;
  }

  /** Campaigns in memory beyond the budget: a sweep soon (not on the request's path). */
  private scheduleSweep(): void {
    if (this.campaigns.size <= this.maxLive || this.sweepScheduled) return;
    this.sweepScheduled = true;
    setImmediate(() => {
      this.lock
        .exclusive(async () => {
          this.sweepScheduled = false;
          this.evictUnlocked(Math.floor(this.maxLive * SWEEP_TO));
        })
        .catch((err) => this.logger.error({ err }, "eviction sweep failed"));
    });
  }

  /** Evicts these campaigns now if they may leave (tests; an operator's hook). */
  async evict(ids?: string[]): Promise<number> {
    return this.lock.exclusive(async () => {
      let n = 0;
      for (const id of ids ?? [...this.campaigns.keys()]) {
        const c = this.campaigns.get(id);
        if (!c || !this.evictable(c)) continue;
        this.campaigns.delete(id);
        this.dirty.delete(c);
        n++;
      }
      this.evictions += n;
      return n;
    });
  }

  // ---------------------------------------------------------------- read-back

  /**
   * Reads what other processes wrote since the last refresh (the change feed) and re-reads only the
   * campaigns in memory that changed: rebuilt when their configuration or arms changed, else their totals
   * and buckets replaced (memory = database + still queued). Then the budget is enforced.
   */
  async refresh(): Promise<void> {
    await this.lock.exclusive(async () => {
      const report: RefreshReport = { changed: 0, reread: 0, rowsRead: 0, evicted: 0 };
      const before = this.rowsRead;
      if (this.since === null) this.since = await changeMark(this.db);
      else {
        const { ids, mark } = await changedCampaigns(this.db, this.since);
        report.changed = ids.length;
        const todo = new Set(ids.filter((id) => this.campaigns.has(id)));
        for (const id of this.stale) if (this.campaigns.has(id)) todo.add(id);
        this.stale.clear();
        if (todo.size) await this.rereadUnlocked([...todo]);
        report.reread = todo.size;
        this.since = mark;
      }
      this.refitPendingUnlocked();
      // Spend counters of campaigns with budgets: every refresh (src/budget/load.ts).
      await refreshBudgets(this.db, this.campaigns.values());
      report.evicted = this.evictUnlocked(this.maxLive) + this.evictIdleUnlocked(Date.now());
      report.rowsRead = this.rowsRead - before;
      this.lastRefresh = report;
    });
  }

  /**
   * Under the exclusive lock: these campaigns' rows read once (set-based); a campaign whose version or
   * arms changed is rebuilt, the others take the database's totals and buckets in place.
   */
  private async rereadUnlocked(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += CHUNK) {
      const part = ids.slice(i, i + CHUNK);
      const cfgs = await readCampaignRows(this.db, part);
      const found = new Set(cfgs.map((r) => r.id));
      const hour = hourOf(Date.now());
      const rebuild: string[] = [];
      const inPlace: CampaignRow[] = [];
      for (const r of cfgs) {
        const c = this.campaigns.get(r.id);
        if (!c) continue;
        if (c.version !== r.version) rebuild.push(r.id);
        else inPlace.push(r);
      }
      for (const id of part) if (!found.has(id)) this.dropIfIdle(id);
      if (rebuild.length) await this.reloadUnlocked(rebuild, false);
      if (inPlace.length === 0) continue;
      const from = new Map(inPlace.map((r) => [r.id, hour - retentionHours(timedOptions(r))]));
      const data = await readLiveRows(this.db, from);
      this.rowsRead += data.stats.length + data.buckets.length + data.delays.length;
      const grouped = groupRows(inPlace, data);
      for (const d of grouped.values()) {
        const c = this.campaigns.get(d.row.id);
        if (!c) continue;
        if (d.arms.length !== c.arms.length) {
          await this.reloadUnlocked([c.id], false);
          continue;
        }
        for (const r of d.stats) this.setFromRow(c, r);
        this.rebuildTimed(c, d.buckets, d.delays);
      }
    }
  }

  private dropIfIdle(id: string): void {
    const c = this.campaigns.get(id);
    if (c && c.unsettled === 0) this.campaigns.delete(id);
  }

  /**
   * How a campaign's contexts are encoded (for the rebuild from rows), from memory or else from its stored
   * configuration — without loading it. Undefined when there is no such campaign.
   */
  async contextOf(id: string): Promise<RecomputeOptions | undefined> {
    const live = this.campaigns.get(id);
    if (live) {
      const enc = live.encoder;
      return enc ? { encode: (ctx) => enc.encode(ctx), dim: live.dim } : {};
    }
    const row = isUuid(id) ? (await readCampaignRows(this.db, [id]))[0] : undefined;
    if (!row) return undefined;
    if (!resolveStrategy(this.registry, row.strategy.type).contextual) return {};
    const enc = this.registry.createEncoder(row.contextFeatures);
    return { encode: (ctx) => enc.encode(ctx), dim: enc.dim };
  }

  /** Replaces one campaign's in-memory totals by the database's at once (e.g. after a recompute). */
  async reloadStats(campaignId: string): Promise<void> {
    await this.lock.exclusive(async () => {
      if (this.campaigns.has(campaignId)) await this.rereadUnlocked([campaignId]);
    });
  }

  private setFromRow(c: LiveCampaign, r: ArmStatsRow): void {
    const a = c.armByKey.get(r.armKey);
    if (!a) return;
    fromDatabase(c, a.index, foldBuckets([r], c.dim));
  }
}
