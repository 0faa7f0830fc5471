DROP INDEX "llm_calls_open_idx";--> statement-breakpoint
ALTER TABLE "llm_calls" ADD COLUMN "leased_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
CREATE INDEX "llm_calls_open_idx" ON "llm_calls" USING btree ("leased_at") WHERE status = 'reserved';