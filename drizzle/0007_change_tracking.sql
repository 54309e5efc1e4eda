ALTER TABLE "arm_stat_buckets" ADD COLUMN "change_xid" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "conversion_delays" ADD COLUMN "change_xid" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "arm_stats" ADD COLUMN "change_xid" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "arms" ADD COLUMN "change_xid" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "change_xid" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "arm_stat_buckets_change_idx" ON "arm_stat_buckets" USING btree ("change_xid");--> statement-breakpoint
CREATE INDEX "conversion_delays_change_idx" ON "conversion_delays" USING btree ("change_xid");--> statement-breakpoint
CREATE INDEX "arm_stats_change_idx" ON "arm_stats" USING btree ("change_xid");--> statement-breakpoint
CREATE INDEX "arms_change_idx" ON "arms" USING btree ("change_xid");--> statement-breakpoint
CREATE INDEX "campaigns_change_idx" ON "campaigns" USING btree ("change_xid");--> statement-breakpoint
-- Every write stamps its row with the writing transaction's id (64-bit, no wraparound): a refresh reads
-- the rows with change_xid >= the xmin of the previous refresh's snapshot (src/store/live-load.ts).
CREATE OR REPLACE FUNCTION "adbandit_mark_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.change_xid := pg_current_xact_id()::text::bigint;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER "arm_stats_change" BEFORE INSERT OR UPDATE ON "arm_stats" FOR EACH ROW EXECUTE FUNCTION "adbandit_mark_change"();--> statement-breakpoint
CREATE TRIGGER "arm_stat_buckets_change" BEFORE INSERT OR UPDATE ON "arm_stat_buckets" FOR EACH ROW EXECUTE FUNCTION "adbandit_mark_change"();--> statement-breakpoint
CREATE TRIGGER "conversion_delays_change" BEFORE INSERT OR UPDATE ON "conversion_delays" FOR EACH ROW EXECUTE FUNCTION "adbandit_mark_change"();--> statement-breakpoint
CREATE TRIGGER "arms_change" BEFORE INSERT OR UPDATE ON "arms" FOR EACH ROW EXECUTE FUNCTION "adbandit_mark_change"();--> statement-breakpoint
CREATE TRIGGER "campaigns_change" BEFORE INSERT OR UPDATE ON "campaigns" FOR EACH ROW EXECUTE FUNCTION "adbandit_mark_change"();
