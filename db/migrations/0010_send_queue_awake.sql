CREATE TABLE "send_queue_awake" (
	"creator_id" uuid NOT NULL,
	"platform" text NOT NULL,
	"awake_until" timestamp with time zone NOT NULL,
	CONSTRAINT "send_queue_awake_creator_id_platform_pk" PRIMARY KEY("creator_id","platform")
);
--> statement-breakpoint
ALTER TABLE "send_queue_awake" ADD CONSTRAINT "send_queue_awake_creator_id_users_id_fk" FOREIGN KEY ("creator_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;