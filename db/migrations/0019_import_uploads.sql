CREATE TABLE "fan_import_uploads" (
	"import_id" uuid NOT NULL,
	"start_byte" bigint NOT NULL,
	"data" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "fan_import_uploads_import_id_start_byte_pk" PRIMARY KEY("import_id","start_byte")
);
--> statement-breakpoint
ALTER TABLE "fan_imports" ADD COLUMN "started_at" timestamp with time zone;--> statement-breakpoint
-- CSV compresses, but pglz costs more CPU than the bytes it saves on a file read once.
ALTER TABLE "fan_import_uploads" ALTER COLUMN "data" SET STORAGE EXTERNAL;
