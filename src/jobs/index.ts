/**
 * Scheduled jobs (node-cron), each on one replica at a time (leader.ts):
 *   - fraud-scan: every active campaign through the detectors (src/fraud/scan.ts): the short-window phase
 *     (bots, duplicates, bursts, ingest findings) at every tick, the 24 h rate/value/timing phase every
 *     `fraudRatesEveryMinutes` per campaign; what flagged events taught is taken back through `recompute`
 *     (Engine.recompute), and their hours' rollups rewritten;
 *   - rollups: rewrites the hourly rollups of every hour that received events or decisions since the
 *     last run (plus `rollupLookbackHours` on the first run), so reports from rollups equal the events;
 *   - gate-refresh: reloads the ingest gate's blocklist cache (every replica, no lock: each has its own cache);
 *   - consistency: arm_stats compared with what the stored rows imply, repaired and reported
 *     (Engine.checkConsistency; default every 15 minutes);
 *   - retention: decisions and events older than their workspace's retention deleted (src/privacy/retention.ts;
 *     default hourly, at minute 17).
 * Schedules are cron expressions (default every minute), configurable, or false to switch a job off.
 */
import cron, { type ScheduledTask } from "node-cron";
import type { Logger } from "pino";
import { sql } from "drizzle-orm";
import { DETECTION_DEFAULTS, type DetectionConfig } from "../fraud/detect.ts";
import type { CachedFraudGate } from "../fraud/gate.ts";
import { scanAll } from "../fraud/scan.ts";
import { enforceRetention } from "../privacy/retention.ts";
import { refreshRollups } from "../reports/queries.ts";
import { rows, type Database } from "../store/db.ts";
import { asLeader } from "./leader.ts";

export interface JobsConfig {
  fraudScan: string | false;
  rollups: string | false;
  gateRefresh: string | false;
  consistency: string | false;
  retention: string | false;
  /** How far back the first rollup run rewrites, in hours. */
  rollupLookbackHours: number;
  /** Minutes between two runs of the 24 h rate tests per campaign (the burst phase runs at every tick). */
  fraudRatesEveryMinutes: number;
  detection: DetectionConfig;
}

export const JOBS_DEFAULTS: JobsConfig = {
  fraudScan: "* * * * *",
  rollups: "* * * * *",
  gateRefresh: "* * * * *",
  consistency: "*/15 * * * *",
  retention: "17 * * * *",
  rollupLookbackHours: 48,
  fraudRatesEveryMinutes: 10,
  detection: DETECTION_DEFAULTS,
};

/**
 * Reads ADBANDIT_JOB_FRAUD_SCAN / _ROLLUPS / _GATE_REFRESH (a cron expression, or "off") and
 * ADBANDIT_JOB_FRAUD_RATES_MINUTES (minutes between two runs of the 24 h rate tests per campaign).
 */
export function jobsConfigFromEnv(env: NodeJS.ProcessEnv = process.env): JobsConfig {
  const pick = (name: string, def: string | false): string | false => {
    const v = env[name];
    if (v === undefined || v === "") return def;
    if (v === "off" || v === "false") return false;
    if (!cron.validate(v)) throw new Error(`${name}: not a cron expression: ${v}`);
    return v;
  };
  const ratesRaw = env.ADBANDIT_JOB_FRAUD_RATES_MINUTES;
  const rates = ratesRaw === undefined || ratesRaw === "" ? JOBS_DEFAULTS.fraudRatesEveryMinutes : Number(ratesRaw);
  if (!(rates >= 1 && rates <= 1440))
    throw new Error(`ADBANDIT_JOB_FRAUD_RATES_MINUTES: minutes between 1 and 1440, got ${ratesRaw}`);
  return {
    ...JOBS_DEFAULTS,
    fraudRatesEveryMinutes: rates,
    fraudScan: pick("ADBANDIT_JOB_FRAUD_SCAN", JOBS_DEFAULTS.fraudScan),
    rollups: pick("ADBANDIT_JOB_ROLLUPS", JOBS_DEFAULTS.rollups),
    gateRefresh: pick("ADBANDIT_JOB_GATE_REFRESH", JOBS_DEFAULTS.gateRefresh),
    consistency: pick("ADBANDIT_JOB_CONSISTENCY", JOBS_DEFAULTS.consistency),
    retention: pick("ADBANDIT_JOB_RETENTION", JOBS_DEFAULTS.retention),
  };
}

/** What the jobs reach; getters may throw while the database is unreachable (the tick is then skipped). */
export interface JobDeps {
  readonly database: Database;
  readonly engine?: EngineJobs;
  readonly gate?: CachedFraudGate;
  readonly logger: Logger;
  now?: () => Date;
}

/** What the jobs call on the engine. */
export interface EngineJobs {
  recompute(campaignId: string): Promise<void>;
  checkConsistency?(): Promise<unknown>;
}

export type JobName = "fraud-scan" | "rollups" | "gate-refresh" | "consistency" | "retention";

export interface Jobs {
  /** Runs one job now (as leader, like a scheduled tick); resolves when it is done. */
  run(name: JobName): Promise<void>;
  stop(): Promise<void>;
}

const HOUR = 3_600_000;

export function startJobs(deps: JobDeps, config: JobsConfig = JOBS_DEFAULTS): Jobs {
  const now = deps.now ?? (() => new Date());
  let rollupWatermark: number | null = null;
  const ratesAt = new Map<string, number>();
  const busy = new Map<JobName, Promise<void>>();

  const rewrite = async (database: Database, campaignId: string, from: number, to: number) => {
    await refreshRollups(database.db, campaignId, from, to + 1);
  };

  const bodies: Record<JobName, () => Promise<void>> = {
    "fraud-scan": async () => {
      const database = deps.database;
      await asLeader(database, "fraud-scan", async () => {
        const engine = deps.engine;
        const t = now();
        const results = await scanAll(database.db, t, {
          detection: config.detection,
          recompute: engine ? (id) => engine.recompute(id) : undefined,
          ratesDue: (id) => {
            const last = ratesAt.get(id);
            if (last !== undefined && t.getTime() - last < config.fraudRatesEveryMinutes * 60_000 - 1000) return false;
            ratesAt.set(id, t.getTime());
            return true;
          },
        });
        for (const r of results) {
          if (r.touched) await rewrite(database, r.campaignId, r.touched[0], r.touched[1]);
          if (r.recorded)
            deps.logger.info(
              { campaignId: r.campaignId, findings: r.recorded, invalidated: r.invalidated },
              "fraud scan",
            );
        }
      });
    },
    rollups: async () => {
      const database = deps.database;
      await asLeader(database, "rollups", async () => {
        const t = now().getTime();
        const since = rollupWatermark ?? t - config.rollupLookbackHours * HOUR;
        // A small overlap covers transactions that committed late with an earlier received_at.
        const sinceIso = new Date(since - 2 * 60_000).toISOString();
        const dirty = await rows<{ campaign_id: string; lo: Date | string; hi: Date | string }>(
          database.db,
          sql`select campaign_id, min(t) as lo, max(t) as hi from (
                select campaign_id, occurred_at as t from events where received_at >= ${sinceIso}::timestamptz
                union all
                select campaign_id, created_at as t from decisions where created_at >= ${sinceIso}::timestamptz
              ) x group by campaign_id`,
        );
        for (const d of dirty)
          await rewrite(database, d.campaign_id, new Date(d.lo).getTime(), new Date(d.hi).getTime());
        rollupWatermark = t;
      });
    },
    "gate-refresh": async () => {
      if (deps.gate) await deps.gate.refresh(deps.database.db, now());
    },
    consistency: async () => {
      const engine = deps.engine;
      if (engine?.checkConsistency) await asLeader(deps.database, "consistency", () => engine.checkConsistency!());
    },
    retention: async () => {
      const database = deps.database;
      await asLeader(database, "retention", async () => {
        const r = await enforceRetention(database.db, now());
        if (r.decisions || r.events || r.partitionsMade.length || r.partitionsDropped.length)
          deps.logger.info(r, "retention");
      });
    },
  };

  /** A tick while the same job is still running joins it instead of starting a second run. */
  const run = (name: JobName): Promise<void> => {
    const inflight = busy.get(name);
    if (inflight) return inflight;
    const p = bodies[name]()
      .catch((err) => deps.logger.warn({ err: String(err), job: name }, "job failed"))
      .finally(() => busy.delete(name));
    busy.set(name, p);
    return p;
  };

  const tasks: ScheduledTask[] = [];
  const schedule: [JobName, string | false][] = [
    ["fraud-scan", config.fraudScan],
    ["rollups", config.rollups],
    ["gate-refresh", config.gateRefresh],
    ["consistency", config.consistency],
    ["retention", config.retention],
  ];
  for (const [name, expr] of schedule) {
    if (!expr) continue;
    const task = cron.schedule(expr, () => run(name), { name: `adbandit:${name}`, noOverlap: true });
    task.unref?.();
    tasks.push(task);
  }
  return {
    run,
    async stop() {
      for (const t of tasks) await t.destroy();
      await Promise.all(busy.values());
    },
  };
}

/**
 * The wiring for the entry point (src/server.ts):
 *   const gate = new CachedFraudGate();
 *   const service = await buildService({ ...options, fraudGate: gate });
 *   const jobs = startServiceJobs(service.deps, gate);   // on shutdown: await jobs.stop()
 * The deps' getters are read at each tick, so a database that comes up late is picked up.
 */
export function startServiceJobs(
  deps: {
    readonly database: Database;
    readonly engine: EngineJobs;
    readonly logger: Logger;
  },
  gate?: CachedFraudGate,
  config: JobsConfig = jobsConfigFromEnv(),
): Jobs {
  const jobs = startJobs(
    {
      get database() {
        return deps.database;
      },
      get engine() {
        return deps.engine;
      },
      gate,
      logger: deps.logger,
    },
    config,
  );
  void jobs.run("gate-refresh");
  return jobs;
}
