/**
 * Core tables of the decision service (drizzle, pg-core). Other modules add their own tables in
 * `schema-*.ts` next to this file; drizzle.config.ts takes the glob `./src/store/schema*.ts`.
 *
 * arm_stats holds the sufficient statistics of each arm (`ArmStats` in strategies/types.ts) as
 * commutative sums, so several service processes add their increments without losing updates
 * (`n = arm_stats.n + excluded.n`, arrays added element-wise in SQL).
 */
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

const createdAt = () => timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow();

/**
 * The id of the last transaction that wrote the row (`pg_current_xact_id()`, set by the trigger
 * `adbandit_mark_change`, migration 0007), indexed: a refresh reads what changed since the previous one's
 * snapshot (id >= its xmax or in progress then, src/store/live-load.ts) — exact whatever the commit order, and an
 * index probe that finds nothing when nothing changed. Costs HOT updates of these rows (the index).
 */
export const changeXid = () => bigint("change_xid", { mode: "number" }).notNull().default(0);

export const workspaces = pgTable("workspaces", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: text("name").notNull(),
  /**
   * The HMAC key of the workspace's pseudonyms (src/privacy/pseudonym.ts): 64 hex characters, generated
   * at creation (the column default gives older workspaces one in the migration: two gen_random_uuid,
   * 244 random bits). Never returned by the API.
   */
  secret: text("secret").notNull().default(sql`replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')`),
  /** Store raw unit ids, IPs and user agents instead of pseudonyms (off by default). */
  rawIdentifiers: boolean("raw_identifiers").notNull().default(false),
  /** Decisions and events older than this are deleted by the retention job (rollups are kept). */
  decisionRetentionDays: integer("decision_retention_days").notNull().default(90),
  eventRetentionDays: integer("event_retention_days").notNull().default(90),
  /** IANA time zone of the workspace: where a campaign's budget day starts and ends (src/budget/day.ts). */
  timezone: text("timezone").notNull().default("UTC"),
  createdAt: createdAt(),
});

export type KeyRole = "reader" | "writer" | "admin";

export const apiKeys = pgTable(
  "api_keys",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    /** sha-256 of the whole key, hex: the key itself is shown once and never stored. */
    hash: text("hash").notNull(),
    /** First characters of the key, to recognise it in listings and logs. */
    prefix: text("prefix").notNull(),
    /** reader (GET only), writer (decisions and events, plus GET), admin (everything in the workspace). */
    role: text("role").$type<KeyRole>().notNull().default("admin"),
    name: text("name"),
    createdAt: createdAt(),
    revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [uniqueIndex("api_keys_hash_idx").on(t.hash)],
);

export type CampaignKind = "creative" | "send_time" | "channel";
export type Objective = "conversions" | "revenue" | "profit";
export type CampaignStatus = "active" | "paused" | "archived";
export type ArmRowStatus = "active" | "paused" | "archived";
/** Same shape as strategies/features.ts `FeatureSpec`. */
export interface ContextFeatureSpec {
  name: string;
  type: "numeric" | "categorical";
  values?: string[];
  buckets?: number;
}

/** When a decision counts as a trial: when made, or at its first impression (a creative never shown is no trial). */
export type TrialAt = "decision" | "impression";
/** The delay model's prior (src/engine/delay.ts); learned from observed delays unless `learn` is false. */
export interface ConversionDelaySpec {
  medianHours?: number;
  p95Hours?: number;
  learn?: boolean;
}
/** Decay for drift (src/engine/decay.ts): exponential forgetting, or a sliding window of hours. */
export type DecaySpec = { halfLifeHours: number } | { windowHours: number };
/** How the daily budget is spread over the day (src/budget/pacing.ts). */
export interface PacingSpec {
  mode: "none" | "even" | "traffic";
  /** traffic: how many past days of hourly requests shape the plan. */
  days?: number;
  /** The dual step size of the throttle controller. */
  step?: number;
  /** Seconds between two controller updates. */
  intervalSeconds?: number;
  /** Lowest serving probability the controller may set. */
  minThrottle?: number;
}
/** ROI guardrail settings (src/budget/guardrail.ts). */
export interface GuardrailSpec {
  /** Posterior probability of missing the target above which an arm gets only exploration traffic. */
  confidence?: number;
  /** Share of traffic all demoted arms together keep (spread evenly). */
  explorationShare?: number;
  /** Spend an arm must have before it can be demoted, in multiples of the target CPA (or of 1/minRoas revenue). */
  minSpendMultiple?: number;
}

export const campaigns = pgTable(
  "campaigns",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    kind: text("kind").$type<CampaignKind>().notNull(),
    objective: text("objective").$type<Objective>().notNull(),
    /** `{type, ...params}` as given by the client (params validated by the strategy). */
    strategy: jsonb("strategy").$type<{ type: string } & Record<string, unknown>>().notNull(),
    status: text("status").$type<CampaignStatus>().notNull().default("active"),
    attributionWindowHours: doublePrecision("attribution_window_hours").notNull().default(168),
    explorationFloor: doublePrecision("exploration_floor").notNull().default(0),
    contextFeatures: jsonb("context_features").$type<ContextFeatureSpec[]>().notNull().default(sql`'[]'::jsonb`),
    trialAt: text("trial_at").$type<TrialAt>().notNull().default("decision"),
    /** null: the default prior from the attribution window, learned. */
    conversionDelay: jsonb("conversion_delay").$type<ConversionDelaySpec>(),
    /** null: no decay. */
    decay: jsonb("decay").$type<DecaySpec>(),
    /** ISO 4217 code of every amount of the campaign (budgets, costs, values). */
    currency: text("currency").notNull().default("USD"),
    /** Budgets in the campaign's currency; null: no limit. The day is the workspace's (timezone). */
    totalBudget: doublePrecision("total_budget"),
    dailyBudget: doublePrecision("daily_budget"),
    /** null: no pacing (spend as traffic comes until the daily budget is gone). */
    pacing: jsonb("pacing").$type<PacingSpec>(),
    /** ROI guardrails: a target cost per conversion and/or a minimum return on ad spend. */
    targetCpa: doublePrecision("target_cpa"),
    minRoas: doublePrecision("min_roas"),
    guardrail: jsonb("guardrail").$type<GuardrailSpec>(),
    /** Bumped by every change of configuration or arms; logged with each decision as its strategy version. */
    version: integer("version").notNull().default(1),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    changeXid: changeXid(),
  },
  (t) => [index("campaigns_workspace_idx").on(t.workspaceId), index("campaigns_change_idx").on(t.changeXid)],
);

export const arms = pgTable(
  "arms",
  {
    campaignId: uuid("campaign_id")
      .notNull()
      .references(() => campaigns.id, { onDelete: "cascade" }),
    key: text("key").notNull(),
    name: text("name"),
    cost: doublePrecision("cost").notNull().default(0),
    /** Optional per-arm spend caps (campaign currency); null: only the campaign's budgets apply. */
    totalBudget: doublePrecision("total_budget"),
    dailyBudget: doublePrecision("daily_budget"),
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    status: text("status").$type<ArmRowStatus>().notNull().default("active"),
    /** Index in the strategy state: stable, so a key is never reused and slots never move. */
    position: integer("position").notNull(),
    createdAt: createdAt(),
    changeXid: changeXid(),
  },
  (t) => [primaryKey({ columns: [t.campaignId, t.key] }), index("arms_change_idx").on(t.changeXid)],
);

export const armStats = pgTable(
  "arm_stats",
  {
    campaignId: uuid("campaign_id")
      .notNull()
      .references(() => campaigns.id, { onDelete: "cascade" }),
    armKey: text("arm_key").notNull(),
    n: doublePrecision("n").notNull().default(0),
    sum: doublePrecision("sum").notNull().default(0),
    sumSq: doublePrecision("sum_sq").notNull().default(0),
    xx: doublePrecision("xx").array(),
    xr: doublePrecision("xr").array(),
    /** Set by every increment (transaction start time), so a refresh reads only rows that moved. */
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    changeXid: changeXid(),
  },
  // The change index rules out HOT updates of these hot rows; it is what lets a refresh cost what changed.
  (t) => [primaryKey({ columns: [t.campaignId, t.armKey] }), index("arm_stats_change_idx").on(t.changeXid)],
);

/**
 * decisions and events are partitioned by day (PostgreSQL declarative range partitioning on
 * created_at / occurred_at, migration 0009_privacy_partitions; partitions made ahead and dropped at retention by the
 * retention job, src/privacy/partitions.ts — drizzle does not express partitioning, so it lives in the
 * migration's SQL while the columns and keys here stay what the tables have). Every unique key holds
 * the partition key and workspace_id (so the tables can be distributed by workspace with Citus).
 */
export const decisions = pgTable(
  "decisions",
  {
    id: uuid("id").notNull(),
    workspaceId: uuid("workspace_id").notNull(),
    campaignId: uuid("campaign_id")
      .notNull()
      .references(() => campaigns.id, { onDelete: "cascade" }),
    /** null for a decision not served (budget exhausted, paced): the request was logged, no arm shown. */
    armKey: text("arm_key"),
    /** P(this outcome): the strategy's pmf × the pacing throttle, or 1 − throttle when not served. */
    propensity: doublePrecision("propensity").notNull(),
    /** false: answered without an arm (`reason` says why); such a decision is no trial and takes no events. */
    served: boolean("served").notNull().default(true),
    /** Why a decision was not served: budget_exhausted, paced, roi_guardrail. */
    reason: text("reason"),
    context: jsonb("context").$type<Record<string, unknown>>(),
    /** The caller's unit id, raw: only when the workspace stores raw identifiers (else null). */
    unitId: text("unit_id"),
    /** HMAC-SHA-256 of the unit id under the workspace's secret (src/privacy): what erasure finds. */
    unitHash: text("unit_hash"),
    /** The recipient's IANA time zone a send-time decision was made for (evaluations can use it); else null. */
    timezone: text("timezone"),
    /** Position of the request in a batch, when the decision came from /v1/decisions/batch. */
    position: integer("position"),
    strategyVersion: integer("strategy_version").notNull(),
    createdAt: createdAt(),
    /** Running reward of this decision per the campaign objective (attributed, valid events only). */
    reward: doublePrecision("reward").notNull().default(0),
    converted: boolean("converted").notNull().default(false),
  },
  (t) => [
    // id first: events and updates find their decision by id (in each partition's index).
    primaryKey({ columns: [t.id, t.workspaceId, t.createdAt] }),
    index("decisions_campaign_time_idx").on(t.campaignId, t.createdAt),
    index("decisions_unit_idx").on(t.workspaceId, t.unitHash),
  ],
);

export type EventType = "impression" | "click" | "conversion";

export const events = pgTable(
  "events",
  {
    workspaceId: uuid("workspace_id").notNull(),
    /** The sender's idempotency key. */
    eventId: text("event_id").notNull(),
    decisionId: uuid("decision_id").notNull(),
    campaignId: uuid("campaign_id").notNull(),
    armKey: text("arm_key").notNull(),
    type: text("type").$type<EventType>().notNull(),
    value: doublePrecision("value").notNull().default(0),
    cost: doublePrecision("cost").notNull().default(0),
    occurredAt: timestamp("occurred_at", { withTimezone: true, mode: "date" }).notNull(),
    receivedAt: timestamp("received_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    sourceIp: text("source_ip"),
    sourceUserAgent: text("source_user_agent"),
    sourcePublisher: text("source_publisher"),
    sourcePlacement: text("source_placement"),
    /** Inside the campaign's attribution window. */
    attributed: boolean("attributed").notNull(),
    /** Set by the fraud gate (or later by a scan): the event teaches nothing and counts in no ROI. */
    invalidReason: text("invalid_reason"),
  },
  (t) => [
    // occurred_at is the partition key; an id stored in another partition is found by insertEvents' NOT EXISTS.
    primaryKey({ columns: [t.workspaceId, t.eventId, t.occurredAt] }),
    index("events_decision_idx").on(t.decisionId),
    index("events_campaign_time_idx").on(t.campaignId, t.occurredAt),
  ],
);
