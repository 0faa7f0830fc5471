-- UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then the version and random bits of a v4 id
-- with its version nibble set to 7. PostgreSQL 18 has uuidv7(); the server this runs on may be older.
CREATE OR REPLACE FUNCTION uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
        FROM 1 FOR 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;--> statement-breakpoint
ALTER TABLE "fans" ALTER COLUMN "id" SET DEFAULT uuid_v7();
