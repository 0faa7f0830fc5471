CREATE TYPE "public"."payout_status" AS ENUM('scheduled', 'held', 'processing', 'paid', 'failed', 'reversed');--> statement-breakpoint
CREATE TABLE "payouts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"creator_id" uuid NOT NULL,
	"statement_id" uuid NOT NULL,
	"month" text NOT NULL,
	"currency" text NOT NULL,
	"amount_cents" bigint NOT NULL,
	"status" "payout_status" DEFAULT 'scheduled' NOT NULL,
	"transfer_id" text,
	"reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "payouts" ADD CONSTRAINT "payouts_statement_id_statements_id_fk" FOREIGN KEY ("statement_id") REFERENCES "public"."statements"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "payouts_statement_key" ON "payouts" USING btree ("statement_id");--> statement-breakpoint
CREATE INDEX "payouts_creator_month_idx" ON "payouts" USING btree ("creator_id","month");