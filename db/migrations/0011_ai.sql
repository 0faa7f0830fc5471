CREATE TYPE "public"."llm_call_status" AS ENUM('reserved', 'settled', 'released', 'refused');--> statement-breakpoint
CREATE TYPE "public"."suggestion_status" AS ENUM('drafting', 'ready', 'approved', 'rejected', 'expired', 'refused', 'failed');--> statement-breakpoint
CREATE TABLE "ai_budgets" (
	"creator_id" uuid PRIMARY KEY NOT NULL,
	"daily_cap_cents" integer NOT NULL,
	"monthly_cap_cents" integer NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ai_configs" (
	"creator_id" uuid PRIMARY KEY NOT NULL,
	"persona" jsonb NOT NULL,
	"custom_responses" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"auto_reply_enabled" boolean DEFAULT false NOT NULL,
	"auto_reply_max_price_cents" integer DEFAULT 0 NOT NULL,
	"suggest_on_inbound" boolean DEFAULT false NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "llm_calls" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"creator_id" uuid NOT NULL,
	"step_key" text NOT NULL,
	"feature" text NOT NULL,
	"model" text NOT NULL,
	"status" "llm_call_status" NOT NULL,
	"reserved_microcents" bigint DEFAULT 0 NOT NULL,
	"cost_microcents" bigint DEFAULT 0 NOT NULL,
	"prompt_tokens" integer,
	"completion_tokens" integer,
	"requests" integer DEFAULT 0 NOT NULL,
	"result" jsonb,
	"last_error" text,
	"reserved_at" timestamp with time zone DEFAULT now() NOT NULL,
	"settled_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "reply_suggestions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"creator_id" uuid NOT NULL,
	"conversation_id" uuid NOT NULL,
	"fan_id" uuid NOT NULL,
	"status" "suggestion_status" DEFAULT 'drafting' NOT NULL,
	"trigger" text NOT NULL,
	"draft_text" text,
	"sent_text" text,
	"price_cents" integer,
	"cost_microcents" bigint DEFAULT 0 NOT NULL,
	"decided_by" text,
	"decided_at" timestamp with time zone,
	"sent_message_id" uuid,
	"reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "creator_profiles" ADD COLUMN "analysis_source" text;--> statement-breakpoint
ALTER TABLE "ai_budgets" ADD CONSTRAINT "ai_budgets_creator_id_users_id_fk" FOREIGN KEY ("creator_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ai_configs" ADD CONSTRAINT "ai_configs_creator_id_users_id_fk" FOREIGN KEY ("creator_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "llm_calls" ADD CONSTRAINT "llm_calls_creator_id_users_id_fk" FOREIGN KEY ("creator_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reply_suggestions" ADD CONSTRAINT "reply_suggestions_creator_id_users_id_fk" FOREIGN KEY ("creator_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reply_suggestions" ADD CONSTRAINT "reply_suggestions_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reply_suggestions" ADD CONSTRAINT "reply_suggestions_fan_id_fans_id_fk" FOREIGN KEY ("fan_id") REFERENCES "public"."fans"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reply_suggestions" ADD CONSTRAINT "reply_suggestions_sent_message_id_messages_id_fk" FOREIGN KEY ("sent_message_id") REFERENCES "public"."messages"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "llm_calls_creator_step_key" ON "llm_calls" USING btree ("creator_id","step_key");--> statement-breakpoint
CREATE INDEX "llm_calls_creator_reserved_at_idx" ON "llm_calls" USING btree ("creator_id","reserved_at");--> statement-breakpoint
CREATE INDEX "llm_calls_open_idx" ON "llm_calls" USING btree ("reserved_at") WHERE status = 'reserved';--> statement-breakpoint
CREATE INDEX "reply_suggestions_conversation_idx" ON "reply_suggestions" USING btree ("conversation_id","created_at");--> statement-breakpoint
CREATE INDEX "reply_suggestions_open_idx" ON "reply_suggestions" USING btree ("conversation_id") WHERE status in ('drafting', 'ready');