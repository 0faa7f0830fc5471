ALTER TYPE "public"."revenue_kind" ADD VALUE 'tip';--> statement-breakpoint
CREATE TABLE "ledger_entries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"journal_id" uuid NOT NULL,
	"creator_id" uuid NOT NULL,
	"account" text NOT NULL,
	"currency" text NOT NULL,
	"amount_cents" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ledger_journals" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"creator_id" uuid NOT NULL,
	"source" text NOT NULL,
	"kind" text NOT NULL,
	"revenue_type" text,
	"currency" text NOT NULL,
	"fan_id" uuid,
	"occurred_at" timestamp with time zone NOT NULL,
	"posted_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_journal_id_ledger_journals_id_fk" FOREIGN KEY ("journal_id") REFERENCES "public"."ledger_journals"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "ledger_entries_journal_idx" ON "ledger_entries" USING btree ("journal_id");--> statement-breakpoint
CREATE INDEX "ledger_entries_creator_idx" ON "ledger_entries" USING btree ("creator_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_journals_creator_source_key" ON "ledger_journals" USING btree ("creator_id","source");--> statement-breakpoint
CREATE INDEX "ledger_journals_creator_occurred_idx" ON "ledger_journals" USING btree ("creator_id","occurred_at");--> statement-breakpoint
-- Append-only: a posted fact is corrected by a new journal, never by changing an old one.
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;--> statement-breakpoint
CREATE TRIGGER ledger_journals_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON "ledger_journals" FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();--> statement-breakpoint
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON "ledger_entries" FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();--> statement-breakpoint
-- Balanced: at commit, every journal an entry was added to sums to zero, in its own currency only.
CREATE FUNCTION ledger_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  unbalanced numeric;
BEGIN
  SELECT coalesce(sum(e.amount_cents), 0) INTO unbalanced FROM ledger_entries e WHERE e.journal_id = NEW.journal_id;
  IF unbalanced <> 0 THEN
    RAISE EXCEPTION 'ledger journal % does not balance (off by % cents)', NEW.journal_id, unbalanced USING ERRCODE = 'check_violation';
  END IF;
  IF EXISTS (SELECT 1 FROM ledger_entries e JOIN ledger_journals j ON j.id = e.journal_id
             WHERE e.journal_id = NEW.journal_id AND (e.currency <> j.currency OR e.creator_id <> j.creator_id)) THEN
    RAISE EXCEPTION 'ledger journal % mixes currencies or creators', NEW.journal_id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON "ledger_entries" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_journal_balanced();
