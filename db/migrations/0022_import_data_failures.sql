ALTER TABLE "fan_imports" ADD COLUMN "data_failures" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "fan_imports" ADD COLUMN "data_failures_at" bigint;