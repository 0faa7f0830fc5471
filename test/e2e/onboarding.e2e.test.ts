// End to end, as a user would: the API, the worker and the mail stand-in run as separate
// processes (the same entry points `npm run dev` starts) against the run's Temporal and
// Postgres; the test speaks HTTP only, and kills the worker with SIGKILL mid-flow.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiClient, type ApiCall } from '../../dev/api-client.js';
import { freePort, projectRoot, spawnManaged, type ManagedProcess } from '../../dev/toolchain.js';
import { OnboardingStep, UserId } from '../../workflows/search-attributes.js';
import { waitFor } from '../support/wait.js';

// Several worker restarts (each bundles the workflows) on a 2-core machine shared with other test
// files: these flows get more time than the suite's default.
const E2E_TIMEOUT_MS = 240_000;
let env: NodeJS.ProcessEnv;
let api: ManagedProcess;
let standin: ManagedProcess;
let stripeStandin: ManagedProcess;
let stripeUrl: string;
let worker: ManagedProcess | undefined;
let base: string;
let temporal: Client;

// `node --import tsx` rather than the tsx CLI: a SIGKILL must reach the process that runs the code.
const start = (name: string, entry: string) =>
  spawnManaged(name, process.execPath, ['--import', 'tsx', path.join(projectRoot, entry)], { cwd: projectRoot, env });
const startWorker = () => (worker = start('worker', 'workers/main.ts'));

const http = (...args: Parameters<ApiCall>) => apiClient(base)(...args);

async function mailTokens(email: string): Promise<string[]> {
  const res = await http('GET', `/api/v1/dev/mailbox?to=${encodeURIComponent(email)}`);
  return (res.body.messages as { text: string }[]).map((m) => /token=([\w-]+)/.exec(m.text)?.[1] ?? '');
}

beforeAll(async () => {
  const [apiPort, sesPort, stripePort, metricsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
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
    STRIPE_STANDIN_PORT: String(stripePort),
    PUBLIC_API_URL: `http://127.0.0.1:${apiPort}`,
    WORKER_METRICS_PORT: String(metricsPort),
    PUBLIC_ROUTE_LIMIT_PER_MINUTE: '1000000',
    // The abuse limits are tested in test/api/rate-limits.test.ts; here they would only throttle the load.
    USER_RATE_LIMIT_PER_MINUTE: '1000000',
    USER_IP_RATE_LIMIT_PER_MINUTE: '1000000',
    REGISTER_LIMIT_PER_IP_PER_HOUR: '1000000',
    FORGOT_PASSWORD_LIMIT_PER_IP_PER_HOUR: '1000000',
  };
  base = `http://127.0.0.1:${apiPort}`;
  standin = start('ses', 'standins/ses-main.ts');
  stripeStandin = start('stripe', 'standins/stripe-main.ts');
  stripeUrl = `http://127.0.0.1:${stripePort}`;
  api = start('api', 'api/main.ts');
  startWorker();
  await waitFor(async () => (await fetch(`${base}/ready`)).status === 200, 'API ready', 60_000).catch((err) => {
    throw new Error(`${err}\napi: ${api.recentOutput()}`);
  });
  temporal = new Client({ connection: await Connection.connect({ address: inject('temporalAddress') }) });
});

afterAll(async () => {
  await Promise.all([api?.stop(), worker?.stop(), standin?.stop(), stripeStandin?.stop()]);
  await temporal?.connection.close();
});

describe('onboarding over HTTP with the worker killed between steps', () => {
  it(
    'register → mail → verify → status shows the terms step, surviving SIGKILLs of the worker',
    async () => {
      const email = `e2e-${randomUUID().slice(0, 8)}@example.com`;
      const password = 'granite-orchid-velvet-19';

      // Kill the worker right after registering: the verification mail must still go out.
      const reg = await http('POST', '/api/v1/auth/register', { email, password, timezone: 'America/New_York' });
      expect(reg.status).toBe(201);
      const userId = reg.body.userId as string;
      await worker!.stop({ signal: 'SIGKILL' });
      startWorker();
      const [token] = await waitFor(
        async () => ((await mailTokens(email)).length ? mailTokens(email) : undefined),
        'verification mail',
        60_000,
      );
      expect(token).toMatch(/^[\w-]{43}$/);

      // Kill it again between register and verify: verification is accepted while no worker runs,
      // and the onboarding carries on once a worker is back.
      await worker!.stop({ signal: 'SIGKILL' });
      expect((await http('POST', '/api/v1/auth/verify-email', { token })).body).toEqual({ verified: true });
      const { accessToken } = (await http('POST', '/api/v1/auth/login', { email, password })).body;
      // The status shows the committed fact at once (read-your-writes), though no worker moved the workflow.
      expect((await http('GET', '/api/v1/onboarding/status', undefined, accessToken)).body.step).toBe('accept_terms');

      startWorker();
      const status = await waitFor(
        async () => {
          const s = await http('GET', '/api/v1/onboarding/status', undefined, accessToken);
          return s.body.step === 'accept_terms' ? s.body : undefined;
        },
        'accept_terms after worker restart',
        60_000,
      );
      expect(status).toMatchObject({ completed: false, timezone: 'America/New_York', locale: 'en' });
      expect(await mailTokens(email)).toHaveLength(1); // no duplicate mail from the restarts

      // Operators find the process by its id and search attributes; the workflow catches up once a worker is back.
      const description = await waitFor(
        async () => {
          const d = await temporal.workflow.getHandle(`onboarding:${userId}`).describe();
          return d.typedSearchAttributes.get(OnboardingStep) === 'accept_terms' ? d : undefined;
        },
        'the workflow at accept_terms',
        60_000,
      );
      expect(description.status.name).toBe('RUNNING');
      expect(description.typedSearchAttributes.get(UserId)).toBe(userId);
    },
    E2E_TIMEOUT_MS,
  );
});

describe('full onboarding over HTTP, worker killed at every step', () => {
  it(
    'ends activated with a welcome email and exactly one Stripe account',
    async () => {
      const email = `e2e-full-${randomUUID().slice(0, 8)}@example.com`;
      const password = 'granite-orchid-velvet-19';
      const killAndRestart = async () => {
        await worker!.stop({ signal: 'SIGKILL' });
        startWorker();
      };
      const status = (token: string) => http('GET', '/api/v1/onboarding/status', undefined, token);
      const stepIs = (token: string, step: string) =>
        waitFor(async () => ((await status(token)).body.step === step ? true : undefined), `step ${step}`, 90_000);

      // register, killed before the mail goes out
      const reg = await http('POST', '/api/v1/auth/register', { email, password });
      const userId = reg.body.userId as string;
      await killAndRestart();
      const [token] = await waitFor(
        async () => ((await mailTokens(email)).length ? mailTokens(email) : undefined),
        'verification mail',
        90_000,
      );

      // verify and accept the terms while no worker runs
      await worker!.stop({ signal: 'SIGKILL' });
      expect((await http('POST', '/api/v1/auth/verify-email', { token })).status).toBe(200);
      const { accessToken } = (await http('POST', '/api/v1/auth/login', { email, password })).body;
      expect((await http('POST', '/api/v1/auth/accept-terms', { termsVersion: '2026-11' }, accessToken)).status).toBe(200);
      startWorker();
      await stepIs(accessToken, 'stripe_connect');

      // Connect (an update: it needs a worker), then again after a crash: the same account
      const connect = () =>
        waitFor(
          async () => {
            const res = await http('POST', '/api/v1/stripe/connect/start', {}, accessToken);
            return res.status === 200 ? res.body : undefined;
          },
          'connect/start',
          90_000,
        );
      const first = await connect();
      expect(first.onboardingUrl).toMatch(/^http/);
      await killAndRestart();
      const second = await connect();
      expect(second.accountId).toBe(first.accountId);

      // KYC completed while the worker is down: the webhook is stored and signalled, and the
      // workflow acts on it once a worker is back
      await worker!.stop({ signal: 'SIGKILL' });
      expect((await http('POST', `/api/v1/dev/stripe/accounts/${first.accountId}/complete`, {}, accessToken)).status).toBe(200);
      startWorker();
      await stepIs(accessToken, 'activated');
      expect((await status(accessToken)).body.completed).toBe(true);
      const stripeStatus = (await http('GET', '/api/v1/stripe/status', undefined, accessToken)).body;
      expect(stripeStatus).toMatchObject({
        accountId: first.accountId,
        detailsSubmitted: true,
        chargesEnabled: true,
        payoutsEnabled: true,
      });

      const mail = await waitFor(
        async () => {
          const res = await http('GET', `/api/v1/dev/mailbox?to=${encodeURIComponent(email)}`);
          return (res.body.messages as { subject: string }[]).find((m) => /active/i.test(m.subject));
        },
        'welcome mail',
        60_000,
      );
      expect(mail.subject).toMatch(/creator account is active/);

      const accounts = (await (await fetch(`${stripeUrl}/_standin/accounts`)).json()) as {
        accounts: { account: { metadata?: Record<string, string> } }[];
      };
      expect(accounts.accounts.filter((a) => a.account.metadata?.userId === userId)).toHaveLength(1);
    },
    E2E_TIMEOUT_MS,
  );
});
