-- #13 privacy: per-workspace HMAC secret (the column default gives existing workspaces one), privacy
-- settings and retention days, decisions.unit_hash and timezone (of send-time decisions), the erasures audit table, privacy_steps (the one-off
-- pseudonymisation of older rows runs at the next start, src/privacy/backfill.ts); then decisions and
-- events become partitioned by day.
CREATE TABLE "erasures" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"campaign_id" uuid,
	"removed" jsonb NOT NULL,
	"key_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "privacy_steps" (
	"name" text PRIMARY KEY NOT NULL,
	"done_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "decisions" ADD COLUMN "unit_hash" text;--> statement-breakpoint
ALTER TABLE "decisions" ADD COLUMN "timezone" text;--> statement-breakpoint
ALTER TABLE "workspaces" ADD COLUMN "secret" text DEFAULT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '') NOT NULL;--> statement-breakpoint
ALTER TABLE "workspaces" ADD COLUMN "raw_identifiers" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "workspaces" ADD COLUMN "decision_retention_days" integer DEFAULT 90 NOT NULL;--> statement-breakpoint
ALTER TABLE "workspaces" ADD COLUMN "event_retention_days" integer DEFAULT 90 NOT NULL;--> statement-breakpoint
CREATE INDEX "erasures_workspace_time_idx" ON "erasures" USING btree ("workspace_id","created_at");--> statement-breakpoint
CREATE INDEX "decisions_unit_idx" ON "decisions" USING btree ("workspace_id","unit_hash");--> statement-breakpoint
INSERT INTO "privacy_steps" ("name") VALUES ('pseudonymise');--> statement-breakpoint
-- decisions and events become partitioned by day (declarative range partitioning on created_at /
-- occurred_at, UTC days). Each table gets a DEFAULT partition, so an insert outside the partitions made
-- ahead never fails (the retention job moves such rows into their day's partition, src/privacy/partitions.ts).
-- Keys: every unique key includes the partition key and workspace_id (Citus-ready); the snapshot of
-- this migration is what drizzle generated for those keys. Existing rows are moved into partitions of
-- their days; partitions are also made for today and the next 7 days.
ALTER TABLE "decisions" RENAME TO "decisions_unpartitioned";--> statement-breakpoint
ALTER INDEX "decisions_campaign_time_idx" RENAME TO "decisions_unpartitioned_campaign_time_idx";--> statement-breakpoint
ALTER INDEX "decisions_unit_idx" RENAME TO "decisions_unpartitioned_unit_idx";--> statement-breakpoint
ALTER TABLE "decisions_unpartitioned" RENAME CONSTRAINT "decisions_campaign_id_campaigns_id_fk" TO "decisions_unpartitioned_campaign_fk";--> statement-breakpoint
CREATE TABLE "decisions" (LIKE "decisions_unpartitioned" INCLUDING DEFAULTS) PARTITION BY RANGE ("created_at");--> statement-breakpoint
ALTER TABLE "decisions" ADD CONSTRAINT "decisions_id_workspace_id_created_at_pk" PRIMARY KEY("id","workspace_id","created_at");--> statement-breakpoint
ALTER TABLE "decisions" ADD CONSTRAINT "decisions_campaign_id_campaigns_id_fk" FOREIGN KEY ("campaign_id") REFERENCES "public"."campaigns"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "decisions_campaign_time_idx" ON "decisions" USING btree ("campaign_id","created_at");--> statement-breakpoint
CREATE INDEX "decisions_unit_idx" ON "decisions" USING btree ("workspace_id","unit_hash");--> statement-breakpoint
CREATE TABLE "decisions_default" PARTITION OF "decisions" DEFAULT;--> statement-breakpoint
ALTER TABLE "events" RENAME TO "events_unpartitioned";--> statement-breakpoint
ALTER INDEX "events_decision_idx" RENAME TO "events_unpartitioned_decision_idx";--> statement-breakpoint
ALTER INDEX "events_campaign_time_idx" RENAME TO "events_unpartitioned_campaign_time_idx";--> statement-breakpoint
ALTER TABLE "events_unpartitioned" RENAME CONSTRAINT "events_workspace_id_event_id_pk" TO "events_unpartitioned_pk";--> statement-breakpoint
CREATE TABLE "events" (LIKE "events_unpartitioned" INCLUDING DEFAULTS) PARTITION BY RANGE ("occurred_at");--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_workspace_id_event_id_occurred_at_pk" PRIMARY KEY("workspace_id","event_id","occurred_at");--> statement-breakpoint
CREATE INDEX "events_decision_idx" ON "events" USING btree ("decision_id");--> statement-breakpoint
CREATE INDEX "events_campaign_time_idx" ON "events" USING btree ("campaign_id","occurred_at");--> statement-breakpoint
CREATE TABLE "events_default" PARTITION OF "events" DEFAULT;--> statement-breakpoint
DO $$
DECLARE
  d date;
  today date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
  FOR d IN
    SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM decisions_unpartitioned
    UNION SELECT g::date FROM generate_series(today, today + 7, interval '1 day') AS g
  LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF decisions FOR VALUES FROM (%L) TO (%L)',
      'decisions_p' || to_char(d, 'YYYYMMDD'), d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
  END LOOP;
  FOR d IN
    SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM events_unpartitioned
    UNION SELECT g::date FROM generate_series(today, today + 7, interval '1 day') AS g
  LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
      'events_p' || to_char(d, 'YYYYMMDD'), d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
  END LOOP;
END $$;--> statement-breakpoint
INSERT INTO "decisions" SELECT * FROM "decisions_unpartitioned";--> statement-breakpoint
INSERT INTO "events" SELECT * FROM "events_unpartitioned";--> statement-breakpoint
DROP TABLE "decisions_unpartitioned";--> statement-breakpoint
DROP TABLE "events_unpartitioned";
