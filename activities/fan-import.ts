// The CSV import's side effects: read the stored upload from the committed checkpoint, parse and
// check its records chunk by chunk, and commit each chunk's fans and row errors together with the
// checkpoint. One activity call works through chunks for up to a time budget, parsing the next
// chunk while the database writes the one before (the second core), and heartbeats each committed
// checkpoint. Safe to repeat: a chunk that did not commit is read and written again from the same
// checkpoint, and a chunk whose checkpoint another attempt already moved writes nothing.
import { finished } from 'node:stream/promises';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { CsvError, parse } from 'csv-parse';
import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import postgres from 'postgres';
import type { Db, Tx } from '../db/client.js';
import { fanImportErrors, fanImports } from '../db/schema.js';
import { mapHeader, parseFanRecord, type ColumnMap, type ParsedFan } from '../domain/fan-csv.js';
import { deleteUpload, readUpload } from '../domain/import-uploads.js';
import { IMPORT_MAX_ATTEMPTS, IMPORT_POISONED } from '../workflows/fan-import.js';

/** Records per chunk: one transaction, one heartbeat. */
export const IMPORT_CHUNK_ROWS = 10_000;
/** A chunk also ends once its records hold this many characters, so that long records keep memory bounded. */
const IMPORT_CHUNK_CHARS = 8 * 2 ** 20;
/**
 * The longest record read: a longer one ends the import as failed (no fan export has one). Below
 * it, a record with an overlong cell is a row error (domain/fan-csv.ts MAX_CELL_CHARS).
 */
export const MAX_RECORD_CHARS = 2 ** 20;
/**
 * The most cells a record may have: the character limit above counts cell contents only, so a line
 * of a million commas would otherwise become a record of a million empty cells.
 */
export const MAX_RECORD_CELLS = 1_000;

/**
 * How long one activity call keeps taking chunks before it returns to the workflow, which then
 * calls again from the queue: bounds the call for its startToClose timeout in workflows/fan-import.ts
 * and lets other creators' imports take the queue's slots in between.
 */
export const IMPORT_CALL_BUDGET_MS = 10_000;

/** The committed checkpoint, sent as heartbeat details (visible on the pending activity in the UI). */
export interface ImportCheckpoint {
  byteOffset: number;
  processedRows: number;
}

interface Chunk {
  /** The header record, in the first chunk of an import. */
  header?: string[];
  records: string[][];
  /** Byte offset just after the chunk's last record: the checkpoint once it commits. */
  endByte: number;
  atEnd: boolean;
  /** Why the file cannot be read past this chunk (it ends the import as failed). */
  malformed?: string;
}

interface Committed extends ImportCheckpoint {
  done: boolean;
  /** False when another attempt had already moved the checkpoint: this one wrote nothing. */
  advanced: boolean;
}

class TooManyCells extends Error {}

/** Records parsed from one slice of the upload, each with the byte offset just after it; and why parsing stopped, if it did. */
interface ParsedBatch {
  records: { record: string[]; bytes: number }[];
  failure?: CsvError | TooManyCells;
}

/**
 * The upload's records from `offset` (a record boundary), a batch per slice of input. The parser
 * is fed by hand and hands each record over synchronously as it parses it (`on_record`), so that a
 * parse error never loses the records before it: a stream would discard those it still buffered
 * when it errs, and which ones depended on timing. Memory stays bounded: one slice of input and
 * the records parsed from it.
 */
async function* parseRecords(db: Db, imp: { id: string; fileBytes: number }, offset: number): AsyncGenerator<ParsedBatch> {
  let parsed: ParsedBatch['records'] = [];
  let failure: unknown;
  const parser = parse({
    bom: offset === 0,
    encoding: 'utf8',
    // Any of the three line endings, whatever the first record used: a resumed parse (which starts
    // mid-file) splits records exactly as the parse from the start did.
    record_delimiter: ['\r\n', '\n', '\r'],
    relax_column_count: true,
    // A quote inside an unquoted cell (Bob "the builder") is text, as spreadsheets read it.
    relax_quotes: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_CHARS,
    on_record: (record: string[], { bytes }) => {
      if (record.length > MAX_RECORD_CELLS) throw new TooManyCells();
      parsed.push({ record, bytes });
      return null; // taken here; nothing goes through the stream
    },
  });
  // Cells of the record being parsed, from csv-parse's state, which its types do not show (the
  // line-of-commas test in test/activities/fan-import.test.ts fails if that changes). One slice
  // adds at most 64 Ki cells to it, so checking between slices bounds it.
  const cellsInProgress = () => (parser as unknown as { state: { record: unknown[] } }).state.record.length;
  parser.on('error', (err) => {
    failure ??= err;
  });
  parser.resume(); // its readable side stays empty; this lets it end
  // A parse error surfaces as the stream's error event, a tick after the records before it.
  const batch = async (): Promise<ParsedBatch> => {
    await new Promise((resolve) => setImmediate(resolve));
    if (failure === undefined && cellsInProgress() > MAX_RECORD_CELLS) failure = new TooManyCells();
    const records = parsed;
    parsed = [];
    if (failure === undefined) return { records };
    if (failure instanceof CsvError || failure instanceof TooManyCells) return { records, failure };
    throw failure;
  };
  try {
    for await (const slice of readUpload(db, imp.id, offset, imp.fileBytes)) {
      parser.write(slice);
      const next = await batch();
      yield next;
      if (next.failure) return;
    }
    parser.end();
    await finished(parser).catch(() => {}); // its error is `failure`
    yield await batch();
  } finally {
    parser.destroy();
  }
}

/** What a reader is told when the parser gives up on the file at `row`. */
function malformedReason(err: CsvError | TooManyCells, row: number): string {
  const why =
    err instanceof TooManyCells
      ? `more than ${MAX_RECORD_CELLS} cells`
      : err.code === 'CSV_MAX_RECORD_SIZE'
        ? `more than ${MAX_RECORD_CHARS} characters in its cells`
        : err.code === 'CSV_QUOTE_NOT_CLOSED'
          ? 'a quoted cell that is never closed'
          : `not valid CSV (${err.code})`;
  return `Row ${row}: ${why}; the rows before it were imported, none after it`;
}

// SQLSTATE classes of an outage rather than of the data: connection (08), transaction rollback
// such as a deadlock (40), resources (53), operator intervention such as a restart (57), system (58).
const OUTAGE_SQLSTATE = /^(08|40|53|57|58)/;

/** The error at the bottom of a chain of causes (drizzle wraps the driver's error in its own). */
function rootCause(err: unknown): unknown {
  let e = err;
  for (let depth = 0; depth < 10 && e instanceof Error && e.cause !== undefined; depth++) e = e.cause;
  return e;
}

// The driver's and the system's codes for a connection that failed or went away.
const OUTAGE_CODE = /^(CONNECTION_|CONNECT_TIMEOUT$|ECONN|EPIPE$|ETIMEDOUT$|EHOSTUNREACH$|ENETUNREACH$|EAI_AGAIN$)/;

/**
 * An error that would fail again on the same rows: thrown by the code, or refused by Postgres for
 * the data. A lost connection (postgres.js codes like CONNECTION_CLOSED, system codes like
 * ECONNREFUSED or EPIPE) or an outage SQLSTATE is not: an import waits out a database restart
 * however long it takes.
 */
export function failsOnTheData(err: unknown): boolean {
  const root = rootCause(err);
  if (root instanceof postgres.PostgresError) return !OUTAGE_SQLSTATE.test(root.code);
  const code = (root as { code?: unknown } | undefined)?.code;
  return !(typeof code === 'string' && OUTAGE_CODE.test(code));
}

/**
 * A failed attempt as the workflow's history and the logs keep it: the root cause's kind and the
 * start of its message, never drizzle's wrapper (whose message carries the chunk's fans as query
 * parameters), and for Postgres's data errors (classes 22, 23, which quote the value) only the code.
 */
export function attemptFailure(err: unknown, nonRetryable: boolean, context: string): ApplicationFailure {
  const root = rootCause(err);
  const kind = String((root as { code?: unknown } | undefined)?.code ?? (root instanceof Error ? root.name : 'Error'));
  const quotesData = root instanceof postgres.PostgresError && /^2[23]/.test(root.code);
  const detail = quotesData ? '' : `: ${(root instanceof Error ? root.message : String(root)).slice(0, 200)}`;
  return ApplicationFailure.create({ message: `${context}: ${kind}${detail}`, type: nonRetryable ? IMPORT_POISONED : kind, nonRetryable });
}

/** The upload's records from `offset` (a record boundary), in chunks. */
async function* readChunks(
  batches: AsyncIterable<ParsedBatch>,
  offset: number,
  { withHeader, firstRow }: { withHeader: boolean; firstRow: number },
): AsyncGenerator<Chunk> {
  let chunk: Chunk = { records: [], endByte: offset, atEnd: false };
  let chars = 0;
  // The row number of the next record (the header is row 1).
  let row = withHeader ? 1 : firstRow;
  for await (const batch of batches) {
    for (const { record, bytes } of batch.records) {
      chunk.endByte = offset + bytes;
      row++;
      if (withHeader) {
        chunk.header = record;
        withHeader = false;
        continue;
      }
      chunk.records.push(record);
      chars += record.length; // one for each cell, so that many empty cells count too
      for (const cell of record) chars += cell.length;
      if (chunk.records.length >= IMPORT_CHUNK_ROWS || chars >= IMPORT_CHUNK_CHARS) {
        yield chunk;
        chunk = { records: [], endByte: chunk.endByte, atEnd: false };
        chars = 0;
      }
    }
    if (batch.failure) {
      yield { ...chunk, atEnd: true, malformed: malformedReason(batch.failure, row) };
      return;
    }
  }
  // A file of blank lines (or nothing but a byte order mark) has no header to map.
  yield { ...chunk, atEnd: true, ...(withHeader ? { malformed: 'The file has no header row' } : {}) };
}

/** A chunk's records checked: fans to merge and row errors (rows as a spreadsheet numbers them). */
function checkRecords(importId: string, records: string[][], columns: ColumnMap, firstRow: number) {
  const errors: { importId: string; row: number; error: string }[] = [];
  // Within a chunk the last occurrence of a handle wins (one statement cannot upsert a row twice).
  const byHandle = new Map<string, ParsedFan>();
  records.forEach((record, i) => {
    const parsed = parseFanRecord(record, columns);
    if (parsed.ok) byHandle.set(parsed.fan.handle, parsed.fan);
    else errors.push({ importId, row: firstRow + i, error: parsed.error });
  });
  return { fans: [...byHandle.values()], errors };
}

/** Upserts the fans by (creator, platform, handle) with the merge rules; counts inserted and updated. */
async function mergeFans(tx: Tx, creatorId: string, fans: ParsedFan[]): Promise<{ inserted: number; updated: number }> {
  if (fans.length === 0) return { inserted: 0, updated: 0 };
  // One statement with the chunk as one JSON parameter: far cheaper to send and plan than
  // thousands of scalar parameters.
  const chunkJson = JSON.stringify(fans.map((f) => ({ ...f, valueCents: f.valueCents ?? 0 })));
  const [counts] = await tx.execute<{ inserted: number; updated: number }>(sql`
      with merged as (
        insert into fans as f (creator_id, platform, handle, name, email, subscription_tier, value_cents, last_seen_at)
        select ${creatorId}::uuid, 'onlyfans', r.handle, r.name, r.email, r."subscriptionTier", r."valueCents", r."lastSeenAt"
          from json_to_recordset(${chunkJson}::json)
            as r(handle text, name text, email text, "subscriptionTier" text, "valueCents" bigint, "lastSeenAt" timestamptz)
         -- one lock order for every writer of these fans: two imports of one creator cannot deadlock
         order by r.handle
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
        returning (xmax = 0) as inserted)
      select count(*) filter (where inserted)::int as inserted, count(*) filter (where not inserted)::int as updated from merged`);
  return counts ?? { inserted: 0, updated: 0 };
}

export function createFanImportActivities({ db, callBudgetMs = IMPORT_CALL_BUDGET_MS }: { db: Db; callBudgetMs?: number }) {
  /** Ends the import as failed with a reason for its owner; its upload is deleted with it. */
  async function failImport(tx: Db | Tx, importId: string, reason: string) {
    await tx
      .update(fanImports)
      .set({ status: 'failed', failureReason: reason, completedAt: sql`now()`, updatedAt: sql`now()` })
      .where(and(eq(fanImports.id, importId), inArray(fanImports.status, ['queued', 'running'])));
    await deleteUpload(tx, importId);
  }

  /**
   * Commits one chunk if the checkpoint is still `from`: its fans, row errors and counts, and the
   * new checkpoint; the last chunk completes (or, unreadable, fails) the import and deletes the upload.
   */
  async function commitChunk(
    imp: { id: string; creatorId: string },
    chunk: Chunk,
    columns: ColumnMap,
    from: ImportCheckpoint,
  ): Promise<Committed> {
    const checked = checkRecords(imp.id, chunk.records, columns, from.processedRows + 2);
    const after = { byteOffset: chunk.endByte, processedRows: from.processedRows + chunk.records.length };
    const advanced = await db.transaction(async (tx) => {
      // The checkpoint moves only if it is still where this chunk started: a duplicate run of
      // the same chunk (a retry racing a slow first attempt) writes nothing.
      const [claimed] = await tx
        .update(fanImports)
        // The last chunk of a file read to its end takes the checkpoint there (past any trailing blank lines).
        .set({
          columns,
          byteOffset: chunk.atEnd && !chunk.malformed ? sql`${fanImports.fileBytes}` : after.byteOffset,
          processedRows: after.processedRows,
          updatedAt: sql`now()`,
        })
        .where(and(eq(fanImports.id, imp.id), eq(fanImports.byteOffset, from.byteOffset), eq(fanImports.status, 'running')))
        .returning({ id: fanImports.id });
      if (!claimed) return false;
      const { inserted, updated } = await mergeFans(tx, imp.creatorId, checked.fans);
      if (checked.errors.length) await tx.insert(fanImportErrors).values(checked.errors).onConflictDoNothing();
      await tx
        .update(fanImports)
        .set({
          inserted: sql`${fanImports.inserted} + ${inserted}`,
          updated: sql`${fanImports.updated} + ${updated}`,
          skipped: sql`${fanImports.skipped} + ${chunk.records.length - checked.errors.length - inserted - updated}`,
          errorCount: sql`${fanImports.errorCount} + ${checked.errors.length}`,
          ...(chunk.atEnd && !chunk.malformed ? { status: 'completed' as const, completedAt: sql`now()` } : {}),
        })
        .where(eq(fanImports.id, imp.id));
      if (chunk.malformed) await failImport(tx, imp.id, chunk.malformed);
      else if (chunk.atEnd) await deleteUpload(tx, imp.id);
      return true;
    });
    if (chunk.atEnd && advanced) log.info('fan import ended', { importId: imp.id, malformed: chunk.malformed });
    return { ...after, done: chunk.atEnd, advanced };
  }

  /** Counts a failure on the data at the import's checkpoint; the count starts again where the checkpoint has moved. */
  async function countDataFailure(importId: string): Promise<number> {
    const [row] = await db
      .update(fanImports)
      .set({
        dataFailures: sql`case when ${fanImports.dataFailuresAt} = ${fanImports.byteOffset} then ${fanImports.dataFailures} + 1 else 1 end`,
        dataFailuresAt: sql`${fanImports.byteOffset}`,
      })
      .where(eq(fanImports.id, importId))
      .returning({ failures: fanImports.dataFailures });
    return row?.failures ?? 0;
  }

  return {
    /**
     * Imports chunks from the committed checkpoint until the file is consumed (or the import
     * failed), or `callBudgetMs` has passed; `done` tells the workflow to stop calling.
     */
    async importFanCsvChunk({ importId }: { importId: string }): Promise<{ done: boolean; processedRows: number }> {
      const ctx = Context.current();
      const imp = await db.query.fanImports.findFirst({ where: eq(fanImports.id, importId) });
      if (!imp || imp.status === 'completed' || imp.status === 'failed') return { done: true, processedRows: imp?.processedRows ?? 0 };
      // Postgres holds the checkpoint; the last heartbeat only says how far the attempt before got.
      if (ctx.info.attempt > 1)
        log.info('fan import resumed', { importId, attempt: ctx.info.attempt, lastHeartbeat: ctx.info.heartbeatDetails });
      if (imp.status === 'queued')
        await db
          .update(fanImports)
          .set({ status: 'running', startedAt: sql`now()`, updatedAt: sql`now()` })
          .where(and(eq(fanImports.id, importId), eq(fanImports.status, 'queued'), isNull(fanImports.startedAt)));

      const started = Date.now();
      let columns = imp.columns as ColumnMap | null;
      let from: ImportCheckpoint = { byteOffset: imp.byteOffset, processedRows: imp.processedRows };
      let last: Committed = { ...from, done: false, advanced: true };
      let inFlight: Promise<Committed> | undefined;
      // Waits for the chunk being written; false when this call should stop taking chunks.
      const settle = async () => {
        if (!inFlight) return true;
        last = await inFlight;
        inFlight = undefined;
        ctx.heartbeat({ byteOffset: last.byteOffset, processedRows: last.processedRows } satisfies ImportCheckpoint);
        // A lost race means another attempt is on this import: leave the rest to the workflow's next call.
        return !last.done && last.advanced;
      };

      const records = parseRecords(db, imp, imp.byteOffset);
      try {
        for await (const chunk of readChunks(records, imp.byteOffset, { withHeader: columns === null, firstRow: imp.processedRows + 2 })) {
          if (chunk.header) {
            const mapped = mapHeader(chunk.header);
            if (!mapped.ok) {
              await db.transaction((tx) => failImport(tx, importId, mapped.error));
              return { done: true, processedRows: 0 };
            }
            columns = mapped.columns;
          }
          // This chunk was parsed while the one before was written; that one must commit first.
          // A cancelled workflow (delivered with a heartbeat) stops between chunks.
          if (!(await settle()) || ctx.cancellationSignal.aborted) break;
          inFlight = commitChunk(imp, chunk, columns!, from);
          inFlight.catch(() => {}); // awaited by settle(); this only keeps a failure from being "unhandled" meanwhile
          from = { byteOffset: chunk.endByte, processedRows: from.processedRows + chunk.records.length };
          if (chunk.atEnd || Date.now() - started >= callBudgetMs) break;
        }
        await settle();
      } catch (err) {
        const context = `import ${importId} after row ${last.processedRows + 1}`;
        if (!failsOnTheData(err)) throw attemptFailure(err, false, context);
        // The same rows failing on the data again and again: after IMPORT_MAX_ATTEMPTS in a row at
        // one checkpoint, the import fails for its owner (workflows/fan-import.ts).
        const failures = await countDataFailure(importId).catch(() => undefined);
        throw attemptFailure(
          err,
          (failures ?? 0) >= IMPORT_MAX_ATTEMPTS,
          `${context} (failure ${failures ?? '(uncounted)'} at these rows)`,
        );
      } finally {
        await records.return(undefined); // closes the parser and the upload's reader
        await inFlight?.catch(() => {});
      }
      ctx.cancellationSignal.throwIfAborted();
      return { done: last.done, processedRows: last.processedRows };
    },

    /** After the import's activity gave up (workflows/fan-import.ts): the import fails, visibly. */
    async failFanImport({ importId, reason }: { importId: string; reason: string }): Promise<void> {
      await db.transaction((tx) => failImport(tx, importId, reason));
    },
  };
}

export type FanImportActivities = ReturnType<typeof createFanImportActivities>;
