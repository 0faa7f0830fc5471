-- Pieces written before their import row existed (0019) have no import to belong to. The lock
-- keeps an API of that version from writing another between this delete and the constraint
-- (such APIs fail their uploads afterwards: drain them before migrating).
LOCK TABLE "fan_import_uploads" IN SHARE ROW EXCLUSIVE MODE;--> statement-breakpoint
DELETE FROM "fan_import_uploads" u WHERE NOT EXISTS (SELECT 1 FROM "fan_imports" i WHERE i."id" = u."import_id");--> statement-breakpoint
ALTER TYPE "public"."import_status" ADD VALUE 'uploading' BEFORE 'queued';--> statement-breakpoint
ALTER TABLE "fan_import_uploads" ADD CONSTRAINT "fan_import_uploads_import_id_fan_imports_id_fk" FOREIGN KEY ("import_id") REFERENCES "public"."fan_imports"("id") ON DELETE cascade ON UPDATE no action;