// CSV import end to end through the API, the csv-import workflow and Postgres, with the kinds of
// files real exports produce.
import { and, count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fanImportUploads, fans } from '../../db/schema.js';
import { bearer, login, register, startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

let h: Harness;
let token: string;
let userId: string;
beforeAll(async () => {
  h = await startHarness({ env: { IMPORT_MAX_BYTES: '4000000' } });
  const user = await register(h);
  userId = user.userId;
  token = (await login(h, user.email)).accessToken;
});
afterAll(() => h?.close());

function multipart(content: Buffer | string, field = 'file') {
  const boundary = `----ofm${Math.random().toString(16).slice(2)}`;
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="fans.csv"\r\nContent-Type: text/csv\r\n\r\n`),
    Buffer.isBuffer(content) ? content : Buffer.from(content),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

async function upload(content: Buffer | string, as = token) {
  const { body, contentType } = multipart(content);
  return h.app.inject({
    method: 'POST',
    url: '/api/v1/onlyfans/import/csv',
    headers: { ...bearer(as), 'content-type': contentType },
    payload: body,
  });
}

async function importCsv(content: Buffer | string, as = token) {
  const res = await upload(content, as);
  expect(res.statusCode, res.body).toBe(202);
  const { importId } = res.json();
  return waitFor(
    async () => {
      const status = (await h.app.inject({ url: `/api/v1/imports/${importId}`, headers: bearer(as) })).json();
      return status.status === 'completed' || status.status === 'failed' ? { importId, ...status } : undefined;
    },
    'import to finish',
    60_000,
  );
}

/** Pieces of the import's upload still stored (none once it has ended). */
const uploadLeft = async (importId: string) =>
  (await h.db.select({ n: count() }).from(fanImportUploads).where(eq(fanImportUploads.importId, importId)))[0]!.n;

const fan = (handle: string) => h.db.query.fans.findFirst({ where: and(eq(fans.creatorId, userId), eq(fans.handle, handle)) });
const HEADER = 'Username,Display Name,Email,Subscription Tier,Total Spent,Last Seen';

describe('CSV import', () => {
  it('imports an export with BOM, CRLF, quoted commas and newlines, currency and thousands separators', async () => {
    const csv =
      `\uFEFF${HEADER}\r\n` +
      'alpha,"Doe, Jane\r\nJr",Jane@Example.com,VIP,"$1,234.56",2026-11-01T10:00:00Z\r\n' +
      'beta,Bob,,,"€99,50",\r\n' +
      '@gamma,"Gam ""G"" Ma",g@example.com,basic,12,2026-10-01\r\n';
    const result = await importCsv(csv);
    expect(await uploadLeft(result.importId)).toBe(0);
    expect(result).toMatchObject({
      status: 'completed',
      processedRows: 3,
      bytesProcessed: Buffer.byteLength(csv),
      bytesTotal: Buffer.byteLength(csv),
      rowsPerSecond: expect.any(Number),
      summary: { totalRows: 3, successfulInserts: 3, updated: 0, skipped: 0, errors: 0 },
      errors: [],
    });
    expect(await fan('alpha')).toMatchObject({
      name: 'Doe, Jane\r\nJr',
      email: 'jane@example.com',
      subscriptionTier: 'VIP',
      valueCents: 123456,
    });
    expect((await fan('alpha'))?.lastSeenAt?.toISOString()).toBe('2026-11-01T10:00:00.000Z');
    expect(await fan('beta')).toMatchObject({ name: 'Bob', email: null, valueCents: 9950, lastSeenAt: null });
    expect(await fan('gamma')).toMatchObject({ name: 'Gam "G" Ma' });
  });

  it('takes reordered and extra columns, keeps known values for empty cells, skips unchanged and duplicate rows', async () => {
    const first = await importCsv(
      `Last Seen,Extra,Total Spent,Username,Display Name\n2026-11-02,x,$5.00,delta,Dee\n2026-11-02,y,$5.00,delta,Dee\n,,,epsilon,Eps\n`,
    );
    expect(first.summary).toEqual({ totalRows: 3, successfulInserts: 2, updated: 0, skipped: 1, errors: 0 });
    // The same people again: one changed (more spent), one unchanged, one empty-celled.
    const second = await importCsv(`${HEADER}\ndelta,,,,$7.00,\nepsilon,Eps,,,,\n`);
    expect(second.summary).toEqual({ totalRows: 2, successfulInserts: 0, updated: 1, skipped: 1, errors: 0 });
    expect(await fan('delta')).toMatchObject({ name: 'Dee', valueCents: 700 });
    expect((await fan('delta'))?.lastSeenAt?.toISOString()).toBe('2026-11-02T00:00:00.000Z');
  });

  it('reports bad rows with their row number and reason, and imports the rest', async () => {
    const bytes = Buffer.concat([
      Buffer.from(`${HEADER}\nok_one,One,,,,\nbad_email,Two,not-an-email,,,\nbad_date,Three,,,,2026-02-30\n`),
      Buffer.from('bad_bytes,F'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(',,,,\n,,,,,\nok_two,Six,,,$1,\n'),
    ]);
    const result = await importCsv(bytes);
    expect(result.summary).toMatchObject({ successfulInserts: 2, errors: 4 });
    expect(result.errors.map((e: { row: number }) => e.row)).toEqual([3, 4, 5, 6]);
    expect(result.errors[0].error).toMatch(/Email/);
    expect(result.errors[1].error).toMatch(/Last Seen|date/i);
    expect(result.errors[2].error).toMatch(/UTF-8/);
    expect(await fan('ok_two')).toBeDefined();
    expect(await fan('bad_email')).toBeUndefined();
  });

  it('fails an import without a Username column, and refuses bad uploads', async () => {
    const failed = await importCsv('Name,Email\nA,a@example.com\n');
    expect(failed).toMatchObject({ status: 'failed', failureReason: expect.stringMatching(/Username/i) });
    expect(await uploadLeft(failed.importId)).toBe(0);

    expect((await upload('x'.repeat(4_000_001))).statusCode).toBe(413);
    expect((await upload('')).statusCode).toBe(400);
    const utf16 = await upload(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${HEADER}\nalpha,,,,,\n`, 'utf16le')]));
    expect(utf16.statusCode).toBe(400);
    expect(utf16.json().error.message).toMatch(/UTF-16/);
    const json = await h.app.inject({
      method: 'POST',
      url: '/api/v1/onlyfans/import/csv',
      headers: bearer(token),
      payload: { file: 'a,b' },
    });
    expect(json.statusCode).toBe(415);
    const { body, contentType } = multipart(HEADER, 'wrong');
    expect(
      (
        await h.app.inject({
          method: 'POST',
          url: '/api/v1/onlyfans/import/csv',
          headers: { ...bearer(token), 'content-type': contentType },
          payload: body,
        })
      ).statusCode,
    ).toBe(400);
  });

  it('settles a file of overlong cells in seconds, as rows in error, while another creator imports', async () => {
    const other = (await login(h, (await register(h)).email)).accessToken;
    const long = (n: number) => `${n}${'9'.repeat(300_000)}`;
    const hostile = `${HEADER}\n${[1, 2, 3].map((n) => `long_${n},,,,${long(n)},${long(n)}`).join('\n')}\nshort,S,,,$1,\n`;
    const started = Date.now();
    const [settled, small] = await Promise.all([importCsv(hostile), importCsv(`${HEADER}\nneighbour,N,,,,\n`, other)]);
    // Minutes before cells were capped; the bound leaves room for a loaded machine.
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(settled).toMatchObject({ status: 'completed', summary: { successfulInserts: 1, errors: 3 } });
    expect(settled.errors).toEqual([2, 3, 4].map((row) => ({ row, error: 'Total Spent: longer than 100 characters' })));
    expect(small).toMatchObject({ status: 'completed', summary: { successfulInserts: 1 } });
  });

  it('shows an import only to its owner', async () => {
    const mine = await importCsv(`${HEADER}\nzeta,Z,,,,\n`);
    const other = (await login(h, (await register(h)).email)).accessToken;
    expect((await h.app.inject({ url: `/api/v1/imports/${mine.importId}`, headers: bearer(other) })).statusCode).toBe(404);
  });
});
