/**
 * An import's uploaded file, kept in Postgres (fan_import_uploads) so that the API that took the
 * upload and the worker that reads it share no disk. The API writes the file as it streams in, a
 * piece at a time (bounded memory); the worker reads it back from any byte offset, a piece at a
 * time; the import's end deletes it.
 */
import { and, count, eq, inArray, or, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.js';
import { fanImports, fanImportUploads } from '../db/schema.js';
import type { Config } from '../lib/config.js';

/**
 * An upload cannot outlast the API's request timeout: a row still `uploading` after two of them is
 * one whose API died mid-way. It no longer counts towards the open-imports cap, and the purge deletes it.
 */
export const uploadGraceSeconds = (config: Pick<Config, 'REQUEST_TIMEOUT_MS'>) => (2 * config.REQUEST_TIMEOUT_MS) / 1000;

/** Bytes per stored piece: one insert while uploading, one read while importing. */
const UPLOAD_PIECE_BYTES = 1 << 20;

/**
 * Stores `file` for the `uploading` import `importId`, piece by piece as it arrives; returns its
 * size in bytes. Each piece commits on its own, so no connection waits on a slow client; a failed
 * upload's pieces go with its import row (foreign key, on delete cascade), and the hourly purge
 * takes those of an upload whose API died mid-way.
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
 * Writes the import's row as `uploading` if the creator has fewer than `maxOpen` imports uploading,
 * queued or running, so that no creator streams more files into the database at once; under the
 * creator's lock, so that parallel uploads cannot all pass the count. An `uploading` row older than
 * `graceSeconds` is an upload whose API died (the hourly purge deletes it): it no longer counts.
 */
export async function admitUpload(
  db: Db,
  row: { id: string; creatorId: string },
  { maxOpen, graceSeconds }: { maxOpen: number; graceSeconds: number },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`fan-import-admit:${row.creatorId}`}, 0))`);
    const [{ open } = { open: 0 }] = await tx
      .select({ open: count() })
      .from(fanImports)
      .where(
        and(
          eq(fanImports.creatorId, row.creatorId),
          or(
            inArray(fanImports.status, ['queued', 'running']),
            and(eq(fanImports.status, 'uploading'), sql`${fanImports.createdAt} > now() - make_interval(secs => ${graceSeconds})`),
          ),
        ),
      );
    if (open >= maxOpen) return false;
    await tx.insert(fanImports).values({ ...row, fileBytes: 0, status: 'uploading' });
    return true;
  });
}

/** The upload is stored: the import is `queued` for its workflow. False when it was purged as abandoned meanwhile. */
export async function markUploaded(db: Db, importId: string, file: { fileName: string; fileBytes: number }): Promise<boolean> {
  const [queued] = await db
    .update(fanImports)
    .set({ status: 'queued', ...file, updatedAt: sql`now()` })
    .where(and(eq(fanImports.id, importId), eq(fanImports.status, 'uploading')))
    .returning({ id: fanImports.id });
  return queued !== undefined;
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
 * The hourly purge (`maintenance-purge-tokens`) of abandoned imports with their uploads: an upload
 * whose API died mid-way (still `uploading` after `uploadGraceSeconds`) is deleted; an import
 * queued or running that has not moved for `graceHours` (its workflow terminated, or no worker for
 * that long) ends failed; and no import that has ended keeps a piece of its file. Returns the
 * imports touched.
 */
export async function purgeAbandonedUploads(
  db: Db,
  { graceHours, uploadGraceSeconds }: { graceHours: number; uploadGraceSeconds: number },
): Promise<number> {
  const cutoff = sql`now() - make_interval(hours => ${graceHours})`;
  return db.transaction(async (tx) => {
    const uploads = await tx.execute(
      sql`delete from fan_imports where status = 'uploading' and created_at < now() - make_interval(secs => ${uploadGraceSeconds})`,
    );
    const stalled = await tx.execute(sql`
      update fan_imports set status = 'failed', completed_at = now(), updated_at = now(),
             failure_reason = 'The import stopped making progress; the rows before it stopped were imported. Upload the file again.'
       where status in ('queued', 'running') and updated_at < ${cutoff}`);
    await tx.execute(sql`
      delete from fan_import_uploads u using fan_imports i
       where i.id = u.import_id and i.status in ('completed', 'failed')`);
    return uploads.count + stalled.count;
  });
}
