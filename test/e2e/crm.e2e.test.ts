// End to end, with the worker SIGKILLed mid-work: the API, the worker and the sandbox platform run
// as separate processes (the entry points `npm run dev` starts), the test speaks HTTP (and reads
// the sandbox's delivery log). A send queue draining 1,500 messages and a multi-chunk CSV import
// and a 10,000-recipient campaign each lose the worker part-way and end with every message
// delivered once and every row once.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb } from '../../db/client.js';
import { fans, platformConnections, users } from '../../db/schema.js';
import { apiClient } from '../../dev/api-client.js';
import { loadConfig } from '../../lib/config.js';
import { enqueueMessage, PRIORITY } from '../../domain/outbox.js';
import { unsealConnection } from '../../domain/platform-connections.js';
import { freePort, projectRoot, spawnManaged, type ManagedProcess } from '../../dev/toolchain.js';
import { waitFor } from '../support/wait.js';

const E2E_TIMEOUT_MS = 240_000;
let env: NodeJS.ProcessEnv;
let api: ManagedProcess;
let sandbox: ManagedProcess;
let worker: ManagedProcess | undefined;
let base: string;
let sandboxUrl: string;
const database = createDb(inject('databaseUrl'), { max: 2 });

const start = (name: string, entry: string, extraEnv: NodeJS.ProcessEnv = {}) =>
  spawnManaged(name, process.execPath, ['--import', 'tsx', path.join(projectRoot, entry)], {
    cwd: projectRoot,
    env: { ...env, ...extraEnv },
  });
// A data folder of its own: API and worker share only Postgres and Temporal, as on two machines.
const startWorker = () => (worker = start('worker', 'workers/main.ts', { DATA_DIR: `${env.DATA_DIR}-worker` }));
const http = (...args: Parameters<ReturnType<typeof apiClient>>) => apiClient(base)(...args);

/** The processes run on the default (development) credentials key. */
async function sandboxAccount(userId: string): Promise<string> {
  const row = await database.db.query.platformConnections.findFirst({ where: eq(platformConnections.creatorId, userId) });
  return unsealConnection(row!, loadConfig({}).CREDENTIALS_KEY).credentials.accountId!;
}

async function creator() {
  const email = `e2e-crm-${randomUUID().slice(0, 8)}@example.com`;
  const password = 'granite-orchid-velvet-19';
  const reg = await http('POST', '/api/v1/auth/register', { email, password });
  // The CRM needs a verified email (SPEC §1); onboarding is not what this file tests.
  await database.db.update(users).set({ emailVerifiedAt: new Date() }).where(eq(users.id, reg.body.userId));
  const { accessToken } = (await http('POST', '/api/v1/auth/login', { email, password })).body;
  return { userId: reg.body.userId as string, token: accessToken as string };
}

beforeAll(async () => {
  const [apiPort, sandboxPort, metricsPort, sesPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  env = {
    ...process.env,
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    DATA_DIR: path.join(projectRoot, '.data', 'test', `e2e-crm-${randomUUID().slice(0, 8)}`),
    DATABASE_URL: inject('databaseUrl'),
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE_PREFIX: `e2e-crm-${randomUUID().slice(0, 8)}-`,
    API_PORT: String(apiPort),
    PUBLIC_API_URL: `http://127.0.0.1:${apiPort}`,
    PLATFORM_SANDBOX_PORT: String(sandboxPort),
    SES_STANDIN_PORT: String(sesPort),
    WORKER_METRICS_PORT: String(metricsPort),
    PUBLIC_ROUTE_LIMIT_PER_MINUTE: '1000000',
    // The abuse limits are tested in test/api/rate-limits.test.ts; here they would only throttle the load.
    USER_RATE_LIMIT_PER_MINUTE: '1000000',
    USER_IP_RATE_LIMIT_PER_MINUTE: '1000000',
    REGISTER_LIMIT_PER_IP_PER_HOUR: '1000000',
    FORGOT_PASSWORD_LIMIT_PER_IP_PER_HOUR: '1000000',
  };
  base = `http://127.0.0.1:${apiPort}`;
  sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  sandbox = start('sandbox', 'standins/platform-sandbox-main.ts');
  api = start('api', 'api/main.ts');
  startWorker();
  await waitFor(
    async () => (await fetch(`${base}/ready`)).status === 200 && (await fetch(`${sandboxUrl}/health`)).ok,
    'API and sandbox ready',
    60_000,
  ).catch((err) => {
    throw new Error(`${err}\napi: ${api.recentOutput()}\nsandbox: ${sandbox.recentOutput()}`);
  });
});

afterAll(async () => {
  await Promise.all([api?.stop(), worker?.stop(), sandbox?.stop()]);
  await database.close();
});

describe('send queue with the worker killed mid-send', () => {
  it(
    'delivers every message exactly once',
    async () => {
      const MESSAGES = 1_500;
      const { userId, token } = await creator();
      // The limit lifted, so the queue is busy sending when the worker dies.
      const conn = await http(
        'PUT',
        '/api/v1/platforms/onlyfans/connection',
        { adapter: 'sandbox', rateLimit: { messages: 100_000, perSeconds: 60 } },
        token,
      );
      expect(conn.status).toBe(201);
      const rows = await database.db
        .insert(fans)
        .values(Array.from({ length: MESSAGES }, (_, i) => ({ creatorId: userId, handle: `kill_${i}` })))
        .returning({ id: fans.id, platform: fans.platform });
      const ids = await database.db.transaction(async (tx) => {
        const out: string[] = [];
        for (const fan of rows.slice(1))
          out.push((await enqueueMessage(tx, { creatorId: userId, fan, text: 'bulk', priority: PRIORITY.low })).message.id);
        return out;
      });
      // The API's send wakes the queue for all of them.
      const wake = await http('POST', '/api/v1/onlyfans/messages/send', { recipientId: rows[0]!.id, content: 'wake up' }, token);
      expect(wake.status).toBe(202);
      ids.push(wake.body.messageId);

      const account = await sandboxAccount(userId);
      const deliveries = async () =>
        (await (await fetch(`${sandboxUrl}/_sandbox/accounts/${account}/deliveries`)).json()) as {
          deliveries: { idempotencyKey: string }[];
        };

      await waitFor(async () => (await deliveries()).deliveries.length >= 100, '100 deliveries', 90_000);
      await worker!.stop({ signal: 'SIGKILL' });
      const atKill = (await deliveries()).deliveries.length;
      expect(atKill).toBeLessThan(MESSAGES);
      startWorker();

      await waitFor(
        async () => {
          const [row] = await database.sql<
            { n: number }[]
          >`select count(*)::int as n from messages where creator_id = ${userId} and status = 'sent'`;
          return row!.n === MESSAGES;
        },
        'all messages sent',
        180_000,
      );
      const final = (await deliveries()).deliveries;
      expect(final).toHaveLength(MESSAGES);
      expect(new Set(final.map((d) => d.idempotencyKey))).toEqual(new Set(ids));
    },
    E2E_TIMEOUT_MS,
  );
});

describe('CSV import with the worker killed mid-import', () => {
  it(
    'imports every row once, the worker on a data folder of its own',
    async () => {
      const ROWS = 100_000;
      const { userId, token } = await creator();
      const lines = ['Username,Display Name,Total Spent'];
      for (let i = 0; i < ROWS; i++) lines.push(`csv_${i},"Fan ${i}","$1,${String(i % 1000).padStart(3, '0')}.00"`);
      const form = new FormData();
      form.append('file', new Blob([`${lines.join('\r\n')}\r\n`], { type: 'text/csv' }), 'fans.csv');
      const res = await fetch(`${base}/api/v1/onlyfans/import/csv`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: form,
      });
      expect(res.status).toBe(202);
      const { importId } = (await res.json()) as { importId: string };
      const progress = async () =>
        (await http('GET', `/api/v1/imports/${importId}`, undefined, token)).body as { status: string; processedRows: number };

      await waitFor(async () => (await progress()).processedRows > 0, 'the first chunk', 90_000);
      await worker!.stop({ signal: 'SIGKILL' });
      expect((await progress()).processedRows).toBeLessThan(ROWS);
      startWorker();

      const done = await waitFor(
        async () => {
          const p = await progress();
          return p.status === 'completed' ? p : undefined;
        },
        'import completed',
        180_000,
      );
      expect(done).toMatchObject({
        processedRows: ROWS,
        summary: { totalRows: ROWS, successfulInserts: ROWS, updated: 0, skipped: 0, errors: 0 },
      });
      const [count] = await database.sql<{ n: number }[]>`select count(*)::int as n from fans where creator_id = ${userId}`;
      expect(count!.n).toBe(ROWS);
      const [left] = await database.sql<{ n: number }[]>`select count(*)::int as n from fan_import_uploads where import_id = ${importId}`;
      expect(left!.n).toBe(0);
    },
    E2E_TIMEOUT_MS,
  );
});

describe('a 10,000-recipient campaign with the worker killed mid-run', () => {
  it('ends with exactly one delivery per recipient', async () => {
    const RECIPIENTS = 10_000;
    const { userId, token } = await creator();
    expect(
      (
        await http(
          'PUT',
          '/api/v1/platforms/onlyfans/connection',
          { adapter: 'sandbox', rateLimit: { messages: 100_000, perSeconds: 60 } },
          token,
        )
      ).status,
    ).toBe(201);
    await database.sql`
      insert into fans (creator_id, handle, tags)
      select ${userId}, 'bulk_' || i, array['e2e'] from generate_series(1, ${RECIPIENTS}) i`;
    const started = await http(
      'POST',
      '/api/v1/messages/bulk',
      { campaignName: 'big', content: 'hello everyone', segment: { tags: ['e2e'] } },
      token,
    );
    expect(started.status).toBe(202);
    expect(started.body.totalRecipients).toBe(RECIPIENTS);
    const account = await sandboxAccount(userId);
    const delivered = async () =>
      (
        (await (await fetch(`${sandboxUrl}/_sandbox/accounts/${account}/deliveries`)).json()) as {
          deliveries: { idempotencyKey: string }[];
        }
      ).deliveries;

    const sent = async () =>
      (await database.sql<{ n: number }[]>`select count(*)::int as n from messages where creator_id = ${userId} and status = 'sent'`)[0]!.n;
    await waitFor(async () => (await sent()) >= 1_000, '1,000 sent', 120_000, 250);
    await worker!.stop({ signal: 'SIGKILL' });
    expect(await sent()).toBeLessThan(RECIPIENTS);
    startWorker();

    const done = await waitFor(
      async () => {
        const c = await http('GET', `/api/v1/campaigns/${started.body.campaignId}`, undefined, token);
        return c.body.status === 'completed' ? c.body : undefined;
      },
      'campaign completed',
      200_000,
      1_000,
    );
    expect(done.totals).toMatchObject({ recipients: RECIPIENTS, sent: RECIPIENTS, queued: 0, failed: 0, skipped: 0 });
    const keys = (await delivered()).map((d) => d.idempotencyKey);
    expect(keys).toHaveLength(RECIPIENTS);
    expect(new Set(keys).size).toBe(RECIPIENTS);
    expect(keys.every((k) => k.startsWith(`campaign:${started.body.campaignId}:1:`))).toBe(true);
  }, 330_000);
});
