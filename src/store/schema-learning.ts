/**
 * Time-bucketed statistics (src/engine/buckets.ts) and observed conversion delays (src/engine/delay.ts),
 * as commutative increments shared by every replica.
 *
 * arm_stat_buckets: per arm, per hour of DECISION (bucket_start), two parts added independently —
 *   the trials part (n, sum, sum_sq, xx, xr: written when a trial counts) and the rewards part
 *   (converted, reward_sum, reward_sum_sq, reward_xr: written by the events of that hour's decisions,
 *   however late they arrive). arm_stats keeps the all-time totals beside them, so buckets whose every
 *   decision is older than the attribution window (and, with a decay, whose weight has vanished) can be
 *   deleted without losing anything: the fold is arm_stats with the recent buckets re-weighted.
 * conversion_delays: per campaign, per cohort hour, the histogram of observed decision→conversion delays
 *   over DELAY_BIN_EDGES (element-wise added).
 */
import { doublePrecision, index, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { campaigns, changeXid } from "./schema.ts";

const updatedAt = () => timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow();

export const armStatBuckets = pgTable(
  "arm_stat_buckets",
  {
    campaignId: uuid("campaign_id")
      .notNull()
      .references(() => campaigns.id, { onDelete: "cascade" }),
    armKey: text("arm_key").notNull(),
    /** Start of the hour of the decisions this row holds. */
    bucketStart: timestamp("bucket_start", { withTimezone: true, mode: "date" }).notNull(),
    n: doublePrecision("n").notNull().default(0),
    sum: doublePrecision("sum").notNull().default(0),
    sumSq: doublePrecision("sum_sq").notNull().default(0),
    xx: doublePrecision("xx").array(),
    xr: doublePrecision("xr").array(),
    /** Decisions of this hour whose reward an event changed. */
    converted: doublePrecision("converted").notNull().default(0),
    rewardSum: doublePrecision("reward_sum").notNull().default(0),
    rewardSumSq: doublePrecision("reward_sum_sq").notNull().default(0),
    rewardXr: doublePrecision("reward_xr").array(),
    updatedAt: updatedAt(),
    changeXid: changeXid(),
  },
  (t) => [
    primaryKey({ columns: [t.campaignId, t.armKey, t.bucketStart] }),
    index("arm_stat_buckets_change_idx").on(t.changeXid),
  ],
);

export const conversionDelays = pgTable(
  "conversion_delays",
  {
    campaignId: uuid("campaign_id")
      .notNull()
      .references(() => campaigns.id, { onDelete: "cascade" }),
    /** Hour of the decisions whose conversions' delays these are. */
    cohortStart: timestamp("cohort_start", { withTimezone: true, mode: "date" }).notNull(),
    counts: doublePrecision("counts").array().notNull(),
    updatedAt: updatedAt(),
    changeXid: changeXid(),
  },
  (t) => [
    primaryKey({ columns: [t.campaignId, t.cohortStart] }),
    index("conversion_delays_change_idx").on(t.changeXid),
  ],
);
