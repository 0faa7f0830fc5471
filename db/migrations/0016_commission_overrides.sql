CREATE TABLE "commission_overrides" (
	"creator_id" uuid PRIMARY KEY NOT NULL,
	"tiers" jsonb NOT NULL,
	"set_by" uuid NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
