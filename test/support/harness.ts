// Integration harness: the real API app (driven with inject), real Postgres and Temporal from
// the global setup, real workers in this process on a task-queue prefix of the test file's
// own, and the stand-ins (SES, Stripe, the sandbox fan platform, the LLM) on free ports.
import { randomUUID } from 'node:crypto';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { eq, sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { inject } from 'vitest';
import { buildApp } from '../../api/app.js';
import { createDb } from '../../db/client.js';
import { users } from '../../db/schema.js';
import { loadConfig, type Config } from '../../lib/config.js';
import { createSesEmailSender } from '../../integrations/email/sender.js';
import { fetchMailbox } from '../../integrations/email/mailbox.js';
import { createLogger } from '../../lib/logger.js';
import { connectTemporalClient } from '../../lib/temporal.js';
import { createOnboardingProcess } from '../../processes/onboarding.js';
import { createStripeClient } from '../../integrations/stripe.js';
import { freePort } from '../../dev/toolchain.js';
import { startLlmStandin } from '../../standins/llm/index.js';
import { startPlatformSandbox } from '../../standins/platform-sandbox/index.js';
import { startSesStandin } from '../../standins/ses.js';
import { startStripeStandin } from '../../standins/stripe/index.js';
import { createWorkers } from '../../workers/create-workers.js';
import { waitFor } from './wait.js';

// Keep the SDK's own worker logs to warnings: each test file runs in a fresh process.
Runtime.install({ logger: new DefaultLogger('WARN') });

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: inject('databaseUrl'),
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE_PREFIX: `t-${randomUUID().slice(0, 8)}-`,
    // Every request of a test comes from 127.0.0.1; operations.test.ts checks the limit itself.
    PUBLIC_ROUTE_LIMIT_PER_MINUTE: '1000000',
    // Likewise the durable limits and caps; rate-limits.test.ts and bounded-work.test.ts set them low.
    USER_RATE_LIMIT_PER_MINUTE: '1000000',
    USER_IP_RATE_LIMIT_PER_MINUTE: '1000000',
    REGISTER_LIMIT_PER_IP_PER_HOUR: '1000000',
    REGISTER_LIMIT_PER_EMAIL_PER_HOUR: '1000000',
    FORGOT_PASSWORD_LIMIT_PER_IP_PER_HOUR: '1000000',
    FORGOT_PASSWORD_LIMIT_PER_EMAIL_PER_HOUR: '1000000',
    MAX_OPEN_CAMPAIGNS_PER_CREATOR: '1000000',
    MAX_OPEN_IMPORTS_PER_CREATOR: '1000000',
    // campaign-schedules.test.ts runs schedules every second or two.
    MIN_SCHEDULE_INTERVAL_SECONDS: '1',
    ...overrides,
  });
}

export async function startHarness(options: { env?: Record<string, string>; workers?: boolean } = {}) {
  const standin = await startSesStandin({ port: 0 });
  // The API listens on a real port so that the Stripe stand-in can deliver its webhooks to it.
  const apiPort = await freePort();
  const stripeStandin = await startStripeStandin({
    port: 0,
    webhookUrl: `http://127.0.0.1:${apiPort}/api/v1/webhooks/stripe`,
    webhookSecret: testConfig().STRIPE_WEBHOOK_SECRET,
    webhookRetryDelaysMs: [100, 500, 1000],
  });
  const platformSandbox = await startPlatformSandbox({ port: 0, webhookRetryDelaysMs: [200, 1000] });
  const llmStandin = await startLlmStandin({ port: 0 });
  const config = testConfig({
    PLATFORM_SANDBOX_URL: platformSandbox.url,
    PUBLIC_API_URL: `http://127.0.0.1:${apiPort}`,
    SES_STANDIN_PORT: new URL(standin.url).port,
    STRIPE_STANDIN_PORT: new URL(stripeStandin.url).port,
    LLM_STANDIN_PORT: new URL(llmStandin.url).port,
    API_PORT: String(apiPort),
    ...options.env,
  });
  const { db, sql, close: closeDb } = createDb(config.DATABASE_URL, { max: 5 });
  const temporal = await connectTemporalClient(config);
  const logger = createLogger(config, 'test');
  const stripe = createStripeClient(config);
  const app: FastifyInstance = await buildApp({ config, db, temporal, stripe, logger });
  await app.listen({ host: '127.0.0.1', port: apiPort });

  let workers: Worker[] = [];
  let runs: Promise<void>[] = [];
  let connection: NativeConnection | undefined;
  if (options.workers !== false) {
    connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
    workers = await createWorkers({
      connection,
      client: temporal,
      config,
      db,
      email: createSesEmailSender(config),
      stripe,
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    runs = workers.map((w) => w.run());
  }

  const mailbox = (to: string) => fetchMailbox(standin.url, to);

  return {
    app,
    config,
    db,
    sql,
    temporal,
    stripe,
    stripeStandin,
    platformSandbox,
    llmStandin,
    mailbox,
    /** Waits for the newest mail to `to` whose text matches, and returns its token query parameter. */
    async tokenFromMail(to: string, subjectPattern: RegExp, skip = 0): Promise<string> {
      const mail = await waitFor(async () => {
        const messages = (await mailbox(to)).filter((m) => subjectPattern.test(m.subject));
        return messages.length > skip ? messages[0] : undefined;
      }, `mail "${subjectPattern}" to ${to}`);
      const token = /token=([\w-]+)/.exec(mail.text)?.[1];
      if (!token) throw new Error(`no token in mail: ${mail.text}`);
      return token;
    },
    async close() {
      for (const w of workers) w.shutdown();
      await Promise.all(runs);
      await connection?.close();
      await app.close();
      await temporal.connection.close();
      await closeDb();
      await standin.close();
      await stripeStandin.close();
      await platformSandbox.close();
      await llmStandin.close();
    },
  };
}

export type Harness = Awaited<ReturnType<typeof startHarness>>;

let counter = 0;
export const uniqueEmail = (tag = 'user') =>
  `${tag}-${Date.now().toString(36)}-${(counter++).toString(36)}-${randomUUID().slice(0, 6)}@example.com`;
export const STRONG_PASSWORD = 'violet-tangent-harbour-42';

/** Registers a user whose email is not verified yet (the onboarding's first step) and returns its id and email. */
export async function registerUnverified(h: Harness, body: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const email = (body.email as string | undefined) ?? uniqueEmail();
  const res = await h.app.inject({
    method: 'POST',
    url: '/api/v1/auth/register',
    payload: { email, password: STRONG_PASSWORD, ...body },
    headers,
  });
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`);
  return { userId: res.json().userId as string, email };
}

/**
 * Registers a user whose email is verified, as every tenant route needs (SPEC §1): marked in
 * Postgres and signalled to the onboarding, as POST /auth/verify-email does, without the mail.
 */
export async function register(h: Harness, body: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const user = await registerUnverified(h, body, headers);
  await h.db.update(users).set({ emailVerifiedAt: sql`now()` }).where(eq(users.id, user.userId));
  await createOnboardingProcess(h.temporal, h.config).emailVerified(user.userId);
  return user;
}

export async function login(h: Harness, email: string, password = STRONG_PASSWORD) {
  const res = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  return res.json() as { accessToken: string; refreshToken: string; expiresIn: number };
}

export const bearer = (accessToken: string) => ({ authorization: `Bearer ${accessToken}` });

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * The API over inject, for a harness started in beforeAll (hence the getter): `call` returns the
 * response whatever it is; `ok` insists on `status` and returns the JSON body (null for 204).
 */
export function apiCalls(harness: () => Harness) {
  const call = (headers: Record<string, string>, method: Method, url: string, payload?: object) =>
    harness().app.inject({ method, url: `/api/v1${url}`, headers, payload });
  const ok = async (headers: Record<string, string>, method: Method, url: string, payload?: object, status = 200) => {
    const res = await call(headers, method, url, payload);
    if (res.statusCode !== status) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
    return res.statusCode === 204 ? null : res.json();
  };
  return { call, ok };
}
