CREATE TABLE "spend_counters" (
	"campaign_id" uuid NOT NULL,
	"arm_key" text NOT NULL,
	"day" date NOT NULL,
	"hour_start" timestamp with time zone NOT NULL,
	"requests" double precision DEFAULT 0 NOT NULL,
	"served" double precision DEFAULT 0 NOT NULL,
	"decision_cost" double precision DEFAULT 0 NOT NULL,
	"event_cost" double precision DEFAULT 0 NOT NULL,
	"conversions" double precision DEFAULT 0 NOT NULL,
	"revenue" double precision DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "spend_counters_campaign_id_arm_key_day_hour_start_pk" PRIMARY KEY("campaign_id","arm_key","day","hour_start")
);
--> statement-breakpoint
ALTER TABLE "decisions" ALTER COLUMN "arm_key" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "arms" ADD COLUMN "total_budget" double precision;--> statement-breakpoint
ALTER TABLE "arms" ADD COLUMN "daily_budget" double precision;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "currency" text DEFAULT 'USD' NOT NULL;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "total_budget" double precision;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "daily_budget" double precision;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "pacing" jsonb;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "target_cpa" double precision;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "min_roas" double precision;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "guardrail" jsonb;--> statement-breakpoint
ALTER TABLE "decisions" ADD COLUMN "served" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "decisions" ADD COLUMN "reason" text;--> statement-breakpoint
ALTER TABLE "workspaces" ADD COLUMN "timezone" text DEFAULT 'UTC' NOT NULL;--> statement-breakpoint
ALTER TABLE "spend_counters" ADD CONSTRAINT "spend_counters_campaign_id_campaigns_id_fk" FOREIGN KEY ("campaign_id") REFERENCES "public"."campaigns"("id") ON DELETE cascade ON UPDATE no action;