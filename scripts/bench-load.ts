// Benchmark (not a test): isolation under load and mixed API traffic (issue 10, items 8 and 9).
//  A. Baseline: new users onboard on a quiet stack; per step the HTTP latency, the status code and
//     how long until GET /onboarding/status shows the next step (polled every BENCH_POLL_MS).
//  B. Under load: a fleet of BENCH_CREATORS creators, each with BENCH_QUEUED_PER_CREATOR 1:1 messages
//     draining at the default platform limit (10/min) against the sandbox, and two hostile CSV
//     imports (a large file, and a few rows with cells hundreds of thousands of characters long)
//     running, while new users onboard: the same per-step figures.
//  C. BENCH_SECONDS of mixed API traffic at BENCH_RATE req/s, open loop (reads, 1:1 sends, fan writes,
//     signed inbound webhooks) while the fleet still drains: p50/p99 and answers per route.
// Figures and the command go into docs/BENCHMARKS.md.
//
//   npm run bench:load
//   BENCH_WORKER_LAYOUT=single npm run bench:load      # every task queue in one worker process (the old layout)
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDb } from '../db/client.js';
import { fans } from '../db/schema.js';
import { apiClient } from '../dev/api-client.js';
import { waitFor } from '../dev/toolchain.js';
import { enqueueMessage, PRIORITY } from '../domain/outbox.js';
import { SIGNATURE_HEADER, signPayload } from '../integrations/platforms/signature.js';
import { atFixedRateMix, envNumber, percentile, writeBenchmarkSection, type MixedRequest } from './bench-report.js';
import { benchCreator, cpuMeter, startBenchStack, wholeStackEnvironment } from './bench-stack.js';

const CREATORS = envNumber('BENCH_CREATORS', 300);
const QUEUED = envNumber('BENCH_QUEUED_PER_CREATOR', 30);
const ONBOARDINGS = envNumber('BENCH_ONBOARDINGS', 20);
const ONBOARDING_CONCURRENCY = envNumber('BENCH_ONBOARDING_CONCURRENCY', 2);
const IMPORT_ROWS = envNumber('BENCH_IMPORT_ROWS', 500_000);
const LONG_CELL_CHARS = envNumber('BENCH_LONG_CELL_CHARS', 300_000);
const RATE = envNumber('BENCH_RATE', 500);
const SECONDS = envNumber('BENCH_SECONDS', 60);
const POLL_MS = envNumber('BENCH_POLL_MS', 50);
const LAYOUT = process.env.BENCH_WORKER_LAYOUT ?? 'split';
const PASSWORD = 'bench-password-violet-42';

const stack = await startBenchStack('load', {
  // The fleet's tokens serve the whole run (set-up, phase B and C take longer than 15 minutes on 2 cores).
  env: { ACCESS_TOKEN_TTL_SECONDS: '14400' },
});
const { base } = stack;
const json = apiClient(base);
const { db, sql, close } = createDb(stack.databaseUrl, { max: 4 });
const say = (msg: string) => console.log(`[bench:load] ${msg}`);

// --- one new user's onboarding, step by step --------------------------------------------------
interface StepResult {
  step: string;
  status: number;
  ms: number;
  /** From the call until GET /onboarding/status shows the following step; null: not applicable. */
  advanceMs: number | null;
  /** register only: from the call until the verification mail is in the mailbox. */
  mailMs?: number;
}
const STEPS = ['register', 'verify-email', 'accept-terms', 'stripe/connect/start', 'KYC complete'] as const;

async function timed(method: string, url: string, body?: unknown, token?: string) {
  const t0 = performance.now();
  const res = await json(method, url, body, token);
  return { ...res, t0, ms: performance.now() - t0 };
}

async function until<T>(what: string, t0: number, check: () => Promise<T | undefined>): Promise<{ value: T; ms: number }> {
  for (;;) {
    const value = await check();
    if (value !== undefined) return { value, ms: performance.now() - t0 };
    if (performance.now() - t0 > 300_000) throw new Error(`${what}: nothing after 300 s`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function onboardOne(): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const email = `load-${randomUUID()}@example.com`;
  const stepOn = (token: string, step: string) => async () =>
    (await json('GET', '/api/v1/onboarding/status', undefined, token)).body?.step === step ? true : undefined;

  const reg = await timed('POST', '/api/v1/auth/register', { email, password: PASSWORD });
  const mail = await until('verification mail', reg.t0, async () => {
    const box = await json('GET', `/api/v1/dev/mailbox?to=${encodeURIComponent(email)}`);
    return /token=([\w-]+)/.exec(box.body?.messages?.[0]?.text ?? '')?.[1];
  });
  // The status shows verify_email from the start: what the user waits for is the mail.
  results.push({ step: 'register', status: reg.status, ms: reg.ms, advanceMs: null, mailMs: mail.ms });
  const { accessToken } = (await json('POST', '/api/v1/auth/login', { email, password: PASSWORD })).body as { accessToken: string };

  const verify = await timed('POST', '/api/v1/auth/verify-email', { token: mail.value });
  const afterVerify = await until('accept_terms shown', verify.t0, stepOn(accessToken, 'accept_terms'));
  results.push({ step: 'verify-email', status: verify.status, ms: verify.ms, advanceMs: afterVerify.ms });

  const terms = await timed('POST', '/api/v1/auth/accept-terms', { termsVersion: '2026-11' }, accessToken);
  const afterTerms = await until('stripe_connect shown', terms.t0, stepOn(accessToken, 'stripe_connect'));
  results.push({ step: 'accept-terms', status: terms.status, ms: terms.ms, advanceMs: afterTerms.ms });

  // The answer carries the account and its link: nothing further to wait for.
  const connect = await timed('POST', '/api/v1/stripe/connect/start', {}, accessToken);
  results.push({ step: 'stripe/connect/start', status: connect.status, ms: connect.ms, advanceMs: null });
  const accountId = (connect.body as { accountId?: string })?.accountId;
  if (!accountId) return results; // the failure is in the figures; the user cannot go on

  const complete = await timed('POST', `/api/v1/dev/stripe/accounts/${accountId}/complete`, {}, accessToken);
  const activated = await until('activated shown', complete.t0, stepOn(accessToken, 'activated'));
  results.push({ step: 'KYC complete', status: complete.status, ms: complete.ms, advanceMs: activated.ms });
  return results;
}

async function onboardMany(total: number, concurrency: number): Promise<StepResult[]> {
  const all: StepResult[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, total) }, async () => {
      while (next < total) {
        next += 1;
        all.push(...(await onboardOne()));
      }
    }),
  );
  return all;
}

const ms = (v: number) => (Number.isNaN(v) ? '–' : v < 10 ? v.toFixed(1) : v.toFixed(0));
function stepRows(label: string, results: StepResult[]): [string, string][] {
  return STEPS.map((step) => {
    const r = results.filter((x) => x.step === step);
    const statuses = [...new Set(r.map((x) => x.status))].sort().join('/');
    const http = r.map((x) => x.ms);
    const adv = r.map((x) => x.advanceMs ?? x.mailMs).filter((x): x is number => x !== undefined && x !== null);
    const advance = adv.length
      ? `${step === 'register' ? 'verification mail in' : 'status shows the next step'} p50 ${ms(percentile(adv, 50))} / p99 ${ms(percentile(adv, 99))} / max ${ms(Math.max(...adv))} ms`
      : 'the answer carries the account and link';
    return [
      `${label}: ${step}`,
      `${r.length} calls, status ${statuses || '–'}; HTTP p50 ${ms(percentile(http, 50))} / p99 ${ms(percentile(http, 99))} ms; ${advance}`,
    ];
  });
}
const allOk = (results: StepResult[]) => results.length === ONBOARDINGS * STEPS.length && results.every((r) => r.status < 300);
const worstAdvance = (results: StepResult[]) => Math.max(...results.map((r) => r.advanceMs ?? 0));
const worstMail = (results: StepResult[]) => Math.max(...results.map((r) => r.mailMs ?? 0));

// --- the fleet --------------------------------------------------------------------------------
interface FleetCreator {
  userId: string;
  token: string;
  connectionId: string;
  webhookSecret: string;
  fanIds: string[];
  handles: string[];
}

async function pool<T, R>(items: T[], concurrency: number, task: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await task(items[i]!, i);
      }
    }),
  );
  return out;
}

async function createFleet(n: number): Promise<FleetCreator[]> {
  return pool(
    Array.from({ length: n }, (_, i) => i),
    8,
    async (i) => {
      const { userId, token } = await benchCreator(base);
      const conn = await json('PUT', '/api/v1/platforms/onlyfans/connection', { adapter: 'sandbox' }, token);
      if (conn.status !== 201) throw new Error(`connection: ${conn.status} ${JSON.stringify(conn.body)}`);
      const rows = await db
        .insert(fans)
        .values(Array.from({ length: QUEUED + 1 }, (_, j) => ({ creatorId: userId, handle: `fleet_${i}_${j}` })))
        .returning({ id: fans.id, platform: fans.platform, handle: fans.handle });
      await db.transaction(async (tx) => {
        for (const fan of rows.slice(1))
          await enqueueMessage(tx, { creatorId: userId, fan, text: 'hello from the fleet', priority: PRIORITY.high });
      });
      const { id: connectionId, webhookSecret } = conn.body as { id: string; webhookSecret: string };
      return { userId, token, connectionId, webhookSecret, fanIds: rows.map((r) => r.id), handles: rows.map((r) => r.handle) };
    },
  );
}

const sentCount = async () => (await sql<{ n: number }[]>`select count(*)::int as n from messages where status = 'sent'`)[0]!.n;

// --- hostile imports --------------------------------------------------------------------------
async function uploadCsv(token: string, name: string, body: Blob): Promise<string> {
  const form = new FormData();
  form.append('file', body, name);
  const res = await fetch(`${base}/api/v1/onlyfans/import/csv`, {
    method: 'POST',
    body: form,
    headers: { authorization: `Bearer ${token}` },
  });
  const answer = (await res.json()) as { importId?: string };
  if (res.status !== 202 || !answer.importId) throw new Error(`import upload: ${res.status} ${JSON.stringify(answer)}`);
  return answer.importId;
}

async function hostileFiles(dir: string): Promise<{ large: string; longCells: string; largeBytes: number }> {
  await mkdir(dir, { recursive: true });
  const header = 'Username,Display Name,Email,Subscription Tier,Total Spent,Last Seen\r\n';
  const lines = [header];
  for (let i = 0; i < IMPORT_ROWS; i++)
    lines.push(
      `fan_${i},"Fan, number ${i}",fan${i}@example.com,${i % 3 ? 'basic' : 'vip'},"$${i % 5000}.${String(i % 100).padStart(2, '0')}",2026-11-${String((i % 28) + 1).padStart(2, '0')}T10:00:00Z\r\n`,
    );
  const large = path.join(dir, 'large.csv');
  await writeFile(large, lines.join(''));
  // A few rows whose money and date cells are hundreds of thousands of characters of near-misses.
  const long = (unit: string) => unit.repeat(Math.ceil(LONG_CELL_CHARS / unit.length)).slice(0, LONG_CELL_CHARS);
  const hostile = [
    header,
    `a,A,a@example.com,basic,"${long('1 ')}x",2026-11-01\r\n`,
    `b,B,b@example.com,basic,"$${long('1,000')}.5x",2026-11-01\r\n`,
    `c,C,c@example.com,basic,12.00,"2026-11-01${long(' ')}x"\r\n`,
    `d,D,d@example.com,basic,"${long('-')}1","Nov 1, 2026,${long(' at')}"\r\n`,
    `e,"${long('é')}",e@example.com,basic,"(${long('9')}",${long('1/')}\r\n`,
  ].join('');
  const longCells = path.join(dir, 'long-cells.csv');
  await writeFile(longCells, hostile);
  return { large, longCells, largeBytes: Buffer.byteLength(lines.join('')) };
}

const importState = async (id: string, token: string) =>
  (await json('GET', `/api/v1/imports/${id}`, undefined, token)).body as { status: string; processedRows: number; errorCount: number };

// --- main -------------------------------------------------------------------------------------
try {
  say(`stack up (${stack.workers.map((w) => `${w.name}: ${w.areas.join('+')}`).join('; ')}); warming up`);
  await onboardMany(2, 2);

  say(`A. baseline: ${ONBOARDINGS} onboardings, ${ONBOARDING_CONCURRENCY} at a time, quiet stack`);
  const cpuA = cpuMeter(stack.pids);
  const baseline = await onboardMany(ONBOARDINGS, ONBOARDING_CONCURRENCY);
  const cpuBaseline = cpuA();
  for (const [k, v] of stepRows('A. quiet', baseline)) console.log(`${k.padEnd(42)} ${v}`);

  say(`B. creating the fleet: ${CREATORS} creators with ${QUEUED} queued 1:1 messages each`);
  const tFleet = performance.now();
  const fleet = await createFleet(CREATORS);
  say(`fleet ready in ${((performance.now() - tFleet) / 1000).toFixed(0)} s; writing the hostile files`);
  const files = await hostileFiles(path.join(stack.env.DATA_DIR!, 'bench-files'));

  // Wake every queue through the API (each send's signal starts or wakes its creator's queue).
  const sent0 = await sentCount();
  const tDrain = performance.now();
  await pool(fleet, 16, async (c) => {
    const res = await json('POST', '/api/v1/onlyfans/messages/send', { recipientId: c.fanIds[0], content: 'wake' }, c.token);
    if (res.status !== 202) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`);
  });
  const importLarge = await uploadCsv(fleet[0]!.token, 'large.csv', new Blob([readFileSync(files.large)]));
  const importLong = await uploadCsv(fleet[1]!.token, 'long-cells.csv', new Blob([readFileSync(files.longCells)]));
  const tImports = performance.now();
  // Both imports are in the worker's hands (or already settled) before the onboardings start.
  await waitFor('the imports to start', async () => (await importState(importLarge, fleet[0]!.token)).status !== 'queued', {
    timeoutMs: 300_000,
    intervalMs: 100,
  });
  let longSettledMs: number | null = null;
  const watchLong = (async () => {
    for (;;) {
      const s = await importState(importLong, fleet[1]!.token);
      if (s.status === 'completed' || s.status === 'failed') return void (longSettledMs = performance.now() - tImports);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();

  say(`B. ${ONBOARDINGS} onboardings while the fleet drains and the imports run`);
  const cpuB = cpuMeter(stack.pids);
  const sentB0 = await sentCount();
  const tB = performance.now();
  const underLoad = await onboardMany(ONBOARDINGS, ONBOARDING_CONCURRENCY);
  const bSeconds = (performance.now() - tB) / 1000;
  const sentDuringB = (await sentCount()) - sentB0;
  const cpuUnderLoad = cpuB();
  const largeAfterB = await importState(importLarge, fleet[0]!.token);
  const longAfterB = await importState(importLong, fleet[1]!.token);
  for (const [k, v] of stepRows('B. under load', underLoad)) console.log(`${k.padEnd(42)} ${v}`);
  console.log(`imports at the end of B: large ${largeAfterB.status} (${largeAfterB.processedRows} rows), long cells ${longAfterB.status}`);

  say(`C. ${SECONDS} s of mixed traffic at ${RATE} req/s`);
  const mixCreators = fleet.slice(0, Math.min(100, fleet.length));
  const to = new Date().toISOString();
  const from = new Date(Date.now() - 30 * 86_400_000).toISOString();
  const get = (url: string, token: string) => () => fetch(`${base}/api/v1${url}`, { headers: { authorization: `Bearer ${token}` } });
  const post = (url: string, body: unknown, token: string) => () =>
    fetch(`${base}/api/v1${url}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  // 60 % reads, 15 % 1:1 sends, 10 % fan writes, 15 % inbound webhooks.
  const mix = (i: number): MixedRequest => {
    const c = mixCreators[i % mixCreators.length]!;
    const slot = i % 20;
    const fan = 1 + (Math.floor(i / mixCreators.length) % QUEUED);
    if (slot < 3) return { route: 'GET /crm/fans', expect: 200, send: get('/crm/fans?limit=50', c.token) };
    if (slot < 6) return { route: 'GET /crm/conversations', expect: 200, send: get('/crm/conversations?limit=50', c.token) };
    if (slot < 8) return { route: 'GET /onboarding/status', expect: 200, send: get('/onboarding/status', c.token) };
    if (slot < 10) return { route: 'GET /auth/me', expect: 200, send: get('/auth/me', c.token) };
    if (slot < 12)
      return {
        route: 'GET /analytics/overview',
        expect: 200,
        send: get(`/analytics/overview?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, c.token),
      };
    if (slot < 15)
      return {
        route: 'POST /onlyfans/messages/send',
        expect: 202,
        send: post('/onlyfans/messages/send', { recipientId: c.fanIds[fan], content: `load ${i}` }, c.token),
      };
    if (slot < 17) return { route: 'POST /crm/fans', expect: 201, send: post('/crm/fans', { handle: `load_${i}` }, c.token) };
    const event = JSON.stringify({
      id: `evt_load_${i}`,
      type: 'message.received',
      createdAt: new Date().toISOString(),
      data: { fanHandle: c.handles[fan], text: `reply ${i}`, messageId: `msg_load_${i}`, sentAt: new Date().toISOString() },
    });
    return {
      route: 'POST /platforms/onlyfans/webhook',
      expect: 200,
      send: () =>
        fetch(`${base}/api/v1/platforms/onlyfans/webhook?connectionId=${c.connectionId}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signPayload(c.webhookSecret, event) },
          body: event,
        }),
    };
  };
  const cpuC = cpuMeter(stack.pids);
  const load = await atFixedRateMix(RATE, SECONDS, mix);
  const cpuMix = cpuC();
  const drainedMs = performance.now() - tDrain;
  const sentTotal = (await sentCount()) - sent0;
  const largeAtEnd = await importState(importLarge, fleet[0]!.token);

  // --- report ---------------------------------------------------------------------------------
  const rows: [string, string][] = [
    ['worker layout', stack.workers.map((w) => `${w.name} (${w.areas.join(', ')})`).join('; ')],
    ...stepRows('A. quiet', baseline),
    ['A. CPU (share of one core)', cpuBaseline],
    [
      'B. load',
      `${CREATORS} creators × ${QUEUED} queued 1:1 messages at 10/min each against the sandbox (${sentDuringB} sent during B, ${(sentDuringB / bSeconds).toFixed(1)}/s); ` +
        `imports: ${IMPORT_ROWS.toLocaleString('en-US')} rows (${(files.largeBytes / 2 ** 20).toFixed(0)} MiB; ${largeAfterB.status}, ${largeAfterB.processedRows.toLocaleString('en-US')} rows at the end of B) ` +
        `and 5 rows with ${LONG_CELL_CHARS.toLocaleString('en-US')}-character cells (${longAfterB.status} at the end of B)`,
    ],
    ...stepRows('B. under load', underLoad),
    ['B. CPU (share of one core)', cpuUnderLoad],
    ['B. long-cell import settled after', longSettledMs === null ? 'not yet' : `${(longSettledMs / 1000).toFixed(1)} s`],
  ];
  const mixRoutes = [...load.routes.entries()].sort(([a], [b]) => a.localeCompare(b));
  let fiveXX = 0;
  for (const [route, s] of mixRoutes) {
    const answers = [...s.statuses.entries()].sort(([a], [b]) => a - b);
    const unexpected = answers.filter(([code]) => code !== s.expect);
    fiveXX += answers.filter(([code]) => code >= 500).reduce((n, [, k]) => n + k, 0);
    rows.push([
      `C. ${route}`,
      `${s.latencies.length + s.failed} requests; p50 ${ms(percentile(s.latencies, 50))} / p99 ${ms(percentile(s.latencies, 99))} ms; ${s.statuses.get(s.expect) ?? 0} × ${s.expect}` +
        (unexpected.length ? `, unexpected: ${unexpected.map(([code, k]) => `${k} × ${code}`).join(', ')}` : '') +
        (s.failed ? `, ${s.failed} without an answer` : ''),
    ]);
  }
  const allLatencies = mixRoutes.flatMap(([, s]) => s.latencies);
  rows.push(
    [
      'C. all routes',
      `offered ${RATE} req/s for ${SECONDS} s, achieved ${load.achievedRate.toFixed(0)} req/s; p50 ${ms(percentile(allLatencies, 50))} / p99 ${ms(percentile(allLatencies, 99))} ms; 5xx: ${fiveXX}`,
    ],
    [
      'C. load generator',
      `departure lag p50 ${ms(percentile(load.lagMs, 50))} / p99 ${ms(percentile(load.lagMs, 99))} / max ${ms(Math.max(...load.lagMs))} ms; its CPU ${Math.round(load.generatorCpu * 100)} % of a core`,
    ],
    ['C. CPU (share of one core)', cpuMix],
    [
      'fleet drain',
      `${sentTotal.toLocaleString('en-US')} messages sent in ${(drainedMs / 1000).toFixed(0)} s since the wake-up; large import ${largeAtEnd.status}, ${largeAtEnd.processedRows.toLocaleString('en-US')} rows`,
    ],
  );
  const bOk = allOk(underLoad);
  const bWorst = worstAdvance(underLoad);
  const verdict =
    `Under load: every onboarding step 2xx: ${bOk ? 'yes' : 'NO'}; slowest status advance ${ms(bWorst)} ms (${bWorst <= 1000 ? 'within' : 'NOT within'} 1 s of the call; quiet: ${ms(worstAdvance(baseline))} ms); ` +
    `slowest verification mail ${ms(worstMail(underLoad))} ms (quiet: ${ms(worstMail(baseline))} ms). Mixed traffic: ${fiveXX} 5xx, ${load.achievedRate.toFixed(0)} of ${RATE} req/s achieved.`;

  console.log('');
  for (const [k, v] of rows) console.log(`${k.padEnd(42)} ${v}`);
  console.log(`\n${verdict}\n`);
  await watchLong.catch(() => {});

  const command = [
    `BENCH_CREATORS=${CREATORS}`,
    `BENCH_QUEUED_PER_CREATOR=${QUEUED}`,
    `BENCH_ONBOARDINGS=${ONBOARDINGS}`,
    `BENCH_IMPORT_ROWS=${IMPORT_ROWS}`,
    `BENCH_LONG_CELL_CHARS=${LONG_CELL_CHARS}`,
    `BENCH_RATE=${RATE}`,
    `BENCH_SECONDS=${SECONDS}`,
    `BENCH_WORKER_LAYOUT=${LAYOUT}`,
    'npm run bench:load',
  ].join(' ');
  await writeBenchmarkSection(path.join(stack.root, 'docs', 'BENCHMARKS.md'), LAYOUT === 'split' ? 'load' : `load-${LAYOUT}`, {
    title: `Isolation under load and mixed API traffic${LAYOUT === 'split' ? '' : ` (worker layout: ${LAYOUT})`}`,
    command,
    environment: wholeStackEnvironment(stack.postgresKind),
    rows,
    notes: `${verdict} An onboarding step's "next step" time runs from sending the call until GET /onboarding/status (polled every ${POLL_MS} ms) shows the following step; for register it is until the verification mail is in the mailbox. Phase C runs while the fleet is still draining.`,
  });
} finally {
  await close();
  await stack.stop();
}
