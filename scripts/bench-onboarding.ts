// Benchmark (not a test): N concurrent full onboardings over HTTP against the local stand-ins
// (register → mail → verify → login → terms → Stripe Connect → KYC completed → activated), with
// flows/s and end-to-end p50/p95, beside the rate of a bare no-op workflow on the same Temporal
// server in the same run. Figures and the command go into docs/BENCHMARKS.md.
//
//   npm run bench:onboarding                          # 200 flows, 50 at a time
//   BENCH_FLOWS=400 BENCH_CONCURRENCY=100 npm run bench:onboarding
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { apiClient } from '../dev/api-client.js';
import { percentile, writeBenchmarkSection } from './bench-report.js';
import { startBenchStack } from './bench-stack.js';

const FLOWS = Number(process.env.BENCH_FLOWS ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const PASSWORD = 'bench-password-violet-42';
// How often a waiting client looks again (mailbox, status); part of the load, like a real frontend's.
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 200);

Runtime.install({ logger: new DefaultLogger('WARN') }); // the in-process no-op worker's logs
const stack = await startBenchStack('onboarding');
const { base } = stack;

const json = apiClient(base);

async function until<T>(what: string, check: () => Promise<T | undefined>, started: number): Promise<T> {
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() - started > 180_000) throw new Error(`${what}: nothing after 180 s`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** One creator's whole onboarding, as the frontend and the creator would do it. */
async function onboarding(): Promise<number> {
  const t0 = performance.now();
  const email = `bench-${randomUUID()}@example.com`;
  const expect = (res: { status: number; body: unknown }, status: number, what: string) => {
    if (res.status !== status) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as Record<string, string>;
  };
  expect(await json('POST', '/api/v1/auth/register', { email, password: PASSWORD }), 201, 'register');
  const token = await until(
    'verification mail',
    async () => {
      const mail = await json('GET', `/api/v1/dev/mailbox?to=${encodeURIComponent(email)}`);
      return /token=([\w-]+)/.exec(mail.body.messages[0]?.text ?? '')?.[1];
    },
    t0,
  );
  expect(await json('POST', '/api/v1/auth/verify-email', { token }), 200, 'verify');
  const { accessToken } = expect(await json('POST', '/api/v1/auth/login', { email, password: PASSWORD }), 200, 'login');
  expect(await json('POST', '/api/v1/auth/accept-terms', { termsVersion: '2026-11' }, accessToken), 200, 'terms');
  const { accountId } = await until(
    'connect/start',
    async () => {
      const res = await json('POST', '/api/v1/stripe/connect/start', {}, accessToken);
      return res.status === 200 ? (res.body as { accountId: string }) : undefined; // 422 until the terms signal is in
    },
    t0,
  );
  expect(await json('POST', `/api/v1/dev/stripe/accounts/${accountId}/complete`, {}, accessToken), 200, 'complete');
  await until(
    'activation',
    async () => ((await json('GET', '/api/v1/onboarding/status', undefined, accessToken)).body.step === 'activated' ? true : undefined),
    t0,
  );
  return performance.now() - t0;
}

async function runConcurrently(total: number, concurrency: number, task: () => Promise<number>) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, total) }, async () => {
      while (next < total) {
        next += 1;
        latencies.push(await task());
      }
    }),
  );
  return { latencies, seconds: (performance.now() - started) / 1000 };
}

/** The same number of no-op workflows at the same concurrency, through an in-process worker. */
async function noopBaseline(total: number, concurrency: number) {
  const taskQueue = `bench-noop-${randomUUID().slice(0, 8)}`;
  const nativeConnection = await NativeConnection.connect({ address: stack.temporalAddress });
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowsPath: path.join(path.dirname(fileURLToPath(import.meta.url)), 'bench-noop-workflow.ts'),
  });
  const client = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
  try {
    return await worker.runUntil(
      runConcurrently(total, concurrency, async () => {
        const t0 = performance.now();
        await client.workflow.execute('noopWorkflow', { taskQueue, workflowId: `bench-noop:${randomUUID()}` });
        return performance.now() - t0;
      }),
    );
  } finally {
    await client.connection.close();
    await nativeConnection.close();
  }
}

try {
  await runConcurrently(5, 5, onboarding); // warm-up
  const flows = await runConcurrently(FLOWS, CONCURRENCY, onboarding);
  const noop = await noopBaseline(FLOWS * 5, CONCURRENCY);

  const ms = (v: number) => v.toFixed(0);
  const rows: [string, string][] = [
    ['full onboardings', `${FLOWS}, ${CONCURRENCY} concurrent`],
    ['onboardings per second', (FLOWS / flows.seconds).toFixed(2)],
    [
      'end-to-end p50 / p95 / max (ms)',
      `${ms(percentile(flows.latencies, 50))} / ${ms(percentile(flows.latencies, 95))} / ${ms(Math.max(...flows.latencies))}`,
    ],
    ['no-op workflows (same server, same run)', `${FLOWS * 5}, ${CONCURRENCY} concurrent`],
    ['no-op workflows per second', (noop.latencies.length / noop.seconds).toFixed(1)],
    ['no-op p50 / p95 (ms)', `${ms(percentile(noop.latencies, 50))} / ${ms(percentile(noop.latencies, 95))}`],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(42)} ${v}`);
  await writeBenchmarkSection(path.join(stack.root, 'docs', 'BENCHMARKS.md'), 'onboarding', {
    title: 'Onboarding: concurrent full flows against the local stand-ins',
    command: `BENCH_FLOWS=${FLOWS} BENCH_CONCURRENCY=${CONCURRENCY} BENCH_POLL_MS=${POLL_MS} npm run bench:onboarding`,
    environment: `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, Postgres: ${stack.postgresKind}, Temporal dev server (in memory); API, one worker process, SES and Stripe stand-ins as separate processes; the load generator and the no-op worker in the benchmark process`,
    rows,
    notes:
      'One flow: register (argon2id), poll the mailbox for the link, verify (signal), login (argon2id), accept the terms (signal), POST /stripe/connect/start (update → account + link activities against the Stripe stand-in through the stripe SDK), POST /dev/stripe/accounts/:id/complete (stand-in → signed webhook → API → signal → account re-read activity → activation, welcome mail, marketing-analysis child), then poll the status until `activated`. The no-op line is the ceiling the same Temporal server gives a workflow that does nothing.',
  });
} finally {
  await stack.stop();
}
