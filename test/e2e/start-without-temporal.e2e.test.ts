// The API and a worker started while Temporal is down (a restart of the server, a deployment that
// brings the processes up in any order) stay up: the API serves what needs only Postgres and says
// it is not ready, the worker waits for Temporal, and both carry on once it is there.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { apiClient } from '../../dev/api-client.js';
import {
  freePort,
  projectRoot,
  spawnManaged,
  startTemporalDevServer,
  type ManagedProcess,
  type TemporalDevServer,
} from '../../dev/toolchain.js';
import { LIFTED_ABUSE_LIMITS } from '../../scripts/bench-stack.js';
import { searchAttributeCliPairs } from '../../workflows/search-attributes.js';
import { waitFor } from '../support/wait.js';

const processes: ManagedProcess[] = [];
let temporal: TemporalDevServer | undefined;
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await temporal?.stop();
});

describe('starting without Temporal', () => {
  it('the API answers and reports not ready, the worker waits; both work once Temporal is up', { timeout: 120_000 }, async () => {
    const [apiPort, temporalPort, metricsPort, sesPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      DATA_DIR: path.join(projectRoot, '.data', 'test', `no-temporal-${randomUUID().slice(0, 8)}`),
      DATABASE_URL: inject('databaseUrl'),
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`, // nothing listens there yet
      TEMPORAL_TASK_QUEUE_PREFIX: `no-temporal-${randomUUID().slice(0, 8)}-`,
      API_PORT: String(apiPort),
      WORKER_METRICS_PORT: String(metricsPort),
      SES_STANDIN_PORT: String(sesPort),
      // This run's other tests register from the same address: the durable per-IP limits would refuse these.
      ...LIFTED_ABUSE_LIMITS,
    };
    const start = (name: string, entry: string) => {
      const p = spawnManaged(name, process.execPath, ['--import', 'tsx', path.join(projectRoot, entry)], { cwd: projectRoot, env });
      processes.push(p);
      return p;
    };
    start('ses', 'standins/ses-main.ts');
    const api = start('api', 'api/main.ts');
    const worker = start('worker', 'workers/main.ts');
    const base = `http://127.0.0.1:${apiPort}`;
    const http = apiClient(base);

    await waitFor(async () => (await fetch(`${base}/health`).catch(() => undefined))?.ok === true, 'API listening', 60_000).catch((err) => {
      throw new Error(`${err}\napi: ${api.recentOutput()}`);
    });
    const notReady = await fetch(`${base}/ready`);
    expect(notReady.status).toBe(503);
    expect(((await notReady.json()) as { checks: { temporal: string } }).checks.temporal).not.toBe('ok');
    // Postgres-only routes work: a login attempt for an unknown account is an ordinary 401.
    const login = await http('POST', '/api/v1/auth/login', { email: `nobody-${randomUUID()}@example.com`, password: 'not-the-password-1' });
    expect(login.status).toBe(401);
    // A route that needs Temporal answers 503 in the error shape, not a 500 or a hang.
    const register = await http('POST', '/api/v1/auth/register', {
      email: `late-${randomUUID()}@example.com`,
      password: 'granite-orchid-velvet-19',
    });
    expect([201, 503]).toContain(register.status);
    expect(worker.isRunning()).toBe(true);

    temporal = await startTemporalDevServer({ port: temporalPort, searchAttributes: searchAttributeCliPairs() });
    await waitFor(async () => (await fetch(`${base}/ready`)).status === 200, 'API ready once Temporal is up', 30_000);
    // The worker connected and serves its queues: a registration's verification mail goes out.
    const email = `after-${randomUUID()}@example.com`;
    expect((await http('POST', '/api/v1/auth/register', { email, password: 'granite-orchid-velvet-19' })).status).toBe(201);
    await waitFor(
      async () => ((await http('GET', `/api/v1/dev/mailbox?to=${encodeURIComponent(email)}`)).body.messages?.length ?? 0) > 0,
      'verification mail sent by the worker',
      45_000,
    ).catch((err) => {
      throw new Error(`${err}\nworker: ${worker.recentOutput()}`);
    });
    expect(worker.isRunning()).toBe(true);
  });
});
