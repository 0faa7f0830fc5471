CREATE TABLE "statement_journals" (
	"journal_id" uuid PRIMARY KEY NOT NULL,
	"statement_id" uuid NOT NULL
);
--> statement-breakpoint
CREATE TABLE "statements" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"creator_id" uuid NOT NULL,
	"month" text NOT NULL,
	"currency" text NOT NULL,
	"gross_cents" bigint NOT NULL,
	"refunds_cents" bigint NOT NULL,
	"commission_cents" bigint NOT NULL,
	"net_cents" bigint NOT NULL,
	"carried_in_cents" bigint NOT NULL,
	"payable_cents" bigint NOT NULL,
	"carried_out_cents" bigint NOT NULL,
	"content" jsonb NOT NULL,
	"content_hash" text NOT NULL,
	"closed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "statement_journals" ADD CONSTRAINT "statement_journals_journal_id_ledger_journals_id_fk" FOREIGN KEY ("journal_id") REFERENCES "public"."ledger_journals"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "statement_journals" ADD CONSTRAINT "statement_journals_statement_id_statements_id_fk" FOREIGN KEY ("statement_id") REFERENCES "public"."statements"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "statement_journals_statement_idx" ON "statement_journals" USING btree ("statement_id");--> statement-breakpoint
CREATE UNIQUE INDEX "statements_creator_month_currency_key" ON "statements" USING btree ("creator_id","month","currency");--> statement-breakpoint
-- A closed statement is what was paid against: it never changes.
CREATE TRIGGER statements_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON "statements" FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();--> statement-breakpoint
CREATE TRIGGER statement_journals_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON "statement_journals" FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
