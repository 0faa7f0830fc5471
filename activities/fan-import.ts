// The CSV import's side effects: read the next chunk of records from the stored file, upsert the
// fans and record the row errors, all committed together with the checkpoint. One activity call
// works through chunks for up to a time budget and heartbeats each committed checkpoint. Safe to
// repeat: a chunk that did not commit is read and written again from the same checkpoint.
import { createReadStream } from 'node:fs';
import { Context, log } from '@temporalio/activity';
import { parse } from 'csv-parse';
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { fanImportErrors, fanImports } from '../db/schema.js';
import { mapHeader, parseFanRecord, type ColumnMap, type ParsedFan } from '../domain/fan-csv.js';

/** Records per chunk: one transaction, one heartbeat. */
export const IMPORT_CHUNK_ROWS = 2_000;
/**
 * How long one activity call keeps taking chunks before it returns to the workflow (then at least
 * one more chunk may start): bounds the call for its startToClose timeout in workflows/fan-import.ts.
 */
export const IMPORT_CALL_BUDGET_MS = 30_000;

/** The committed checkpoint, sent as heartbeat details (visible on the pending activity in the UI). */
export interface ImportCheckpoint {
  byteOffset: number;
  processedRows: number;
}

interface ChunkResult extends ImportCheckpoint {
  done: boolean;
  /** False when another attempt had already moved the checkpoint: this one wrote nothing. */
  advanced: boolean;
}

interface ChunkRead {
  header?: { record: string[]; endByte: number };
  records: { record: string[]; endByte: number }[];
  atEnd: boolean;
}

/** Reads up to `limit` records starting at `offset` (a record boundary), with where each ends. */
async function readChunk(path: string, offset: number, limit: number, withHeader: boolean): Promise<ChunkRead> {
  const parser = createReadStream(path, { start: offset }).pipe(
    parse({ bom: offset === 0, info: true, relax_column_count: true, skip_empty_lines: true, encoding: 'utf8' }),
  );
  const read: ChunkRead = { records: [], atEnd: true };
  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { bytes: number } }>) {
    if (withHeader && !read.header) {
      read.header = { record, endByte: offset + info.bytes };
      continue;
    }
    if (read.records.length >= limit) {
      read.atEnd = false;
      break;
    }
    read.records.push({ record, endByte: offset + info.bytes });
  }
  parser.destroy();
  return read;
}

export function createFanImportActivities({ db, callBudgetMs = IMPORT_CALL_BUDGET_MS }: { db: Db; callBudgetMs?: number }) {
  /** Reads and commits the chunk after the committed checkpoint. */
  async function importChunk(importId: string): Promise<ChunkResult> {
    const imp = await db.query.fanImports.findFirst({ where: eq(fanImports.id, importId) });
    if (!imp || imp.status === 'completed' || imp.status === 'failed') {
      return { done: true, advanced: false, byteOffset: imp?.byteOffset ?? 0, processedRows: imp?.processedRows ?? 0 };
    }

    const chunk = await readChunk(imp.filePath, imp.byteOffset, IMPORT_CHUNK_ROWS, imp.columns === null);
    let columns = imp.columns as ColumnMap | null;
    const records = chunk.records;
    if (chunk.header) {
      const mapped = mapHeader(chunk.header.record);
      if (!mapped.ok) {
        await db
          .update(fanImports)
          .set({ status: 'failed', failureReason: mapped.error, completedAt: sql`now()`, updatedAt: sql`now()` })
          .where(eq(fanImports.id, importId));
        return { done: true, advanced: true, byteOffset: imp.byteOffset, processedRows: 0 };
      }
      columns = mapped.columns;
    }
    if (!columns) throw new Error(`import ${importId} has no column map`);

    // Parse; within a chunk the last occurrence of a handle wins and earlier ones are skipped
    // (one statement cannot upsert the same row twice).
    const firstRow = imp.processedRows + 2;
    const errors: { importId: string; row: number; error: string }[] = [];
    const byHandle = new Map<string, ParsedFan>();
    records.forEach(({ record }, i) => {
      const parsed = parseFanRecord(record, columns!);
      if (parsed.ok) byHandle.set(parsed.fan.handle, parsed.fan);
      else errors.push({ importId, row: firstRow + i, error: parsed.error });
    });
    const endByte = records.at(-1)?.endByte ?? chunk.header?.endByte ?? imp.byteOffset;
    const done = chunk.atEnd;

    const advanced = await db.transaction(async (tx) => {
      // The checkpoint moves only if it is still where this chunk started: a duplicate run of
      // the same chunk (a retry racing a slow first attempt) writes nothing.
      const [claimed] = await tx
        .update(fanImports)
        .set({
          columns,
          status: done ? 'completed' : 'running',
          byteOffset: endByte,
          processedRows: sql`${fanImports.processedRows} + ${records.length}`,
          errorCount: sql`${fanImports.errorCount} + ${errors.length}`,
          updatedAt: sql`now()`,
          completedAt: done ? sql`now()` : null,
        })
        .where(and(eq(fanImports.id, importId), eq(fanImports.byteOffset, imp.byteOffset)))
        .returning({ id: fanImports.id });
      if (!claimed) return false;
      let inserted = 0;
      let updated = 0;
      const rows = [...byHandle.values()];
      if (rows.length > 0) {
        // One statement with the chunk as one JSON parameter: far cheaper to send and plan than
        // thousands of scalar parameters (measured: about 3x the rows per second).
        const chunkJson = JSON.stringify(rows.map((f) => ({ ...f, valueCents: f.valueCents ?? 0 })));
        const result = await tx.execute<{ inserted: boolean }>(sql`
            insert into fans as f (creator_id, platform, handle, name, email, subscription_tier, value_cents, last_seen_at)
            select ${imp.creatorId}::uuid, 'onlyfans', r.handle, r.name, r.email, r."subscriptionTier", r."valueCents", r."lastSeenAt"
              from json_to_recordset(${chunkJson}::json)
                as r(handle text, name text, email text, "subscriptionTier" text, "valueCents" bigint, "lastSeenAt" timestamptz)
            on conflict (creator_id, platform, handle) where deleted_at is null do update set
              -- empty cells keep what the CRM already knows; spend and last seen only grow
              name = coalesce(excluded.name, f.name),
              email = coalesce(excluded.email, f.email),
              subscription_tier = coalesce(excluded.subscription_tier, f.subscription_tier),
              value_cents = greatest(excluded.value_cents, f.value_cents),
              last_seen_at = greatest(excluded.last_seen_at, f.last_seen_at),
              updated_at = now()
            -- nothing new in the row: no write, counted as skipped
            where (excluded.name is not null and excluded.name is distinct from f.name)
               or (excluded.email is not null and excluded.email is distinct from f.email)
               or (excluded.subscription_tier is not null and excluded.subscription_tier is distinct from f.subscription_tier)
               or excluded.value_cents > f.value_cents
               or excluded.last_seen_at > f.last_seen_at or (excluded.last_seen_at is not null and f.last_seen_at is null)
            returning (xmax = 0) as inserted`);
        inserted = result.filter((r) => r.inserted).length;
        updated = result.length - inserted;
      }
      const skipped = records.length - errors.length - inserted - updated;
      if (errors.length) await tx.insert(fanImportErrors).values(errors).onConflictDoNothing();
      await tx
        .update(fanImports)
        .set({
          inserted: sql`${fanImports.inserted} + ${inserted}`,
          updated: sql`${fanImports.updated} + ${updated}`,
          skipped: sql`${fanImports.skipped} + ${skipped}`,
        })
        .where(eq(fanImports.id, importId));
      return true;
    });
    if (done && advanced) log.info('fan import completed', { importId });
    return { done, advanced, byteOffset: endByte, processedRows: imp.processedRows + records.length };
  }

  return {
    /**
     * Imports chunks from the committed checkpoint until the file is consumed (or the import
     * failed), or `callBudgetMs` has passed; `done` tells the workflow to stop calling.
     */
    async importFanCsvChunk({ importId }: { importId: string }): Promise<{ done: boolean; processedRows: number }> {
      const ctx = Context.current();
      // Postgres holds the checkpoint; the last heartbeat only says how far the attempt before got.
      if (ctx.info.attempt > 1)
        log.info('fan import resumed', { importId, attempt: ctx.info.attempt, lastHeartbeat: ctx.info.heartbeatDetails });
      const started = Date.now();
      for (;;) {
        const chunk = await importChunk(importId);
        ctx.heartbeat({ byteOffset: chunk.byteOffset, processedRows: chunk.processedRows } satisfies ImportCheckpoint);
        // A lost race means another attempt is on this import: leave the rest to the workflow's next call.
        if (chunk.done || !chunk.advanced || Date.now() - started >= callBudgetMs) {
          return { done: chunk.done, processedRows: chunk.processedRows };
        }
        // The workflow was cancelled (delivered with a heartbeat): stop between chunks.
        ctx.cancellationSignal.throwIfAborted();
      }
    },
  };
}

export type FanImportActivities = ReturnType<typeof createFanImportActivities>;
