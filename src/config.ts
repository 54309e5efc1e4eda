/**
 * Configuration from the environment, validated once at start (zod) with one clear line per wrong
 * value. ADBANDIT_ADMIN_KEY may be left unset outside production: a random one is generated and
 * logged once (warn), so `npm start` works on a fresh clone.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const Env = z.object({
  PORT: z.coerce
    .number({ message: "must be a number" })
    .int("must be an integer")
    .min(1, "must be 1–65535")
    .max(65535, "must be 1–65535")
    .default(3000),
  HOST: z.string().min(1).default("0.0.0.0"),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\/\S+$/, "must be a postgres:// or postgresql:// URL")
    .optional(),
  ADBANDIT_DATA_DIR: z.string().min(1, "must not be empty").default("./data"),
  ADBANDIT_ADMIN_KEY: z.string().min(16, "must be at least 16 characters").optional(),
  ADBANDIT_REFRESH_MS: z.coerce
    .number({ message: "must be a number" })
    .int()
    .min(100, "must be at least 100 (ms)")
    .default(2000),
  ADBANDIT_MAX_LIVE_CAMPAIGNS: z.coerce
    .number({ message: "must be a number" })
    .int("must be an integer")
    .min(0, "must be 0 (unbounded) or more")
    .default(10_000),
  ADBANDIT_PRELOAD_CAMPAIGNS: z.coerce
    .number({ message: "must be a number" })
    .int("must be an integer")
    .min(0, "must be 0 or more")
    .optional(),
  ADBANDIT_CAMPAIGN_IDLE_MINUTES: z.coerce
    .number({ message: "must be a number" })
    .min(0, "must be 0 (never) or more")
    .default(0),
  ADBANDIT_POOL_SIZE: z.coerce.number({ message: "must be a number" }).int().min(1).max(200).default(10),
  ADBANDIT_COMMIT_INFLIGHT: z.coerce.number({ message: "must be a number" }).int().min(1).max(16).default(2),
  ADBANDIT_COMMIT_PARALLEL_BATCH: z.coerce
    .number({ message: "must be a number" })
    .int()
    .min(1)
    .max(100_000)
    .default(16),
  ADBANDIT_BODY_BUDGET_MB: z.coerce.number({ message: "must be a number" }).int().min(4).max(4096).default(32),
  ADBANDIT_RATE_LIMIT: z
    .union([z.literal("off"), z.coerce.number({ message: 'must be a number or "off"' }).positive().max(1e6)])
    .default(10_000),
  ADBANDIT_RATE_BURST: z.coerce.number({ message: "must be a number" }).int().min(1).max(1e7).optional(),
  ADBANDIT_MAX_CONNECTIONS: z.coerce.number({ message: "must be a number" }).int().min(1).max(1e6).default(1024),
  ADBANDIT_HEADERS_TIMEOUT_MS: z.coerce.number({ message: "must be a number" }).int().min(1000).default(10_000),
  ADBANDIT_REQUEST_TIMEOUT_MS: z.coerce.number({ message: "must be a number" }).int().min(1000).default(30_000),
  ADBANDIT_KEEPALIVE_TIMEOUT_MS: z.coerce.number({ message: "must be a number" }).int().min(100).default(5_000),
  LOG_LEVEL: z.enum(LEVELS, { message: `must be one of ${LEVELS.join(", ")}` }).default("info"),
  NODE_ENV: z.string().optional(),
});

export interface Config {
  port: number;
  host: string;
  databaseUrl?: string;
  dataDir: string;
  adminKey: string;
  adminKeyGenerated: boolean;
  refreshIntervalMs: number;
  /** Campaigns kept in memory at most (0: unbounded), and loaded at start-up (default: the same). */
  maxLiveCampaigns: number;
  preloadCampaigns?: number;
  /** A campaign unused this long (ms) leaves memory; 0: only the budget evicts. */
  campaignIdleMs: number;
  poolSize: number;
  /** Group commits in flight at once, and the queue length from which a second one starts. */
  maxInflight: number;
  minParallelBatch: number;
  logLevel: string;
  /** Bytes of request bodies read or handled at once. */
  bodyBudgetBytes: number;
  /** Per-workspace token bucket, or null when ADBANDIT_RATE_LIMIT=off. */
  rateLimit: { perSecond: number; burst: number } | null;
  /** Node HTTP server limits. */
  server: { maxConnections: number; headersTimeoutMs: number; requestTimeoutMs: number; keepAliveTimeoutMs: number };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, as in most shells' `VAR= cmd`.
  const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const r = Env.safeParse(clean);
  if (!r.success)
    throw new ConfigError(
      r.error.issues.map(
        (i) =>
          `${i.path.join(".")}: ${i.message}${i.path[0] && clean[String(i.path[0])] !== undefined ? ` (got "${clean[String(i.path[0])]}")` : ""}`,
      ),
    );
  const e = r.data;
  if (!e.ADBANDIT_ADMIN_KEY && e.NODE_ENV === "production")
    throw new ConfigError(["ADBANDIT_ADMIN_KEY: required when NODE_ENV=production"]);
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.ADBANDIT_DATA_DIR,
    adminKey: e.ADBANDIT_ADMIN_KEY ?? `adm_${randomBytes(24).toString("base64url")}`,
    adminKeyGenerated: !e.ADBANDIT_ADMIN_KEY,
    refreshIntervalMs: e.ADBANDIT_REFRESH_MS,
    maxLiveCampaigns: e.ADBANDIT_MAX_LIVE_CAMPAIGNS,
    preloadCampaigns: e.ADBANDIT_PRELOAD_CAMPAIGNS,
    campaignIdleMs: e.ADBANDIT_CAMPAIGN_IDLE_MINUTES * 60_000,
    poolSize: e.ADBANDIT_POOL_SIZE,
    maxInflight: e.ADBANDIT_COMMIT_INFLIGHT,
    minParallelBatch: e.ADBANDIT_COMMIT_PARALLEL_BATCH,
    logLevel: e.LOG_LEVEL,
    bodyBudgetBytes: e.ADBANDIT_BODY_BUDGET_MB * 1024 * 1024,
    rateLimit:
      e.ADBANDIT_RATE_LIMIT === "off"
        ? null
        : { perSecond: e.ADBANDIT_RATE_LIMIT, burst: e.ADBANDIT_RATE_BURST ?? Math.ceil(2 * e.ADBANDIT_RATE_LIMIT) },
    server: {
      maxConnections: e.ADBANDIT_MAX_CONNECTIONS,
      headersTimeoutMs: e.ADBANDIT_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.ADBANDIT_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: e.ADBANDIT_KEEPALIVE_TIMEOUT_MS,
    },
  };
}
