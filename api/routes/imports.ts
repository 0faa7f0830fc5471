// SPEC §3 CSV import: the upload is streamed into Postgres (domain/import-uploads.ts, never whole in
// memory, never on the API's disk) and a `csv-import:<id>` workflow works through it on any worker;
// GET /imports/:id shows progress and row errors.
import { randomUUID } from 'node:crypto';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, asc, eq } from 'drizzle-orm';
import { Type } from 'typebox';
import { fanImportErrors, fanImports } from '../../db/schema.js';
import { admitUpload, markUploaded, storeUpload, uploadGraceSeconds } from '../../domain/import-uploads.js';
import type { RouteDeps } from '../app.js';
import { caller } from '../authenticate.js';
import { ApiError, notFound } from '../errors.js';
import { bearerAuth, errorResponses } from '../schemas.js';

/**
 * The upload as it arrives, refused at once if it starts with a UTF-16 byte order mark: the import
 * reads UTF-8 (a BOM of that is fine), and a parse resumed mid-file could not know the encoding.
 */
async function* refuseUtf16(file: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let head = Buffer.alloc(0); // the first two bytes, however the body was cut
  for await (const bytes of file) {
    if (head.length < 2) {
      head = Buffer.concat([head, bytes.subarray(0, 2 - head.length)]);
      if (head.length === 2 && ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)))
        throw new ApiError(400, 'validation_failed', 'the file is UTF-16; export it as CSV in UTF-8');
    }
    yield bytes;
  }
}

/** Row errors returned with the status (all of them are kept in fan_import_errors). */
const ERRORS_SHOWN = 1_000;

export const importRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, config, fanImportProcess: fanImport }) => {
  await app.register(multipart, { limits: { fileSize: config.IMPORT_MAX_BYTES, files: 1, fields: 0, parts: 2 } });
  app.addHook('onRequest', app.authenticate);

  app.post(
    '/onlyfans/import/csv',
    {
      schema: {
        tags: ['crm'],
        summary: 'Upload an OnlyFans fan export (multipart field `file`); the import runs as a workflow',
        description:
          `Streams the file into the database (at most ${config.IMPORT_MAX_BYTES} bytes), ` +
          'then 202 with the import id to follow at GET /imports/{id}.',
        security: bearerAuth,
        consumes: ['multipart/form-data'],
        response: {
          202: Type.Object({ importId: Type.String(), status: Type.Literal('queued') }),
          ...errorResponses(400, 401, 408, 409, 413, 415, 503),
        },
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) throw new ApiError(415, 'unsupported_media_type', 'send multipart/form-data with a `file` part');
      const importId = randomUUID();
      const creatorId = caller(request).userId;
      if (
        !(await admitUpload(
          db,
          { id: importId, creatorId },
          { maxOpen: config.MAX_OPEN_IMPORTS_PER_CREATOR, graceSeconds: uploadGraceSeconds(config) },
        ))
      )
        throw new ApiError(
          409,
          'too_many_open_imports',
          `at most ${config.MAX_OPEN_IMPORTS_PER_CREATOR} imports uploading, queued or running at once`,
          { max: config.MAX_OPEN_IMPORTS_PER_CREATOR },
        );
      try {
        // A client gone while it waited to be admitted: request.file() would wait for it forever.
        if (request.raw.destroyed) throw new ApiError(400, 'validation_failed', 'the upload was cut off');
        const file = await request.file().catch(() => undefined);
        if (file?.fieldname !== 'file') throw new ApiError(400, 'validation_failed', 'the upload needs one part named `file`');
        const fileBytes = await storeUpload(db, importId, refuseUtf16(file.file));
        if (file.file.truncated) throw new ApiError(413, 'payload_too_large', `the file is larger than ${config.IMPORT_MAX_BYTES} bytes`);
        if (fileBytes === 0) throw new ApiError(400, 'validation_failed', 'the file is empty');
        // Purged as abandoned meanwhile (an upload slower than two request timeouts): not an import.
        if (!(await markUploaded(db, importId, { fileName: file.filename.slice(0, 255), fileBytes })))
          throw new ApiError(408, 'request_timeout', 'the upload took too long; send it again');
        await fanImport.start({ importId, creatorId });
      } catch (err) {
        // Nothing is left behind for an upload the client is told failed: the row goes and its
        // stored pieces with it (a workflow started anyway finds no row and ends).
        await db.delete(fanImports).where(eq(fanImports.id, importId));
        throw err;
      }
      return reply.status(202).send({ importId, status: 'queued' as const });
    },
  );

  app.get(
    '/imports/:id',
    {
      schema: {
        tags: ['crm'],
        summary: 'Progress and result of a CSV import',
        security: bearerAuth,
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: {
          200: Type.Object({
            status: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed')]),
            processedRows: Type.Integer(),
            bytesProcessed: Type.Integer({ description: 'bytes of the file read so far (of bytesTotal)' }),
            bytesTotal: Type.Integer(),
            rowsPerSecond: Type.Union([Type.Number(), Type.Null()], {
              description: 'rows processed per second since a worker took the import (until it ended); null before',
            }),
            failureReason: Type.Union([Type.String(), Type.Null()]),
            summary: Type.Object({
              totalRows: Type.Integer(),
              successfulInserts: Type.Integer(),
              updated: Type.Integer(),
              skipped: Type.Integer(),
              errors: Type.Integer(),
            }),
            errors: Type.Array(Type.Object({ row: Type.Integer(), error: Type.String() })),
          }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => {
      const imp = await db.query.fanImports.findFirst({
        where: and(eq(fanImports.id, request.params.id), eq(fanImports.creatorId, caller(request).userId)),
      });
      // An upload still streaming in is not an import yet (its creator has no id for it).
      if (!imp || imp.status === 'uploading') throw notFound('import');
      const errors = await db
        .select({ row: fanImportErrors.row, error: fanImportErrors.error })
        .from(fanImportErrors)
        .where(eq(fanImportErrors.importId, imp.id))
        .orderBy(asc(fanImportErrors.row))
        .limit(ERRORS_SHOWN);
      const seconds = imp.startedAt ? ((imp.completedAt ?? new Date()).getTime() - imp.startedAt.getTime()) / 1000 : null;
      return {
        status: imp.status,
        processedRows: imp.processedRows,
        bytesProcessed: imp.byteOffset,
        bytesTotal: imp.fileBytes,
        rowsPerSecond: seconds !== null ? Math.round(imp.processedRows / Math.max(seconds, 0.001)) : null,
        failureReason: imp.failureReason,
        summary: {
          totalRows: imp.processedRows,
          successfulInserts: imp.inserted,
          updated: imp.updated,
          skipped: imp.skipped,
          errors: imp.errorCount,
        },
        errors,
      };
    },
  );
};
