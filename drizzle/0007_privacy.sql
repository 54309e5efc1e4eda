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
ALTER TABLE "workspaces" ADD COLUMN "secret" text DEFAULT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '') NOT NULL;--> statement-breakpoint
ALTER TABLE "workspaces" ADD COLUMN "raw_identifiers" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "workspaces" ADD COLUMN "decision_retention_days" integer DEFAULT 90 NOT NULL;--> statement-breakpoint
ALTER TABLE "workspaces" ADD COLUMN "event_retention_days" integer DEFAULT 90 NOT NULL;--> statement-breakpoint
CREATE INDEX "erasures_workspace_time_idx" ON "erasures" USING btree ("workspace_id","created_at");--> statement-breakpoint
CREATE INDEX "decisions_unit_idx" ON "decisions" USING btree ("workspace_id","unit_hash");--> statement-breakpoint
INSERT INTO "privacy_steps" ("name") VALUES ('pseudonymise');
