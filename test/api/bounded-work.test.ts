// Bounded work per request and per tenant (issue 10 item 4): request and idle timeouts on the HTTP
// server, a cap on concurrent CSV exports, a minimum schedule interval, and caps on open campaigns
// and imports per creator. No workers run: campaigns stay open and imports stay queued.
import http from 'node:http';
import net from 'node:net';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campaigns, fanImports } from '../../db/schema.js';
import { apiCalls, bearer, login, register, startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    workers: false,
    env: {
      REQUEST_TIMEOUT_MS: '2000',
      CONNECTION_IDLE_TIMEOUT_MS: '1500',
      EXPORT_MAX_CONCURRENT: '2',
      EXPORT_MAX_CONCURRENT_PER_CREATOR: '1',
      MIN_SCHEDULE_INTERVAL_SECONDS: '300',
      MAX_OPEN_CAMPAIGNS_PER_CREATOR: '2',
      MAX_OPEN_IMPORTS_PER_CREATOR: '1',
    },
  });
});
afterAll(() => h?.close());

const { call, ok } = apiCalls(() => h);
async function creator() {
  const { userId, email } = await register(h);
  const { accessToken } = await login(h, email);
  return { userId, auth: bearer(accessToken) };
}

/** A raw connection to the API's port; resolves with what the server sent once it closes the connection. */
function rawClient() {
  const socket = net.connect(Number(h.config.API_PORT), '127.0.0.1');
  let received = '';
  let closedAt: number | null = null;
  socket.on('data', (d) => {
    received += d.toString();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closedAt = Date.now();
  });
  return { socket, received: () => received, closedAt: () => closedAt };
}

describe('request timeouts', () => {
  it('answers 408 and closes a request whose body trickles in for longer than REQUEST_TIMEOUT_MS', async () => {
    const client = rawClient();
    const started = Date.now();
    client.socket.write(
      'POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{',
    );
    // A byte every 300 ms: never idle, never done.
    const trickle = setInterval(() => client.socket.writable && client.socket.write(' '), 300);
    try {
      await waitFor(() => client.closedAt() !== null, 'the server to close the slow request', 8_000);
    } finally {
      clearInterval(trickle);
      client.socket.destroy();
    }
    expect(client.received()).toMatch(/^HTTP\/1\.1 408/);
    expect(client.closedAt()! - started).toBeLessThan(6_000);
  });

  it('closes a connection that sends half a request and then nothing', async () => {
    const client = rawClient();
    const started = Date.now();
    client.socket.write('GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n');
    try {
      await waitFor(() => client.closedAt() !== null, 'the server to close the idle connection', 8_000);
    } finally {
      client.socket.destroy();
    }
    expect(client.closedAt()! - started).toBeLessThan(6_000);
  });
});

describe('CSV export', () => {
  /** Starts an export over a real socket and stops reading it once the headers are in: a slow reader. */
  function stalledExport(auth: Record<string, string>) {
    return new Promise<http.ClientRequest>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: Number(h.config.API_PORT), path: '/api/v1/analytics/export.csv', headers: auth });
      req.on('response', (res) => {
        if (res.statusCode !== 200) reject(new Error(`export: ${res.statusCode}`));
        res.pause();
        resolve(req);
      });
      req.on('error', () => {});
    });
  }
  const exportNow = (auth: Record<string, string>) => call(auth, 'GET', '/analytics/export.csv');
  // Enough rows (about 20 MB of CSV) that the socket buffers cannot take the export whole.
  const manyFans = (creatorId: string) =>
    h.db.execute(sql`insert into fans (creator_id, handle, notes)
      select ${creatorId}, 'fan' || g, repeat('x', 1000) from generate_series(1, 20000) g`);

  it('runs at most EXPORT_MAX_CONCURRENT_PER_CREATOR of a creator’s exports and EXPORT_MAX_CONCURRENT in all; beyond: 429', async () => {
    const [a, b, c] = [await creator(), await creator(), await creator()];
    await manyFans(a.userId);
    await manyFans(b.userId);
    const first = await stalledExport(a.auth);
    const again = await exportNow(a.auth);
    expect(again.statusCode, again.body.slice(0, 200)).toBe(429);
    expect(again.json().error.code).toBe('throttled');
    expect(Number(again.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    const second = await stalledExport(b.auth);
    const third = await exportNow(c.auth);
    expect(third.statusCode, third.body.slice(0, 200)).toBe(429);

    // A reader that goes away frees its slot.
    first.destroy();
    second.destroy();
    const done = await waitFor(async () => {
      const res = await exportNow(c.auth);
      return res.statusCode === 200 && res;
    }, 'an export slot to be free again');
    expect(done.body.split('\r\n')[0]).toMatch(/^Username,/);
  });
});

describe('minimum schedule interval', () => {
  it('refuses `every` and crons that fire more often than MIN_SCHEDULE_INTERVAL_SECONDS', async () => {
    const c = await creator();
    const { campaignId } = await ok(c.auth, 'POST', '/messages/bulk', { campaignName: 'r', content: 'hi', segment: {} }, 202);
    for (const body of [{ every: '2m' }, { every: '299s' }, { cron: '*/2 * * * *' }, { cron: '0,2 9 * * *' }, { cron: '* 9 * * *' }]) {
      const res = await call(c.auth, 'PUT', `/campaigns/${campaignId}/schedule`, { ...body, timezone: 'UTC' });
      expect(res.statusCode, JSON.stringify(body)).toBe(422);
      expect(res.json().error.code).toBe('schedule_too_frequent');
    }
    for (const body of [{ every: '5m' }, { cron: '*/5 * * * *' }, { cron: '0 9 * * 1-5' }, { cron: '0,30 9-17 * * *' }]) {
      const res = await call(c.auth, 'PUT', `/campaigns/${campaignId}/schedule`, { ...body, timezone: 'UTC' });
      expect(res.statusCode, `${JSON.stringify(body)}: ${res.body}`).toBe(200);
    }
  });
});

describe('open work per creator', () => {
  it('refuses a campaign beyond MAX_OPEN_CAMPAIGNS_PER_CREATOR with 409 too_many_open_campaigns', async () => {
    const c = await creator();
    const bulk = (name: string, headers: Record<string, string> = {}) =>
      call({ ...c.auth, ...headers }, 'POST', '/messages/bulk', { campaignName: name, content: 'hi', segment: {} });
    expect((await bulk('one')).statusCode).toBe(202);
    const second = await bulk('two', { 'idempotency-key': 'second' });
    expect(second.statusCode).toBe(202);
    const refused = await bulk('three');
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json().error.code).toBe('too_many_open_campaigns');
    // A retry of an accepted request is not a new campaign.
    expect((await bulk('two', { 'idempotency-key': 'second' })).statusCode).toBe(202);

    // A finished campaign no longer counts, until it is made recurring again.
    await h.db.update(campaigns).set({ status: 'completed' }).where(eq(campaigns.id, second.json().campaignId));
    const third = await bulk('three');
    expect(third.statusCode, third.body).toBe(202);
    const reschedule = await call(c.auth, 'PUT', `/campaigns/${second.json().campaignId}/schedule`, { every: '1d', timezone: 'UTC' });
    expect(reschedule.statusCode, reschedule.body).toBe(409);
    expect(reschedule.json().error.code).toBe('too_many_open_campaigns');
  });

  it('refuses an import beyond MAX_OPEN_IMPORTS_PER_CREATOR with 409 too_many_open_imports', async () => {
    const c = await creator();
    const upload = () => {
      const boundary = `----ofm${Math.random().toString(16).slice(2)}`;
      const payload = Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="fans.csv"\r\nContent-Type: text/csv\r\n\r\n` +
          `Username,Display Name\r\nfan1,One\r\n--${boundary}--\r\n`,
      );
      return h.app.inject({
        method: 'POST',
        url: '/api/v1/onlyfans/import/csv',
        headers: { ...c.auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
        payload,
      });
    };
    const first = await upload();
    expect(first.statusCode, first.body).toBe(202);
    const refused = await upload();
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json().error.code).toBe('too_many_open_imports');
    await h.db.update(fanImports).set({ status: 'failed' }).where(eq(fanImports.id, first.json().importId));
    // An upload still streaming in counts as open: a creator cannot stream many files into the database at once.
    const [uploading] = await h.db
      .insert(fanImports)
      .values({ creatorId: c.userId, fileBytes: 0, status: 'uploading' })
      .returning({ id: fanImports.id });
    expect((await upload()).statusCode).toBe(409);
    await h.db.delete(fanImports).where(eq(fanImports.id, uploading!.id));
    expect((await upload()).statusCode).toBe(202);
  });
});
