/**
 * An import's uploaded file, kept in Postgres (fan_import_uploads) so that the API that took the
 * upload and the worker that reads it share no disk. The API writes the file as it streams in, a
 * piece at a time (bounded memory); the worker reads it back from any byte offset, a piece at a
 * time; the import's end deletes it.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.js';
import { fanImportUploads } from '../db/schema.js';

/** Bytes per stored piece: one insert while uploading, one read while importing. */
export const UPLOAD_PIECE_BYTES = 1 << 20;

/**
 * Stores `file` for `importId`, piece by piece as it arrives; returns its size in bytes. Each piece
 * commits on its own, so no connection waits on a slow client; the caller deletes the pieces when
 * the upload fails (and the hourly purge takes those of an upload that was never finished).
 */
export async function storeUpload(db: Db, importId: string, file: AsyncIterable<Buffer>): Promise<number> {
  let stored = 0;
  let held: Buffer[] = [];
  let heldBytes = 0;
  const flush = async () => {
    const data = Buffer.concat(held, heldBytes);
    await db.insert(fanImportUploads).values({ importId, startByte: stored, data });
    stored += heldBytes;
    held = [];
    heldBytes = 0;
  };
  for await (const bytes of file) {
    held.push(bytes);
    heldBytes += bytes.length;
    if (heldBytes >= UPLOAD_PIECE_BYTES) await flush();
  }
  if (heldBytes > 0) await flush();
  return stored;
}

/**
 * The stored file of `fileBytes` bytes from byte `from` to its end, a piece at a time, handed on in
 * slices of `sliceBytes`: a parser takes a slice in one synchronous run, so small slices let the
 * database's answers (a chunk being written meanwhile) through between them. Throws where a piece
 * is missing: a file cut short must not read as one that ended.
 */
export async function* readUpload(
  db: Db,
  importId: string,
  from: number,
  fileBytes: number,
  sliceBytes = 64 * 1024,
): AsyncGenerator<Buffer> {
  let at = from;
  while (at < fileBytes) {
    // The piece holding byte `at`: the last one that starts at or before it.
    const [piece] = await db
      .select({ startByte: fanImportUploads.startByte, data: fanImportUploads.data })
      .from(fanImportUploads)
      .where(and(eq(fanImportUploads.importId, importId), sql`${fanImportUploads.startByte} <= ${at}`))
      .orderBy(sql`${fanImportUploads.startByte} desc`)
      .limit(1);
    if (!piece || at >= piece.startByte + piece.data.length)
      throw new Error(`the upload of import ${importId} has no byte ${at} of ${fileBytes}: its pieces are gone`);
    for (let i = at - piece.startByte; i < piece.data.length; i += sliceBytes) yield piece.data.subarray(i, i + sliceBytes);
    at = piece.startByte + piece.data.length;
  }
}

/** Deletes the stored file: with the import's last chunk, its failure, or a refused upload. */
export async function deleteUpload(db: Db | Tx, importId: string): Promise<void> {
  await db.delete(fanImportUploads).where(eq(fanImportUploads.importId, importId));
}

/**
 * Deletes the pieces of uploads abandoned more than `graceHours` ago: an API that died mid-upload
 * left pieces without an import, and an import that is neither queued nor running needs none.
 */
export async function purgeAbandonedUploads(db: Db, graceHours: number): Promise<number> {
  const result = await db.execute(sql`
    delete from fan_import_uploads u
     where u.created_at < now() - make_interval(hours => ${graceHours})
       and not exists (select 1 from fan_imports i where i.id = u.import_id and i.status in ('queued', 'running'))`);
  return result.count;
}
