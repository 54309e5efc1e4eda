ALTER TABLE "anomalies" ADD COLUMN "intervals" jsonb;--> statement-breakpoint
ALTER TABLE "anomalies" ADD COLUMN "evidence_start" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "anomalies" ADD COLUMN "evidence_end" timestamp with time zone;