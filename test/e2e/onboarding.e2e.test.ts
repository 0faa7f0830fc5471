// End to end, as a user would: the API, the worker and the mail stand-in run as separate
// processes (the same entry points `npm run dev` starts) against the run's Temporal and
// Postgres; the test speaks HTTP only, and kills the worker with SIGKILL mid-flow.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, projectRoot, spawnManaged, type ManagedProcess } from '../../lib/toolchain.js';
import { OnboardingStep, UserId } from '../../workflows/search-attributes.js';
import { waitFor } from '../support/wait.js';

let env: NodeJS.ProcessEnv;
let api: ManagedProcess;
let standin: ManagedProcess;
let worker: ManagedProcess | undefined;
let base: string;
let temporal: Client;

// `node --import tsx` rather than the tsx CLI: a SIGKILL must reach the process that runs the code.
const start = (name: string, entry: string) => spawnManaged(name, process.execPath, ['--import', 'tsx', path.join(projectRoot, entry)], { cwd: projectRoot, env });
const startWorker = () => (worker = start('worker', 'workers/main.ts'));

async function http(method: string, url: string, body?: unknown, token?: string) {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function mailTokens(email: string): Promise<string[]> {
  const res = await http('GET', `/api/v1/dev/mailbox?to=${encodeURIComponent(email)}`);
  return (res.body.messages as { text: string }[]).map((m) => /token=([\w-]+)/.exec(m.text)?.[1] ?? '');
}

beforeAll(async () => {
  const [apiPort, sesPort, metricsPort] = await Promise.all([freePort(), freePort(), freePort()]);
  env = {
    ...process.env,
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    DATA_DIR: path.join(projectRoot, '.data', 'test', `e2e-${randomUUID().slice(0, 8)}`),
    DATABASE_URL: inject('databaseUrl'),
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE_PREFIX: `e2e-${randomUUID().slice(0, 8)}-`,
    API_PORT: String(apiPort),
    SES_STANDIN_PORT: String(sesPort),
    WORKER_METRICS_PORT: String(metricsPort),
  };
  base = `http://127.0.0.1:${apiPort}`;
  standin = start('ses', 'standins/ses-main.ts');
  api = start('api', 'api/main.ts');
  startWorker();
  await waitFor(async () => (await fetch(`${base}/ready`)).status === 200, 'API ready', 60_000).catch((err) => {
    throw new Error(`${err}\napi: ${api.recentOutput()}`);
  });
  temporal = new Client({ connection: await Connection.connect({ address: inject('temporalAddress') }) });
});

afterAll(async () => {
  await Promise.all([api?.stop(), worker?.stop(), standin?.stop()]);
  await temporal?.connection.close();
});

describe('onboarding over HTTP with the worker killed between steps', () => {
  it('register → mail → verify → status shows the terms step, surviving SIGKILLs of the worker', async () => {
    const email = `e2e-${randomUUID().slice(0, 8)}@example.com`;
    const password = 'granite-orchid-velvet-19';

    // Kill the worker right after registering: the verification mail must still go out.
    const reg = await http('POST', '/api/v1/auth/register', { email, password, timezone: 'America/New_York' });
    expect(reg.status).toBe(201);
    const userId = reg.body.userId as string;
    await worker!.stop({ signal: 'SIGKILL' });
    startWorker();
    const [token] = await waitFor(async () => ((await mailTokens(email)).length ? mailTokens(email) : undefined), 'verification mail', 60_000);
    expect(token).toMatch(/^[\w-]{43}$/);

    // Kill it again between register and verify: verification is accepted while no worker runs,
    // and the onboarding carries on once a worker is back.
    await worker!.stop({ signal: 'SIGKILL' });
    expect((await http('POST', '/api/v1/auth/verify-email', { token })).body).toEqual({ verified: true });
    const { accessToken } = (await http('POST', '/api/v1/auth/login', { email, password })).body;
    expect((await http('GET', '/api/v1/onboarding/status', undefined, accessToken)).body.step).toBe('verify_email');

    startWorker();
    const status = await waitFor(async () => {
      const s = await http('GET', '/api/v1/onboarding/status', undefined, accessToken);
      return s.body.step === 'accept_terms' ? s.body : undefined;
    }, 'accept_terms after worker restart', 60_000);
    expect(status).toMatchObject({ completed: false, timezone: 'America/New_York', locale: 'en' });
    expect(await mailTokens(email)).toHaveLength(1); // no duplicate mail from the restarts

    // Operators find the process by its id and search attributes.
    const description = await temporal.workflow.getHandle(`onboarding:${userId}`).describe();
    expect(description.status.name).toBe('RUNNING');
    expect(description.typedSearchAttributes.get(UserId)).toBe(userId);
    expect(description.typedSearchAttributes.get(OnboardingStep)).toBe('accept_terms');
  });
});
