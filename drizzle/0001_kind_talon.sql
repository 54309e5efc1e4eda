CREATE TABLE "anomalies" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"campaign_id" uuid NOT NULL,
	"detector" text NOT NULL,
	"entity_type" text NOT NULL,
	"entity" text NOT NULL,
	"category" text NOT NULL,
	"statistic" double precision NOT NULL,
	"threshold" double precision NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"window_end" timestamp with time zone NOT NULL,
	"details" jsonb NOT NULL,
	"status" text DEFAULT 'open' NOT NULL,
	"invalidated_events" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"reviewed_at" timestamp with time zone,
	"review_note" text
);
--> statement-breakpoint
CREATE TABLE "anomaly_events" (
	"anomaly_id" uuid NOT NULL,
	"workspace_id" uuid NOT NULL,
	"event_id" text NOT NULL,
	CONSTRAINT "anomaly_events_anomaly_id_workspace_id_event_id_pk" PRIMARY KEY("anomaly_id","workspace_id","event_id")
);
--> statement-breakpoint
CREATE TABLE "arm_hourly" (
	"campaign_id" uuid NOT NULL,
	"arm_key" text NOT NULL,
	"hour" bigint NOT NULL,
	"decisions" double precision DEFAULT 0 NOT NULL,
	"impressions" double precision DEFAULT 0 NOT NULL,
	"clicks" double precision DEFAULT 0 NOT NULL,
	"conversions" double precision DEFAULT 0 NOT NULL,
	"revenue" double precision DEFAULT 0 NOT NULL,
	"cost" double precision DEFAULT 0 NOT NULL,
	"units" double precision DEFAULT 0 NOT NULL,
	"sum_revenue_sq" double precision DEFAULT 0 NOT NULL,
	"sum_cost_sq" double precision DEFAULT 0 NOT NULL,
	"sum_revenue_cost" double precision DEFAULT 0 NOT NULL,
	"sum_conversions_sq" double precision DEFAULT 0 NOT NULL,
	"sum_cost_conversions" double precision DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "arm_hourly_campaign_id_arm_key_hour_pk" PRIMARY KEY("campaign_id","arm_key","hour")
);
--> statement-breakpoint
CREATE TABLE "blocklist" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"entity_type" text NOT NULL,
	"entity" text NOT NULL,
	"reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "invalid_hourly" (
	"campaign_id" uuid NOT NULL,
	"reason" text NOT NULL,
	"hour" bigint NOT NULL,
	"impressions" double precision DEFAULT 0 NOT NULL,
	"clicks" double precision DEFAULT 0 NOT NULL,
	"conversions" double precision DEFAULT 0 NOT NULL,
	"revenue" double precision DEFAULT 0 NOT NULL,
	"cost" double precision DEFAULT 0 NOT NULL,
	CONSTRAINT "invalid_hourly_campaign_id_reason_hour_pk" PRIMARY KEY("campaign_id","reason","hour")
);
--> statement-breakpoint
ALTER TABLE "anomaly_events" ADD CONSTRAINT "anomaly_events_anomaly_id_anomalies_id_fk" FOREIGN KEY ("anomaly_id") REFERENCES "public"."anomalies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "anomalies_window_idx" ON "anomalies" USING btree ("campaign_id","detector","entity_type","entity","window_start","window_end");--> statement-breakpoint
CREATE INDEX "anomalies_workspace_time_idx" ON "anomalies" USING btree ("workspace_id","window_end");--> statement-breakpoint
CREATE INDEX "anomaly_events_event_idx" ON "anomaly_events" USING btree ("workspace_id","event_id");--> statement-breakpoint
CREATE UNIQUE INDEX "blocklist_entity_idx" ON "blocklist" USING btree ("workspace_id","entity_type","entity");