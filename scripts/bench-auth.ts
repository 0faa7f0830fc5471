// Benchmark (not a test): register+verify flows per second, and GET /auth/me latency at a fixed
// request rate. Starts its own stack as processes (Temporal dev server in memory, Postgres from
// DATABASE_URL or embedded, mail stand-in, worker, API), drives it over HTTP, prints the figures
// and writes them into docs/BENCHMARKS.md with the command that produced them.
//
//   npm run bench:auth                       # defaults below
//   BENCH_FLOWS=400 BENCH_CONCURRENCY=40 BENCH_ME_RATE=300 npm run bench:auth
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { apiClient } from '../dev/api-client.js';
import { startBenchStack } from './bench-stack.js';
import { atFixedRate, percentile, writeBenchmarkSection } from './bench-report.js';

const FLOWS = Number(process.env.BENCH_FLOWS ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 20);
const ME_RATE = Number(process.env.BENCH_ME_RATE ?? 200);
const ME_SECONDS = Number(process.env.BENCH_ME_SECONDS ?? 15);
// How often a waiting user's client looks again (mailbox); part of the load, like a real frontend's.
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 200);
const PASSWORD = 'bench-password-violet-42';

const stack = await startBenchStack('auth');
const { base } = stack;

const json = apiClient(base);

/** One user's onboarding start: register, wait for the mail (as a person would), verify. */
async function flow(): Promise<number> {
  const t0 = performance.now();
  const email = `bench-${randomUUID()}@example.com`;
  const reg = await json('POST', '/api/v1/auth/register', { email, password: PASSWORD });
  if (reg.status !== 201) throw new Error(`register ${reg.status} ${JSON.stringify(reg.body)}`);
  let token: string | undefined;
  while (!token) {
    const mail = await json('GET', `/api/v1/dev/mailbox?to=${encodeURIComponent(email)}`);
    token = /token=([\w-]+)/.exec(mail.body.messages[0]?.text ?? '')?.[1];
    if (!token) await new Promise((r) => setTimeout(r, POLL_MS));
    if (performance.now() - t0 > 60_000) throw new Error('no verification mail within 60 s');
  }
  const verified = await json('POST', '/api/v1/auth/verify-email', { token });
  if (verified.status !== 200) throw new Error(`verify ${verified.status}`);
  return performance.now() - t0;
}

/** GET /auth/me at a fixed rate (open loop, see `atFixedRate`). */
const meAtFixedRate = (accessToken: string, rate: number, seconds: number) =>
  atFixedRate(rate, seconds, () => fetch(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${accessToken}` } }));

try {
  // /auth/me first, on a quiet stack (the flows leave workflow work behind them), after a warm-up.
  const email = `bench-me-${randomUUID()}@example.com`;
  await json('POST', '/api/v1/auth/register', { email, password: PASSWORD });
  const { accessToken } = (await json('POST', '/api/v1/auth/login', { email, password: PASSWORD })).body;
  await meAtFixedRate(accessToken, ME_RATE, 3);
  const me = await meAtFixedRate(accessToken, ME_RATE, ME_SECONDS);

  await Promise.all(Array.from({ length: 5 }, flow)); // warm-up: JIT, pools, workflow cache
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < FLOWS) {
        next += 1;
        latencies.push(await flow());
      }
    }),
  );
  const flowsPerSecond = FLOWS / ((performance.now() - started) / 1000);

  const command = `${Object.entries({
    BENCH_FLOWS: FLOWS,
    BENCH_CONCURRENCY: CONCURRENCY,
    BENCH_ME_RATE: ME_RATE,
    BENCH_ME_SECONDS: ME_SECONDS,
    BENCH_POLL_MS: POLL_MS,
  })
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')} npm run bench:auth`;
  const rows: [string, string][] = [
    ['register → mailbox → verify flows', `${FLOWS} flows, ${CONCURRENCY} concurrent`],
    ['flows per second', flowsPerSecond.toFixed(1)],
    ['flow latency p50 / p95 / p99 (ms)', [50, 95, 99].map((p) => percentile(latencies, p).toFixed(0)).join(' / ')],
    ['GET /auth/me offered rate (req/s)', `${ME_RATE} for ${ME_SECONDS} s after a 3 s warm-up (achieved ${me.achievedRate.toFixed(0)})`],
    [
      'GET /auth/me p50 / p99 / max (ms)',
      [50, 99]
        .map((p) => percentile(me.latencies, p).toFixed(2))
        .concat(Math.max(...me.latencies).toFixed(2))
        .join(' / '),
    ],
    ['GET /auth/me non-200 answers', String(me.errors)],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(40)} ${v}`);
  await writeBenchmarkSection(path.join(stack.root, 'docs', 'BENCHMARKS.md'), 'auth', {
    title: 'Auth: register + verify flows, GET /auth/me latency',
    command,
    environment: `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, Postgres: ${stack.postgresKind}, Temporal dev server (in memory); API, worker and mail stand-in as separate processes on this machine`,
    rows,
    notes:
      'A flow is what a new user does: POST /auth/register (argon2id hash, user row, onboarding workflow start), polling GET /dev/mailbox until the verification email arrives (workflow → activity → SES v2 stand-in), then POST /auth/verify-email (token consumed, workflow signalled). Register is dominated by argon2id at OWASP parameters (19 MiB, t=2), which is deliberate.',
  });
} finally {
  await stack.stop();
}
