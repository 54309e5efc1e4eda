/**
 * Tables of the fraud and reporting modules: findings of the detectors (anomalies) and the events each
 * one invalidated (so a dismissal restores exactly those), the hand-kept blocklist read by the ingest
 * gate, and hourly rollups per arm that keep reports fast on long histories.
 *
 * Rollup cells hold additive sums (src/reports/roi.ts `Aggregate`): a report from the rollups equals one
 * computed directly from the events. Hours are epoch seconds of the UTC hour start (no session time zone).
 */
import {
  bigint,
  doublePrecision,
  index,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

export type AnomalyStatus = "open" | "confirmed" | "dismissed";

export const anomalies = pgTable(
  "anomalies",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    workspaceId: uuid("workspace_id").notNull(),
    campaignId: uuid("campaign_id").notNull(),
    detector: text("detector").notNull(),
    entityType: text("entity_type").notNull(),
    entity: text("entity").notNull(),
    category: text("category").$type<"GIVT" | "SIVT">().notNull(),
    statistic: doublePrecision("statistic").notNull(),
    threshold: doublePrecision("threshold").notNull(),
    windowStart: timestamp("window_start", { withTimezone: true, mode: "date" }).notNull(),
    windowEnd: timestamp("window_end", { withTimezone: true, mode: "date" }).notNull(),
    /**
     * The anomalous intervals within the window ([[startIso, endIso], …], sorted, disjoint) whose events of
     * the entity it invalidated: a burst's minutes, an outlier's hours. Null: the whole window (or the
     * finding lists its events, see anomaly_events).
     */
    intervals: jsonb("intervals").$type<[string, string][]>(),
    /** The window the test looked at (its evidence); the anomalous window lies inside it. */
    evidenceStart: timestamp("evidence_start", { withTimezone: true, mode: "date" }),
    evidenceEnd: timestamp("evidence_end", { withTimezone: true, mode: "date" }),
    details: jsonb("details").$type<Record<string, unknown>>().notNull(),
    status: text("status").$type<AnomalyStatus>().notNull().default("open"),
    /** Events this finding marked invalid (those it changed; already-invalid ones are not its own). */
    invalidatedEvents: bigint("invalidated_events", { mode: "number" }).notNull().default(0),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    reviewedAt: timestamp("reviewed_at", { withTimezone: true, mode: "date" }),
    reviewNote: text("review_note"),
  },
  (t) => [
    // A re-run of the same window finds the same row: idempotent scans.
    uniqueIndex("anomalies_window_idx").on(
      t.campaignId,
      t.detector,
      t.entityType,
      t.entity,
      t.windowStart,
      t.windowEnd,
    ),
    index("anomalies_workspace_time_idx").on(t.workspaceId, t.windowEnd),
  ],
);

export const anomalyEvents = pgTable(
  "anomaly_events",
  {
    anomalyId: uuid("anomaly_id")
      .notNull()
      .references(() => anomalies.id, { onDelete: "cascade" }),
    workspaceId: uuid("workspace_id").notNull(),
    eventId: text("event_id").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.anomalyId, t.workspaceId, t.eventId] }),
    index("anomaly_events_event_idx").on(t.workspaceId, t.eventId),
  ],
);

export const blocklist = pgTable(
  "blocklist",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    workspaceId: uuid("workspace_id").notNull(),
    entityType: text("entity_type").notNull(),
    entity: text("entity").notNull(),
    reason: text("reason"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [uniqueIndex("blocklist_entity_idx").on(t.workspaceId, t.entityType, t.entity)],
);

export const armHourly = pgTable(
  "arm_hourly",
  {
    campaignId: uuid("campaign_id").notNull(),
    armKey: text("arm_key").notNull(),
    /** Epoch seconds of the UTC hour. */
    hour: bigint("hour", { mode: "number" }).notNull(),
    decisions: doublePrecision("decisions").notNull().default(0),
    impressions: doublePrecision("impressions").notNull().default(0),
    clicks: doublePrecision("clicks").notNull().default(0),
    conversions: doublePrecision("conversions").notNull().default(0),
    revenue: doublePrecision("revenue").notNull().default(0),
    cost: doublePrecision("cost").notNull().default(0),
    units: doublePrecision("units").notNull().default(0),
    sumRevenueSq: doublePrecision("sum_revenue_sq").notNull().default(0),
    sumCostSq: doublePrecision("sum_cost_sq").notNull().default(0),
    sumRevenueCost: doublePrecision("sum_revenue_cost").notNull().default(0),
    sumConversionsSq: doublePrecision("sum_conversions_sq").notNull().default(0),
    sumCostConversions: doublePrecision("sum_cost_conversions").notNull().default(0),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.campaignId, t.armKey, t.hour] })],
);

/** Invalid-traffic credits per hour and reason (the "removed" column of the report), kept with the rollups. */
export const invalidHourly = pgTable(
  "invalid_hourly",
  {
    campaignId: uuid("campaign_id").notNull(),
    reason: text("reason").notNull(),
    hour: bigint("hour", { mode: "number" }).notNull(),
    impressions: doublePrecision("impressions").notNull().default(0),
    clicks: doublePrecision("clicks").notNull().default(0),
    conversions: doublePrecision("conversions").notNull().default(0),
    revenue: doublePrecision("revenue").notNull().default(0),
    cost: doublePrecision("cost").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.campaignId, t.reason, t.hour] })],
);
