/**
 * Spend counters of budgets and pacing (src/budget/), as commutative increments shared by every replica
 * (like arm_stat_buckets): per campaign, per arm (`''` for requests answered without an arm), per budget
 * day (the workspace's local date) and per UTC hour. Decision costs are added in the same statement as
 * the decision-log batch; event costs, conversions and revenue in the event ingest's transaction.
 *
 * A local day that starts at a half hour (UTC+5:30) splits an hour between two rows: the day column, not
 * the hour, says which daily budget a row counts against.
 */
import { date, doublePrecision, jsonb, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { campaigns } from "./schema.ts";

export const spendCounters = pgTable(
  "spend_counters",
  {
    campaignId: uuid("campaign_id")
      .notNull()
      .references(() => campaigns.id, { onDelete: "cascade" }),
    /** '' for decisions not served. */
    armKey: text("arm_key").notNull(),
    /** The budget day: the workspace's local date. */
    day: date("day", { mode: "string" }).notNull(),
    hourStart: timestamp("hour_start", { withTimezone: true, mode: "date" }).notNull(),
    /** Decision requests (served or not): the traffic curve the pacing plan learns from. */
    requests: doublePrecision("requests").notNull().default(0),
    served: doublePrecision("served").notNull().default(0),
    /** Σ arm cost of the served decisions. */
    decisionCost: doublePrecision("decision_cost").notNull().default(0),
    /** Σ cost of valid events (any type). */
    eventCost: doublePrecision("event_cost").notNull().default(0),
    /** Valid attributed conversion events and their values (the guardrail's CPA and ROAS). */
    conversions: doublePrecision("conversions").notNull().default(0),
    revenue: doublePrecision("revenue").notNull().default(0),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.campaignId, t.armKey, t.day, t.hourStart] })],
);

/**
 * The pacing controller's state per campaign (src/budget/pacing.ts `PacerState`: the dual multiplier,
 * its last step, where today's pacing started), so a restarted or reloaded replica resumes the throttle
 * instead of serving at full rate. Written in the decision-log batch's statement (no round trip of its
 * own), only when the state changed (a step every `intervalSeconds`); the newest step wins.
 */
export const pacerStates = pgTable("pacer_states", {
  campaignId: uuid("campaign_id")
    .primaryKey()
    .references(() => campaigns.id, { onDelete: "cascade" }),
  state: jsonb("state").notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
});
