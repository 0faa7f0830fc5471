// The import activity against the real database: chunks resume from the committed checkpoint, each
// committed chunk is heartbeated with its checkpoint, a chunk run twice at once (a retry racing a
// slow first attempt) writes its rows only once, and the stored upload is read across its pieces
// and deleted when the import ends.
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { and, count, eq, sql } from 'drizzle-orm';
import { createDb } from '../../db/client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import {
  attemptFailure,
  createFanImportActivities,
  failsOnTheData,
  IMPORT_CHUNK_ROWS,
  MAX_RECORD_CELLS,
  MAX_RECORD_CHARS,
} from '../../activities/fan-import.js';
import { IMPORT_MAX_ATTEMPTS, IMPORT_POISONED } from '../../workflows/fan-import.js';
import { fanImportErrors, fanImports, fanImportUploads, fans } from '../../db/schema.js';
import { register, startHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workers: false });
});
afterAll(() => h?.close());

/** An import of `content`, stored in pieces of `pieceBytes` (small ones cut records and characters apart). */
async function storedImport(content: string, pieceBytes = 64 * 1024) {
  const { userId } = await register(h);
  const bytes = Buffer.from(content);
  const importId = randomUUID();
  await h.db.insert(fanImports).values({ id: importId, creatorId: userId, fileBytes: bytes.length });
  for (let at = 0; at < bytes.length; at += pieceBytes)
    await h.db.insert(fanImportUploads).values({ importId, startByte: at, data: bytes.subarray(at, at + pieceBytes) });
  return { importId, userId };
}

function newImport(rows: number) {
  const lines = ['Username,Display Name,Total Spent'];
  for (let i = 0; i < rows; i++) lines.push(`fan_${i},"Fan, number ${i}","$${i}.50"`);
  return storedImport(`${lines.join('\r\n')}\r\n`);
}

const uploadLeft = async (importId: string) =>
  (await h.db.select({ n: count() }).from(fanImportUploads).where(eq(fanImportUploads.importId, importId)))[0]!.n;

/** One attempt of the activity that takes one chunk per call, in a context of its own. */
const attempt = (importId: string, env = new MockActivityEnvironment({ attempt: 1 })) =>
  env.run(createFanImportActivities({ db: h.db, callBudgetMs: 0 }).importFanCsvChunk, { importId }) as Promise<{
    done: boolean;
    processedRows: number;
  }>;

describe('fan import activity', () => {
  it('works through a multi-chunk file, each chunk from the last checkpoint', async () => {
    const rows = IMPORT_CHUNK_ROWS * 2 + 17;
    const { importId, userId } = await newImport(rows);
    const progress: number[] = [];
    for (;;) {
      const r = await attempt(importId);
      progress.push(r.processedRows);
      if (r.done) break;
    }
    expect(progress).toEqual([IMPORT_CHUNK_ROWS, IMPORT_CHUNK_ROWS * 2, rows]);
    const [n] = await h.db.select({ n: count() }).from(fans).where(eq(fans.creatorId, userId));
    expect(n!.n).toBe(rows);
    expect(await h.db.query.fanImports.findFirst({ where: eq(fanImports.id, importId) })).toMatchObject({
      status: 'completed',
      inserted: rows,
      processedRows: rows,
      errorCount: 0,
    });
  });

  it('takes chunks until the file is consumed within one call, heartbeating each committed checkpoint', async () => {
    const rows = IMPORT_CHUNK_ROWS * 2 + 17;
    const { importId } = await newImport(rows);
    const env = new MockActivityEnvironment();
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => heartbeats.push(details));
    const result = await env.run(createFanImportActivities({ db: h.db }).importFanCsvChunk, { importId });
    expect(result).toEqual({ done: true, processedRows: rows });
    const imp = await h.db.query.fanImports.findFirst({ where: eq(fanImports.id, importId) });
    expect(heartbeats).toEqual([
      { byteOffset: expect.any(Number), processedRows: IMPORT_CHUNK_ROWS },
      { byteOffset: expect.any(Number), processedRows: IMPORT_CHUNK_ROWS * 2 },
      { byteOffset: imp!.fileBytes, processedRows: rows },
    ]);
    const offsets = heartbeats.map((d) => (d as { byteOffset: number }).byteOffset);
    expect(offsets[0]).toBeGreaterThan(0);
    expect(offsets[1]).toBeGreaterThan(offsets[0]!);
    expect(imp!.byteOffset).toBe(imp!.fileBytes);
  });

  it('stops between chunks when the activity is cancelled, leaving the committed checkpoint', async () => {
    const { importId } = await newImport(IMPORT_CHUNK_ROWS * 3);
    const env = new MockActivityEnvironment();
    // Cancelled as the first chunk's heartbeat reaches the server.
    env.once('heartbeat', () => env.cancel());
    await expect(env.run(createFanImportActivities({ db: h.db }).importFanCsvChunk, { importId })).rejects.toThrow();
    expect(await h.db.query.fanImports.findFirst({ where: eq(fanImports.id, importId) })).toMatchObject({
      status: 'running',
      processedRows: IMPORT_CHUNK_ROWS,
    });
  });

  it('reads the upload across pieces that cut records and characters apart, then deletes it', async () => {
    const csv = 'Username,Display Name\r\nzoë,"Zoë, ""the"" first"\r\nrenée,Renée 🎉\r\n';
    const { importId, userId } = await storedImport(csv, 5);
    expect(await uploadLeft(importId)).toBeGreaterThan(5);
    expect(await attempt(importId)).toEqual({ done: true, processedRows: 2 });
    const names = await h.db.select({ handle: fans.handle, name: fans.name }).from(fans).where(eq(fans.creatorId, userId));
    expect(names.sort((a, b) => a.handle.localeCompare(b.handle))).toEqual([
      { handle: 'renée', name: 'Renée 🎉' },
      { handle: 'zoë', name: 'Zoë, "the" first' },
    ]);
    expect(await uploadLeft(importId)).toBe(0);
  });

  it('fails the import at a record the parser cannot read, keeping the rows before it and deleting the upload', async () => {
    const { importId, userId } = await storedImport('Username\nalpha\nbeta\n"gamma\ndelta\n');
    expect(await attempt(importId)).toEqual({ done: true, processedRows: 2 });
    expect(await h.db.query.fanImports.findFirst({ where: eq(fanImports.id, importId) })).toMatchObject({
      status: 'failed',
      failureReason: 'Row 4: a quoted cell that is never closed; the rows before it were imported, none after it',
      inserted: 2,
    });
    expect((await h.db.select({ handle: fans.handle }).from(fans).where(eq(fans.creatorId, userId))).map((f) => f.handle).sort()).toEqual([
      'alpha',
      'beta',
    ]);
    expect(await uploadLeft(importId)).toBe(0);
  });

  it('reports overlong cells as row errors and fails at a record over MAX_RECORD_CHARS', async () => {
    const { importId } = await storedImport(
      `Username,Total Spent\nalpha,${'9'.repeat(300_000)}\nbeta,$1\ngamma,${'x'.repeat(MAX_RECORD_CHARS + 1)}\n`,
    );
    expect(await attempt(importId)).toEqual({ done: true, processedRows: 2 });
    expect(await h.db.query.fanImports.findFirst({ where: eq(fanImports.id, importId) })).toMatchObject({
      status: 'failed',
      failureReason: `Row 4: more than ${MAX_RECORD_CHARS} characters in its cells; the rows before it were imported, none after it`,
      inserted: 1,
      errorCount: 1,
    });
    expect(
      await h.db
        .select({ row: fanImportErrors.row, error: fanImportErrors.error })
        .from(fanImportErrors)
        .where(eq(fanImportErrors.importId, importId)),
    ).toEqual([{ row: 2, error: 'Total Spent: longer than 100 characters' }]);
  });

  it('fails the import at a record of more than MAX_RECORD_CELLS cells (a line of commas)', async () => {
    const { importId } = await storedImport(`Username\nalpha\n${','.repeat(2_000_000)}\nbeta\n`);
    expect(await attempt(importId)).toEqual({ done: true, processedRows: 1 });
    expect(await h.db.query.fanImports.findFirst({ where: eq(fanImports.id, importId) })).toMatchObject({
      status: 'failed',
      failureReason: `Row 3: more than ${MAX_RECORD_CELLS} cells; the rows before it were imported, none after it`,
      inserted: 1,
    });
    // A short one, parsed whole within one slice of input.
    const short = await storedImport(`Username\nalpha\nbeta\n${','.repeat(MAX_RECORD_CELLS + 5)}\n`);
    await attempt(short.importId);
    expect(await h.db.query.fanImports.findFirst({ where: eq(fanImports.id, short.importId) })).toMatchObject({
      failureReason: `Row 4: more than ${MAX_RECORD_CELLS} cells; the rows before it were imported, none after it`,
      inserted: 2,
    });
  });

  it('fails a file of blank lines for want of a header, and names row 1 for an unreadable header', async () => {
    const blank = await storedImport('\r\n\r\n\n');
    await attempt(blank.importId);
    expect(await h.db.query.fanImports.findFirst({ where: eq(fanImports.id, blank.importId) })).toMatchObject({
      status: 'failed',
      failureReason: 'The file has no header row',
    });
    const unclosed = await storedImport('"Username\nalpha\n');
    await attempt(unclosed.importId);
    expect(await h.db.query.fanImports.findFirst({ where: eq(fanImports.id, unclosed.importId) })).toMatchObject({
      failureReason: expect.stringMatching(/^Row 1: a quoted cell that is never closed/),
    });
  });

  it('retries a file whose pieces are gone, and calls it poisoned after IMPORT_MAX_ATTEMPTS failures at the same rows', async () => {
    const { importId } = await newImport(10);
    await h.db.delete(fanImportUploads).where(eq(fanImportUploads.importId, importId));
    for (let failure = 1; failure < IMPORT_MAX_ATTEMPTS; failure++) {
      const err = await attempt(importId).catch((e: unknown) => e);
      expect(err).toMatchObject({ nonRetryable: false, message: expect.stringMatching(/pieces are gone/) });
    }
    const last = await attempt(importId).catch((e: unknown) => e);
    expect(last).toBeInstanceOf(ApplicationFailure);
    expect(last).toMatchObject({ type: IMPORT_POISONED, nonRetryable: true });
  });

  it('tells errors of the data from outages, through drizzle too', async () => {
    const refused = createDb('postgres://postgres@127.0.0.1:1/none', { max: 1 });
    const outage = await refused.db.execute(sql`select 1`).catch((err: unknown) => err);
    await refused.close();
    const raw = await h.sql`select 1 / 0`.catch((err: unknown) => err);
    const data = await h.db.execute(sql`select ${'not a number'}::int`).catch((err: unknown) => err);
    expect(failsOnTheData(outage)).toBe(false);
    // A statement cancelled on the server (57014, as an operator or a restart does it).
    const cancelled = await h.sql
      .begin(async (tx) => {
        await tx`set local statement_timeout = 1`;
        await tx`select pg_sleep(1)`;
      })
      .catch((err: unknown) => err);
    expect(failsOnTheData(cancelled)).toBe(false);
    expect(failsOnTheData(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).toBe(false);
    expect(failsOnTheData(raw)).toBe(true);
    expect(failsOnTheData(data)).toBe(true);
    expect(failsOnTheData(new RangeError('Invalid string length'))).toBe(true);
    expect(failsOnTheData(Object.assign(new Error('Cannot create a string longer than …'), { code: 'ERR_STRING_TOO_LONG' }))).toBe(true);
    // A failure keeps the root cause's code, not drizzle's message with the chunk's fans in it,
    // nor the value a Postgres data error quotes.
    const secret = await h.db.execute(sql`select ${'fan-secret@example.com'}::int`).catch((err: unknown) => err);
    expect(String((secret as Error).message)).toContain('fan-secret'); // drizzle's own message has it
    const failure = attemptFailure(secret, false, 'import x after row 2');
    expect(failure.message).toBe('import x after row 2: 22P02');
    expect(failure).toMatchObject({ type: '22P02', nonRetryable: false });
  });

  it('counts failures on the data at one checkpoint, and starts again where the checkpoint has moved', async () => {
    const { importId } = await newImport(IMPORT_CHUNK_ROWS + 5);
    await attempt(importId); // the first chunk commits: the checkpoint moves
    await h.db
      .update(fanImports)
      .set({ dataFailures: IMPORT_MAX_ATTEMPTS - 1, dataFailuresAt: 0 })
      .where(eq(fanImports.id, importId));
    await h.db.delete(fanImportUploads).where(eq(fanImportUploads.importId, importId));
    // Seven failures at the old checkpoint do not carry over to the new one.
    expect(await attempt(importId).catch((e: unknown) => e)).toMatchObject({ nonRetryable: false });
    expect(await h.db.query.fanImports.findFirst({ where: eq(fanImports.id, importId) })).toMatchObject({ dataFailures: 1 });
  });

  it('fails an import whose header has no Username column, and deletes its upload', async () => {
    const { importId } = await storedImport('Name,Email\nA,a@example.com\n');
    expect(await attempt(importId)).toEqual({ done: true, processedRows: 0 });
    expect(await h.db.query.fanImports.findFirst({ where: eq(fanImports.id, importId) })).toMatchObject({ status: 'failed' });
    expect(await uploadLeft(importId)).toBe(0);
  });

  it('writes a chunk once when two attempts run it at the same time', async () => {
    const { importId, userId } = await newImport(IMPORT_CHUNK_ROWS + 5);
    const [a, b] = await Promise.all([attempt(importId), attempt(importId)]);
    expect([a.processedRows, b.processedRows]).toEqual([IMPORT_CHUNK_ROWS, IMPORT_CHUNK_ROWS]);
    const after = await h.db.query.fanImports.findFirst({ where: eq(fanImports.id, importId) });
    expect(after).toMatchObject({ processedRows: IMPORT_CHUNK_ROWS, inserted: IMPORT_CHUNK_ROWS, updated: 0, skipped: 0 });
    const done = await attempt(importId);
    expect(done).toEqual({ done: true, processedRows: IMPORT_CHUNK_ROWS + 5 });
    const [n] = await h.db.select({ n: count() }).from(fans).where(eq(fans.creatorId, userId));
    expect(n!.n).toBe(IMPORT_CHUNK_ROWS + 5);
    expect(await h.db.query.fans.findFirst({ where: and(eq(fans.creatorId, userId), eq(fans.handle, 'fan_7')) })).toMatchObject({
      name: 'Fan, number 7',
      valueCents: 750,
    });
  });
});
