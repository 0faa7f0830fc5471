// The import activity against the real database: chunks resume from the committed checkpoint, each
// committed chunk is heartbeated with its checkpoint, and a chunk run twice at once (a retry racing
// a slow first attempt) writes its rows only once.
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { and, count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFanImportActivities, IMPORT_CHUNK_ROWS } from '../../activities/fan-import.js';
import { fanImports, fans } from '../../db/schema.js';
import { projectRoot } from '../../dev/toolchain.js';
import { register, startHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workers: false });
});
afterAll(() => h?.close());

async function newImport(rows: number) {
  const { userId } = await register(h);
  const lines = ['Username,Display Name,Total Spent'];
  for (let i = 0; i < rows; i++) lines.push(`fan_${i},"Fan, number ${i}","$${i}.50"`);
  const dir = path.join(projectRoot, '.data', 'test', 'imports');
  await mkdir(dir, { recursive: true });
  const filePath = path.join(dir, `${randomUUID()}.csv`);
  const content = `${lines.join('\r\n')}\r\n`;
  await writeFile(filePath, content);
  const [imp] = await h.db
    .insert(fanImports)
    .values({ creatorId: userId, filePath, fileBytes: Buffer.byteLength(content) })
    .returning();
  return { importId: imp!.id, userId };
}

/** One attempt of the activity that takes one chunk per call, in a context of its own. */
const attempt = (importId: string, env = new MockActivityEnvironment()) =>
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
