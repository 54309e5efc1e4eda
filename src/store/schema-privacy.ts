/**
 * The privacy module's audit trail (src/privacy/): one row per erasure of a unit or deletion of a
 * campaign, with what was removed — never the unit id nor its hash (the row must not re-identify
 * the person it erased).
 */
import { jsonb, pgTable, text, timestamp, uuid, index } from "drizzle-orm/pg-core";

export type ErasureKind = "unit" | "campaign";

export const erasures = pgTable(
  "erasures",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    workspaceId: uuid("workspace_id").notNull(),
    kind: text("kind").$type<ErasureKind>().notNull(),
    /** The deleted campaign (kind campaign); null for a unit. */
    campaignId: uuid("campaign_id"),
    /** Rows removed per table, e.g. {decisions: 3, events: 7, anomalyEvents: 1}. */
    removed: jsonb("removed").$type<Record<string, number>>().notNull(),
    /** The API key that asked for it. */
    keyId: uuid("key_id"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [index("erasures_workspace_time_idx").on(t.workspaceId, t.createdAt)],
);

/**
 * One row per one-off data step of the privacy module (e.g. "pseudonymise": hashing the raw ids stored
 * before it existed), so a start checks a tiny table rather than scanning the decision log.
 */
export const privacySteps = pgTable("privacy_steps", {
  name: text("name").primaryKey(),
  doneAt: timestamp("done_at", { withTimezone: true, mode: "date" }),
});
