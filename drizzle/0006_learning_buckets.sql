CREATE TABLE "arm_stat_buckets" (
	"campaign_id" uuid NOT NULL,
	"arm_key" text NOT NULL,
	"bucket_start" timestamp with time zone NOT NULL,
	"n" double precision DEFAULT 0 NOT NULL,
	"sum" double precision DEFAULT 0 NOT NULL,
	"sum_sq" double precision DEFAULT 0 NOT NULL,
	"xx" double precision[],
	"xr" double precision[],
	"converted" double precision DEFAULT 0 NOT NULL,
	"reward_sum" double precision DEFAULT 0 NOT NULL,
	"reward_sum_sq" double precision DEFAULT 0 NOT NULL,
	"reward_xr" double precision[],
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "arm_stat_buckets_campaign_id_arm_key_bucket_start_pk" PRIMARY KEY("campaign_id","arm_key","bucket_start")
);
--> statement-breakpoint
CREATE TABLE "conversion_delays" (
	"campaign_id" uuid NOT NULL,
	"cohort_start" timestamp with time zone NOT NULL,
	"counts" double precision[] NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "conversion_delays_campaign_id_cohort_start_pk" PRIMARY KEY("campaign_id","cohort_start")
);
--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "trial_at" text DEFAULT 'decision' NOT NULL;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "conversion_delay" jsonb;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "decay" jsonb;--> statement-breakpoint
ALTER TABLE "arm_stat_buckets" ADD CONSTRAINT "arm_stat_buckets_campaign_id_campaigns_id_fk" FOREIGN KEY ("campaign_id") REFERENCES "public"."campaigns"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "conversion_delays" ADD CONSTRAINT "conversion_delays_campaign_id_campaigns_id_fk" FOREIGN KEY ("campaign_id") REFERENCES "public"."campaigns"("id") ON DELETE cascade ON UPDATE no action;