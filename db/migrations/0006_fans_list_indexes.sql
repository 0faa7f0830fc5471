-- pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;--> statement-breakpoint
DROP INDEX "fans_creator_value_idx";--> statement-breakpoint
CREATE INDEX "fans_name_trgm_idx" ON "fans" USING gin ("name" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "fans_handle_trgm_idx" ON "fans" USING gin ("handle" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "fans_creator_value_idx" ON "fans" USING btree ("creator_id","value_cents" DESC NULLS FIRST,"id");