// The csv-import process as the API drives it: the workflow is `csv-import:<importId>` with the
// creator's CreatorId search attribute, a repeated start finds the import instead of running it
// twice, and an upload Temporal could not take leaves no import behind that stays `queued`, nor its file.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { eq, sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { fanImports } from '../../db/schema.js';
import { createLogger } from '../../lib/logger.js';
import { createFanImportProcess } from '../../processes/fan-import.js';
import { CreatorId } from '../../workflows/search-attributes.js';
import { bearer, login, register, startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const CSV = 'Username,Display Name\nalpha,Alpha\nbeta,Beta\n';

function upload(app: FastifyInstance, token: string, content = CSV) {
  const boundary = `----ofm${Math.random().toString(16).slice(2)}`;
  const payload = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="fans.csv"\r\nContent-Type: text/csv\r\n\r\n` +
      `${content}\r\n--${boundary}--\r\n`,
  );
  return app.inject({
    method: 'POST',
    url: '/api/v1/onlyfans/import/csv',
    headers: { ...bearer(token), 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload,
  });
}

async function creator() {
  const { userId, email } = await register(h);
  return { userId, token: (await login(h, email)).accessToken };
}

describe('csv-import process', () => {
  it('runs as csv-import:<importId> with the CreatorId search attribute, and a second start runs nothing', async () => {
    const { userId, token } = await creator();
    const res = await upload(h.app, token);
    expect(res.statusCode, res.body).toBe(202);
    const { importId } = res.json();
    const handle = h.temporal.workflow.getHandle(`csv-import:${importId}`);
    await handle.result();
    const first = await handle.describe();
    expect(first.typedSearchAttributes.get(CreatorId)).toBe(userId);
    expect(await h.db.query.fanImports.findFirst({ where: eq(fanImports.id, importId) })).toMatchObject({
      status: 'completed',
      inserted: 2,
    });

    // A retried start (the same import id) finds the finished import and starts no second run.
    await createFanImportProcess(h.temporal, h.config).start({ importId, creatorId: userId });
    const again = await handle.describe();
    expect(again.runId).toBe(first.runId);
    expect(again.status.name).toBe('COMPLETED');
  });

  it('answers 503 when Temporal is unreachable and leaves no queued import behind', async () => {
    const { userId, token } = await creator();
    // A port nobody listens on: every call to this "Temporal" is refused.
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(closed.address() as net.AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const temporal = new Client({ connection: Connection.lazy({ address }), namespace: h.config.TEMPORAL_NAMESPACE });
    const app = await buildApp({ config: h.config, db: h.db, temporal, stripe: h.stripe, logger: createLogger(h.config, 'test') });
    const marker = `marker_${randomUUID()}`;
    try {
      const res = await upload(app, token, `${CSV}${marker},M\n`);
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json().error.code).toBe('dependency_unavailable');
      expect(await h.db.select().from(fanImports).where(eq(fanImports.creatorId, userId))).toEqual([]);
      // Nor any piece of the upload.
      const [pieces] = await h.db.execute<{ n: number }>(
        sql`select count(*)::int as n from fan_import_uploads where position(convert_to(${marker}, 'UTF8') in data) > 0`,
      );
      expect(pieces!.n).toBe(0);
    } finally {
      await app.close();
      await temporal.connection.close().catch(() => {});
    }

    // The same upload goes through once Temporal answers again.
    const retried = await upload(h.app, token);
    expect(retried.statusCode, retried.body).toBe(202);
    await waitFor(async () => {
      const imp = await h.db.query.fanImports.findFirst({ where: eq(fanImports.id, retried.json().importId) });
      return imp?.status === 'completed' ? imp : undefined;
    }, 'retried import to complete');
  });
});
