/**
 * buildService: opens the database (migrating it), starts the engine and builds the HTTP app — all
 * without listening, so tests drive it through `app.request` and server.ts serves it.
 *
 * If the database cannot be reached at start, the service still comes up: every /v1 call and
 * /healthz answer 503 at once, and the database is retried in the background until it answers.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { createApp } from "./api/app.ts";
import { CachedFraudGate } from "./fraud/gate.ts";
import type { AppDeps, ResolvedKey } from "./api/env.ts";
import type { RateLimit } from "./api/limits.ts";
import { createMetrics } from "./api/metrics.ts";
import { Engine } from "./engine/engine.ts";
import { DomainError } from "./engine/errors.ts";
import { loadRegistry, type StrategyRegistry } from "./engine/registry.ts";
import type { FraudGate } from "./engine/types.ts";
import { createLogger } from "./logger.ts";
import { pseudonymiseStoredRows } from "./privacy/backfill.ts";
import { DatabaseHealth, isUnavailable, openDatabase, type Database } from "./store/db.ts";
import { resolveKey } from "./store/workspaces.ts";

export interface ServiceOptions {
  databaseUrl?: string;
  dataDir?: string;
  adminKey: string;
  refreshIntervalMs?: number;
  /** Live campaigns kept in memory at most / loaded at start-up (EngineOptions). */
  maxLiveCampaigns?: number;
  preloadCampaigns?: number;
  campaignIdleMs?: number;
  logLevel?: string;
  seed?: number;
  /** Pool size for PostgreSQL (default 10). */
  poolSize?: number;
  fraudGate?: FraudGate;
  /** Group-commit tuning (see EngineOptions): commits in flight, queue length that starts a parallel one. */
  maxInflight?: number;
  minParallelBatch?: number;
  logger?: Logger;
  registry?: StrategyRegistry;
  /** Tolerance on events' occurredAt (EngineOptions.clockSkewToleranceMs; tests that simulate a timeline). */
  clockSkewToleranceMs?: number;
  /** Also export Node process metrics (CPU, memory, event-loop lag) on /metrics. */
  processMetrics?: boolean;
  /** Bytes of request bodies read or handled at once (default 32 MiB). */
  bodyBudgetBytes?: number;
  /** Per-workspace token bucket; none by default (server.ts sets it from the configuration). */
  rateLimit?: RateLimit;
  /** How long a resolved API key is trusted without asking the database again (default: refreshIntervalMs). */
  keyCacheMs?: number;
}

export interface Service {
  app: {
    request(input: string | Request, init?: RequestInit): Response | Promise<Response>;
    fetch(req: Request): Response | Promise<Response>;
  };
  close(): Promise<void>;
  /** The wiring, for the entry point and for other modules (jobs, fraud) living in the same process. */
  deps: AppDeps;
}

/** Period of the open retry while the database is unreachable at start (well inside the 2 s recovery bound). */
const RETRY_MS = 500;
const KEY_CACHE_MAX = 100_000;

export async function buildService(opts: ServiceOptions): Promise<Service> {
  const logger = opts.logger ?? createLogger(opts.logLevel ?? "info");
  const metrics = createMetrics({ defaults: opts.processMetrics });
  const registry = opts.registry ?? (await loadRegistry());
  // Default gate: the workspace blocklists (cached, refreshed by the jobs and the blocklist routes) and
  // declared bots; tests and simulations may inject their own.
  const fraudGate = opts.fraudGate ?? new CachedFraudGate();
  let database: Database | null = null;
  let health: DatabaseHealth | null = null;
  let engine: Engine | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | null = null;
  let opening: Promise<void> | null = null;

  const open = async () => {
    const db = await openDatabase({
      databaseUrl: opts.databaseUrl,
      dataDir: opts.dataDir,
      poolSize: opts.poolSize,
      logPoolSize: opts.maxInflight,
    });
    try {
      if (await pseudonymiseStoredRows(db.db))
        logger.info("identifiers stored before pseudonymisation are pseudonymised");
      const e = new Engine({
        database: db,
        registry,
        logger,
        seed: opts.seed ?? randomBytes(4).readUInt32LE(0),
        refreshIntervalMs: opts.refreshIntervalMs ?? 2000,
        maxLiveCampaigns: opts.maxLiveCampaigns,
        preloadCampaigns: opts.preloadCampaigns,
        campaignIdleMs: opts.campaignIdleMs,
        fraudGate,
        maxInflight: opts.maxInflight,
        minParallelBatch: opts.minParallelBatch,
        clockSkewToleranceMs: opts.clockSkewToleranceMs,
        onDecisions: (n) => {
          metrics.decisions.inc(n);
          metrics.commitBatch.observe(n);
        },
        onEvents: (status, n) => metrics.events.inc({ status }, n),
      });
      await e.start();
      if (fraudGate instanceof CachedFraudGate) await fraudGate.refresh(db.db);
      if (closed) {
        await e.close();
        await db.close();
        return;
      }
      database = db;
      engine = e;
      metrics.live.campaigns = () => e.campaigns.size;
      metrics.live.evictions = () => e.liveState.evictions;
      // PGlite lives in this process and cannot become unreachable: only PostgreSQL is probed.
      if (db.driver === "postgres")
        health = new DatabaseHealth((ms) => db.ping(ms), {
          onChange: (up) =>
            up ? logger.info("database reachable again") : logger.error("database unreachable; answering 503"),
        });
      logger.info({ driver: db.driver }, "database open");
    } catch (err) {
      await db.close().catch(() => {});
      throw err;
    }
  };

  const scheduleRetry = () => {
    retry = setTimeout(() => {
      retry = null;
      opening = open()
        .catch((err) => {
          logger.warn({ err: String(err) }, "database still unreachable");
          if (!closed) scheduleRetry();
        })
        .finally(() => (opening = null));
    }, RETRY_MS);
    retry.unref();
  };

  try {
    await open();
  } catch (err) {
    if (!isUnavailable(err)) throw err;
    logger.error({ err: String(err) }, "database unreachable at start; answering 503 and retrying");
    scheduleRetry();
  }

  const unavailable = () => new DomainError("unavailable", "database unavailable");
  // Resolved keys, trusted for keyTtl ms: a key revoked on another replica stops working here within
  // that time (the refresh interval by default); one revoked here is forgotten at once.
  const keyTtl = opts.keyCacheMs ?? opts.refreshIntervalMs ?? 2000;
  const keyCache = new Map<string, ResolvedKey & { until: number }>();
  const deps: AppDeps = {
    get engine() {
      if (!engine) throw unavailable();
      return engine;
    },
    get database() {
      if (!database) throw unavailable();
      return database;
    },
    get db() {
      if (!database) throw unavailable();
      return database.db;
    },
    logger,
    metrics,
    adminKey: opts.adminKey,
    bodyBudgetBytes: opts.bodyBudgetBytes,
    rateLimit: opts.rateLimit,
    ready: () => database !== null && (health === null || health.healthy),
    suspectDatabase: () => void health?.suspect(),
    async resolveKey(key) {
      const now = performance.now();
      const hit = keyCache.get(key);
      if (hit && hit.until > now) return hit;
      if (!database) throw unavailable();
      const r = await resolveKey(database.db, key);
      if (!r) {
        keyCache.delete(key);
        return null;
      }
      if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
      keyCache.set(key, { ...r, until: now + keyTtl });
      return r;
    },
    async workspaceForKey(key) {
      return (await deps.resolveKey(key))?.workspaceId ?? null;
    },
    forgetKey(keyId) {
      for (const [k, v] of keyCache) if (v.keyId === keyId) keyCache.delete(k);
    },
  };

  const app = createApp(deps);
  return {
    app,
    deps,
    async close() {
      if (closed) return;
      closed = true;
      if (retry) clearTimeout(retry);
      await opening;
      const e = engine;
      const d = database;
      health?.stop();
      engine = null;
      if (e) await e.close().catch((err) => logger.error({ err }, "flush on close failed"));
      database = null;
      if (d) await d.close();
    },
  };
}
