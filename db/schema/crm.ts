// The fan CRM: fans and CSV imports.
import { sql } from 'drizzle-orm';
import {
  bigint,
  customType,
  index,
  integer,
  primaryKey,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

import { users } from './accounts.js';
import { createdAt } from './columns.js';

// `uploading`: the file is still streaming in (the row exists first so that the open-imports cap
// counts uploads in flight); never shown to the creator, who has no id for it yet.
export const importStatus = pgEnum('import_status', ['uploading', 'queued', 'running', 'completed', 'failed']);

export const fans = pgTable(
  'fans',
  {
    // Time-ordered (UUIDv7, migration 0020): a new fan lands at the right edge of the primary key
    // and of the created-order index instead of on a random page of each. Measured on 1,000,000
    // rows into this table's indexes: 19.0 s with random ids, 10.5 s with these.
    id: uuid('id').primaryKey().default(sql`uuid_v7()`),
    creatorId: uuid('creator_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    platform: text('platform').notNull().default('onlyfans'),
    handle: text('handle').notNull(),
    name: text('name'),
    email: text('email'),
    avatarUrl: text('avatar_url'),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    // Lifetime spend; bigint because a whale's lifetime value can pass 2^31 cents.
    valueCents: bigint('value_cents', { mode: 'number' }).notNull().default(0),
    subscriptionTier: text('subscription_tier'),
    notes: text('notes'),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }),
    optedOutAt: timestamp('opted_out_at', { withTimezone: true }),
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // Among live fans only: a deleted fan's handle can be added again.
    uniqueIndex('fans_creator_platform_handle_key').on(t.creatorId, t.platform, t.handle).where(sql`deleted_at is null`),
    // One index per list order (keyset pagination: sort value, then id).
    // DESC NULLS FIRST is Postgres's own DESC: the order `order by value_cents desc` asks for.
    index('fans_creator_value_idx').on(t.creatorId, t.valueCents.desc().nullsFirst(), t.id),
    index('fans_creator_last_seen_idx').on(t.creatorId, t.lastSeenAt.desc().nullsLast(), t.id),
    index('fans_creator_created_idx').on(t.creatorId, t.createdAt, t.id),
    index('fans_tags_idx').using('gin', t.tags),
    // Substring search on name or handle (`ilike '%…%'`) through trigrams instead of a scan.
    index('fans_name_trgm_idx').using('gin', sql`${t.name} gin_trgm_ops`),
    index('fans_handle_trgm_idx').using('gin', sql`${t.handle} gin_trgm_ops`),
  ],
);

/**
 * A CSV import of fans (SPEC §3), run by the `csv-import:<id>` workflow in chunks. The checkpoint
 * (byte offset of the next record, rows done, counts) is committed with each chunk's upserts, so
 * a crash repeats at most the chunk in flight and never counts or writes a row twice.
 */
export const fanImports = pgTable(
  'fan_imports',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    creatorId: uuid('creator_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    status: importStatus('status').notNull().default('queued'),
    fileName: text('file_name'),
    fileBytes: bigint('file_bytes', { mode: 'number' }).notNull(),
    // Column index of each field, from the header (null until the header is read).
    columns: jsonb('columns').$type<Record<string, number | undefined>>(),
    byteOffset: bigint('byte_offset', { mode: 'number' }).notNull().default(0),
    processedRows: integer('processed_rows').notNull().default(0),
    inserted: integer('inserted').notNull().default(0),
    updated: integer('updated').notNull().default(0),
    skipped: integer('skipped').notNull().default(0),
    errorCount: integer('error_count').notNull().default(0),
    failureReason: text('failure_reason'),
    // Consecutive attempts that failed on the data at checkpoint `dataFailuresAt` (a poisoned chunk:
    // workflows/fan-import.ts IMPORT_MAX_ATTEMPTS); outages and killed workers do not count.
    dataFailures: integer('data_failures').notNull().default(0),
    dataFailuresAt: bigint('data_failures_at', { mode: 'number' }),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    // When a worker first took the import: the start of its rows-per-second figure.
    startedAt: timestamp('started_at', { withTimezone: true }),
    completedAt: timestamp('completed_at', { withTimezone: true }),
  },
  (t) => [index('fan_imports_creator_idx').on(t.creatorId, t.createdAt)],
);

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });

/**
 * The uploaded file of an import, in pieces of about a MiB in upload order, so that any worker on
 * any machine reads it (domain/import-uploads.ts). Deleted with the import's last chunk or its
 * failure, with the import row (a refused upload), and by the hourly purge with an upload that was
 * abandoned. `data` is stored uncompressed (migration 0019): CSV compresses, but pglz costs more
 * CPU than the bytes it saves here.
 */
export const fanImportUploads = pgTable(
  'fan_import_uploads',
  {
    importId: uuid('import_id')
      .notNull()
      .references(() => fanImports.id, { onDelete: 'cascade' }),
    // Offset of the piece's first byte in the file.
    startByte: bigint('start_byte', { mode: 'number' }).notNull(),
    data: bytea('data').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.importId, t.startByte] })],
);

/** Rejected rows of an import: row numbers as a spreadsheet shows them (the header is row 1). */
export const fanImportErrors = pgTable(
  'fan_import_errors',
  {
    importId: uuid('import_id')
      .notNull()
      .references(() => fanImports.id, { onDelete: 'cascade' }),
    row: integer('row').notNull(),
    error: text('error').notNull(),
  },
  (t) => [primaryKey({ columns: [t.importId, t.row] })],
);
