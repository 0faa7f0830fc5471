ALTER TABLE "stripe_events" ADD COLUMN "routed_at" timestamp with time zone;--> statement-breakpoint
-- Events stored before routing was recorded were routed in the same transaction that stored them.
UPDATE "stripe_events" SET "routed_at" = "received_at";--> statement-breakpoint
CREATE INDEX "stripe_events_unrouted_idx" ON "stripe_events" USING btree ("received_at") WHERE routed_at is null;
