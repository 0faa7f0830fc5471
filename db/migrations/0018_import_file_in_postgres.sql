-- Uploads move from the API's disk into Postgres (fan_import_uploads, 0019). An import still
-- waiting on a file on disk cannot be finished by the new workers: it ends failed, visibly.
UPDATE "fan_imports" SET "status" = 'failed', "failure_reason" = 'The import was interrupted by an upgrade; upload the file again.', "completed_at" = now(), "updated_at" = now() WHERE "status" IN ('queued', 'running');--> statement-breakpoint
ALTER TABLE "fan_imports" DROP COLUMN "file_path";
