CREATE TABLE "fans" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"creator_id" uuid NOT NULL,
	"platform" text DEFAULT 'onlyfans' NOT NULL,
	"handle" text NOT NULL,
	"name" text,
	"email" text,
	"avatar_url" text,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"value_cents" bigint DEFAULT 0 NOT NULL,
	"subscription_tier" text,
	"notes" text,
	"last_seen_at" timestamp with time zone,
	"opted_out_at" timestamp with time zone,
	"deleted_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "fans" ADD CONSTRAINT "fans_creator_id_users_id_fk" FOREIGN KEY ("creator_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "fans_creator_platform_handle_key" ON "fans" USING btree ("creator_id","platform","handle") WHERE deleted_at is null;--> statement-breakpoint
CREATE INDEX "fans_creator_value_idx" ON "fans" USING btree ("creator_id","value_cents" DESC NULLS LAST,"id");--> statement-breakpoint
CREATE INDEX "fans_creator_last_seen_idx" ON "fans" USING btree ("creator_id","last_seen_at" DESC NULLS LAST,"id");--> statement-breakpoint
CREATE INDEX "fans_creator_created_idx" ON "fans" USING btree ("creator_id","created_at","id");--> statement-breakpoint
CREATE INDEX "fans_tags_idx" ON "fans" USING gin ("tags");