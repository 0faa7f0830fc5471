// Benchmark (not a test), issue 12: a fleet of BENCH_CREATORS creators (1,000), each sending
// BENCH_MESSAGES_PER_CREATOR 1:1 messages (20) through `POST /onlyfans/messages/send` at
// BENCH_SEND_RATE req/s (250, round robin over the creators), drained at the default platform limit
// (SEND_RATE_LIMIT_PER_MINUTE, 10 a minute) against the sandbox platform. Per creator, from its own
// first delivery to its last (the sandbox's clock): the ideal is (messages - 1) slots of
// 60 s / limit, utilisation = ideal / p95 actual (a little over 100 % is possible: a queue's
// first delivery waits for its workflow to start, so the slots after it look slightly short). Also: aggregate deliveries/s, the most
// deliveries any creator's account saw in a sliding minute (over the limit = a violation), the
// sandbox's 429s, and the send API's latency while the fleet drains. Figures and the command go
// into docs/BENCHMARKS.md.
//
//   npm run bench:fleet
//   BENCH_CREATORS=200 BENCH_SEND_RATE=100 npm run bench:fleet
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { eq } from 'drizzle-orm';
import { createDb } from '../db/client.js';
import { platformConnections } from '../db/schema.js';
import { unsealConnection } from '../domain/platform-connections.js';
import { loadConfig } from '../lib/config.js';
import { atFixedRateMix, envNumber, percentile, writeBenchmarkSection } from './bench-report.js';
import { benchCreatorsWithFans, cpuMeter, oneToOneSend, startBenchStack, wholeStackEnvironment } from './bench-stack.js';

const CREATORS = envNumber('BENCH_CREATORS', 1_000);
const MESSAGES = envNumber('BENCH_MESSAGES_PER_CREATOR', 20);
const SEND_RATE = envNumber('BENCH_SEND_RATE', 250);
const TIMEOUT_MINUTES = envNumber('BENCH_TIMEOUT_MINUTES', 30);
const say = (msg: string) => console.log(`[bench:fleet] ${msg}`);
const ms = (v: number) => v.toFixed(1);

const stack = await startBenchStack('fleet', { env: { ACCESS_TOKEN_TTL_SECONDS: '14400' } });
const { db, sql, close } = createDb(stack.databaseUrl, { max: 4 });
const config = loadConfig({});
try {
  say(`${CREATORS} creators × ${MESSAGES} fans`);
  const t0 = performance.now();
  const creators = await benchCreatorsWithFans(stack.base, db, CREATORS, MESSAGES, 'fleet');
  say(`fleet ready in ${((performance.now() - t0) / 1000).toFixed(0)} s; sending ${CREATORS * MESSAGES} messages at ${SEND_RATE} req/s`);

  const cpu = cpuMeter(stack.pids);
  const tSend = performance.now();
  const load = await atFixedRateMix(SEND_RATE, (CREATORS * MESSAGES) / SEND_RATE, (i) => {
    const c = creators[i % CREATORS]!;
    return oneToOneSend(stack.base, c.token, c.fanIds[Math.floor(i / CREATORS) % MESSAGES]!, `fleet ${i}`);
  });
  const accepted = load.routes.get('POST /onlyfans/messages/send')!;
  const queued = accepted.statuses.get(202) ?? 0;
  say(`${queued} queued; waiting for the fleet to drain`);
  for (;;) {
    const [row] = await sql<
      { n: number }[]
    >`select count(*)::int as n from messages where direction = 'out' and status in ('sent', 'dead')`;
    if (row!.n >= queued) break;
    if (performance.now() - tSend > TIMEOUT_MINUTES * 60_000)
      throw new Error(`only ${row!.n} of ${queued} settled after ${TIMEOUT_MINUTES} minutes`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
  const cpuShares = cpu();

  // Each creator's deliveries as its sandbox account saw them.
  const limitSeconds = 60;
  const idealMs = ((MESSAGES - 1) * limitSeconds * 1000) / config.SEND_RATE_LIMIT_PER_MINUTE;
  const drains: number[] = [];
  let worstMinute = 0;
  let violations = 0;
  let rejected = 0;
  let delivered = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const c of creators) {
    const row = await db.query.platformConnections.findFirst({ where: eq(platformConnections.creatorId, c.userId) });
    if (!row) continue;
    const { accountId } = unsealConnection(row, config.CREDENTIALS_KEY).credentials;
    const log = (await (await fetch(`${stack.sandboxUrl}/_sandbox/accounts/${accountId}/deliveries`)).json()) as {
      deliveries: { deliveredAt: string }[];
      rejectedForRate: number;
    };
    const times = log.deliveries.map((d) => Date.parse(d.deliveredAt)).sort((a, b) => a - b);
    if (times.length === 0) continue;
    delivered += times.length;
    rejected += log.rejectedForRate;
    drains.push(times.at(-1)! - times[0]!);
    first = Math.min(first, times[0]!);
    last = Math.max(last, times.at(-1)!);
    let most = 0;
    for (let a = 0, b = 0; a < times.length; a++) {
      while (b < times.length && times[b]! < times[a]! + limitSeconds * 1000) b++;
      most = Math.max(most, b - a);
    }
    worstMinute = Math.max(worstMinute, most);
    if (most > config.SEND_RATE_LIMIT_PER_MINUTE) violations += 1;
  }
  const p50 = percentile(drains, 50);
  const p95 = percentile(drains, 95);
  const utilisation = idealMs / p95;
  const rows: [string, string][] = [
    [
      'fleet',
      `${CREATORS} creators × ${MESSAGES} 1:1 messages at ${config.SEND_RATE_LIMIT_PER_MINUTE}/min each, sent through the API at ${SEND_RATE} req/s`,
    ],
    ['ideal drain (the limit’s floor)', `${(idealMs / 1000).toFixed(0)} s from a creator’s first delivery`],
    ['actual drain per creator', `p50 ${(p50 / 1000).toFixed(1)} s / p95 ${(p95 / 1000).toFixed(1)} s`],
    ['utilisation (ideal / p95)', `${(utilisation * 100).toFixed(1)} %`],
    [
      'deliveries',
      `${delivered} of ${queued} queued; ${(delivered / ((last - first) / 1000)).toFixed(1)}/s over the fleet’s ${((last - first) / 1000).toFixed(0)} s`,
    ],
    [
      'most in any creator’s sliding minute',
      `${worstMinute} (limit ${config.SEND_RATE_LIMIT_PER_MINUTE}); ${violations} creators over it; ${rejected} 429s from the sandbox`,
    ],
    [
      'send API while the fleet drains',
      `${load.achievedRate.toFixed(0)} of ${SEND_RATE} req/s; p50 ${ms(percentile(accepted.latencies, 50))} / p99 ${ms(percentile(accepted.latencies, 99))} ms; ` +
        [...accepted.statuses.entries()].map(([code, k]) => `${k} × ${code}`).join(', ') +
        (accepted.failed ? `, ${accepted.failed} without an answer` : ''),
    ],
    ['CPU (share of one core), from the first send to drained', cpuShares],
  ];
  const verdict = `Utilisation ${(utilisation * 100).toFixed(1)} % (target ≥ 95 %), ${violations} sliding-window violations (target 0); send API p99 ${ms(percentile(accepted.latencies, 99))} ms at ${load.achievedRate.toFixed(0)} req/s.`;
  console.log('');
  for (const [k, v] of rows) console.log(`${k.padEnd(40)} ${v}`);
  console.log(`\n${verdict}\n`);
  await writeBenchmarkSection(path.join(stack.root, 'docs', 'BENCHMARKS.md'), 'fleet', {
    title: 'A fleet of creators draining at their platform limit',
    command: `BENCH_CREATORS=${CREATORS} BENCH_MESSAGES_PER_CREATOR=${MESSAGES} BENCH_SEND_RATE=${SEND_RATE} npm run bench:fleet`,
    environment: wholeStackEnvironment(stack.postgresKind),
    rows,
    notes: `${verdict} A creator's drain runs from its first delivery to its last, on the sandbox's clock; the ideal is ${MESSAGES - 1} pacing slots of ${60 / config.SEND_RATE_LIMIT_PER_MINUTE} s.`,
  });
} finally {
  await close();
  await stack.stop();
}
