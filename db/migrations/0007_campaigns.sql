CREATE TYPE "public"."campaign_status" AS ENUM('scheduled', 'running', 'paused', 'completed', 'cancelled');--> statement-breakpoint
CREATE TABLE "campaign_recipients" (
	"campaign_id" uuid NOT NULL,
	"run" integer NOT NULL,
	"fan_id" uuid NOT NULL,
	"message_id" uuid,
	"skip_reason" text,
	CONSTRAINT "campaign_recipients_campaign_id_run_fan_id_pk" PRIMARY KEY("campaign_id","run","fan_id")
);
--> statement-breakpoint
CREATE TABLE "campaigns" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"creator_id" uuid NOT NULL,
	"name" text NOT NULL,
	"content" text NOT NULL,
	"media_urls" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"price_cents" integer,
	"audience" jsonb NOT NULL,
	"status" "campaign_status" NOT NULL,
	"send_at" timestamp with time zone,
	"runs" integer DEFAULT 0 NOT NULL,
	"schedule" jsonb,
	"last_firing" text,
	"last_fired_local" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
DROP INDEX "messages_creator_status_idx";--> statement-breakpoint
ALTER TABLE "campaign_recipients" ADD CONSTRAINT "campaign_recipients_campaign_id_campaigns_id_fk" FOREIGN KEY ("campaign_id") REFERENCES "public"."campaigns"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "campaign_recipients" ADD CONSTRAINT "campaign_recipients_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_creator_id_users_id_fk" FOREIGN KEY ("creator_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "campaign_recipients_message_idx" ON "campaign_recipients" USING btree ("message_id") WHERE message_id is not null;--> statement-breakpoint
CREATE INDEX "campaign_recipients_pending_idx" ON "campaign_recipients" USING btree ("campaign_id","run","fan_id") WHERE message_id is null and skip_reason is null;--> statement-breakpoint
CREATE INDEX "campaigns_creator_created_idx" ON "campaigns" USING btree ("creator_id","created_at" DESC NULLS FIRST,"id");--> statement-breakpoint
ALTER TABLE "messages" ADD CONSTRAINT "messages_campaign_id_campaigns_id_fk" FOREIGN KEY ("campaign_id") REFERENCES "public"."campaigns"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "messages_outbox_due_idx" ON "messages" USING btree ("creator_id","platform","available_at") WHERE status in ('queued', 'failed');--> statement-breakpoint
CREATE INDEX "messages_creator_queued_idx" ON "messages" USING btree ("creator_id","queued_at") WHERE queued_at is not null;--> statement-breakpoint
CREATE INDEX "messages_campaign_idx" ON "messages" USING btree ("campaign_id","status") WHERE campaign_id is not null;--> statement-breakpoint
CREATE INDEX "revenue_events_message_idx" ON "revenue_events" USING btree ("message_id") WHERE message_id is not null;--> statement-breakpoint
CREATE INDEX "messages_creator_status_idx" ON "messages" USING btree ("creator_id","status","created_at" DESC NULLS FIRST,"id");