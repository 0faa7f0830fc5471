CREATE TYPE "public"."creator_status" AS ENUM('onboarding', 'active', 'restricted');--> statement-breakpoint
CREATE TABLE "creator_profiles" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"status" "creator_status" DEFAULT 'onboarding' NOT NULL,
	"stripe_account_id" text,
	"details_submitted" boolean DEFAULT false NOT NULL,
	"charges_enabled" boolean DEFAULT false NOT NULL,
	"payouts_enabled" boolean DEFAULT false NOT NULL,
	"requirements" jsonb DEFAULT '{"currentlyDue":[],"eventuallyDue":[],"disabledReason":null}'::jsonb NOT NULL,
	"deauthorized_at" timestamp with time zone,
	"stripe_synced_at" timestamp with time zone,
	"activated_at" timestamp with time zone,
	"restricted_at" timestamp with time zone,
	"niche" text,
	"subscription_price_cents" integer,
	"declared_fan_count" integer,
	"account_size" text,
	"pricing_tier" text,
	"content_categories" text[],
	"analysed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stripe_events" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"account_id" text,
	"payload" jsonb NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "creator_profiles" ADD CONSTRAINT "creator_profiles_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "creator_profiles_stripe_account_key" ON "creator_profiles" USING btree ("stripe_account_id");--> statement-breakpoint
CREATE INDEX "stripe_events_account_idx" ON "stripe_events" USING btree ("account_id","received_at");