// Benchmark (not a test): `POST /onlyfans/messages/send` alone, open loop at BENCH_RATE req/s for
// BENCH_SECONDS (issue 12: ≥ 500 req/s with p99 ≤ 50 ms). BENCH_CREATORS creators with
// BENCH_FANS_PER_CREATOR fans each send round robin, every request with its own Idempotency-Key
// (as the frontend sends them). The send queues drain at the default limit meanwhile, so the API
// path is measured with workers busy; each queue keeps a backlog, so it stays awake and the sends
// measured make no Temporal call (an idle creator's first send signals). Figures and the command
// go into docs/BENCHMARKS.md.
//
//   npm run bench:send-api
//   BENCH_RATE=300 BENCH_SECONDS=20 npm run bench:send-api
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createDb } from '../db/client.js';
import { atFixedRateMix, envNumber, percentile, writeBenchmarkSection } from './bench-report.js';
import { benchCreatorsWithFans, cpuMeter, oneToOneSend, startBenchStack, wholeStackEnvironment } from './bench-stack.js';

const CREATORS = envNumber('BENCH_CREATORS', 100);
const FANS = envNumber('BENCH_FANS_PER_CREATOR', 20);
const RATE = envNumber('BENCH_RATE', 500);
const SECONDS = envNumber('BENCH_SECONDS', 30);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 5);
const say = (msg: string) => console.log(`[bench:send-api] ${msg}`);
const ms = (v: number) => v.toFixed(1);

const stack = await startBenchStack('send_api', { env: { ACCESS_TOKEN_TTL_SECONDS: '3600' } });
const { db, close } = createDb(stack.databaseUrl, { max: 4 });
try {
  say(`${CREATORS} creators × ${FANS} fans`);
  const creators = await benchCreatorsWithFans(stack.base, db, CREATORS, FANS, 'send_api');
  const send = (i: number) => {
    const c = creators[i % creators.length]!;
    return oneToOneSend(stack.base, c.token, c.fanIds[Math.floor(i / creators.length) % FANS]!, `bench ${i}`, {
      'idempotency-key': randomUUID(),
    });
  };
  // Every creator's first send creates its sandbox connection and starts its queue: not the steady state.
  say(`warm-up: ${WARMUP_SECONDS} s at ${Math.min(RATE, 100)} req/s`);
  await atFixedRateMix(Math.min(RATE, 100), WARMUP_SECONDS, send);

  say(`${SECONDS} s at ${RATE} req/s`);
  const cpu = cpuMeter(stack.pids);
  const load = await atFixedRateMix(RATE, SECONDS, send);
  const cpuShares = cpu();
  const stats = load.routes.get('POST /onlyfans/messages/send')!;
  const statuses = [...stats.statuses.entries()].sort(([a], [b]) => a - b);
  const fiveXX = statuses.filter(([code]) => code >= 500).reduce((n, [, k]) => n + k, 0);
  const other = statuses.filter(([code]) => code !== 202).reduce((n, [, k]) => n + k, 0);
  const slowest = stats.latencies.reduce((a, b) => Math.max(a, b), 0);
  const p50 = percentile(stats.latencies, 50);
  const p99 = percentile(stats.latencies, 99);
  const rows: [string, string][] = [
    ['offered', `${RATE} req/s for ${SECONDS} s (${load.total} requests), ${CREATORS} creators × ${FANS} fans, an Idempotency-Key on each`],
    ['achieved', `${load.achievedRate.toFixed(0)} req/s`],
    ['latency', `p50 ${ms(p50)} / p99 ${ms(p99)} / max ${ms(slowest)} ms`],
    ['answers', statuses.map(([code, k]) => `${k} × ${code}`).join(', ') + (stats.failed ? `, ${stats.failed} without an answer` : '')],
    [
      'load generator',
      `departure lag p50 ${ms(percentile(load.lagMs, 50))} / p99 ${ms(percentile(load.lagMs, 99))} ms; its CPU ${Math.round(load.generatorCpu * 100)} % of a core`,
    ],
    ['CPU (share of one core)', cpuShares],
  ];
  const verdict =
    `${load.achievedRate.toFixed(0)} of ${RATE} req/s, p99 ${ms(p99)} ms, ${fiveXX} 5xx, ${other} other non-202 answers, ` +
    `${stats.failed} without an answer (target: ≥ 500 req/s with p99 ≤ 50 ms).`;
  console.log('');
  for (const [k, v] of rows) console.log(`${k.padEnd(26)} ${v}`);
  console.log(`\n${verdict}\n`);
  await writeBenchmarkSection(path.join(stack.root, 'docs', 'BENCHMARKS.md'), `send-api-${RATE}`, {
    title: `The send API alone at ${RATE} req/s (POST /onlyfans/messages/send)`,
    command: `BENCH_CREATORS=${CREATORS} BENCH_FANS_PER_CREATOR=${FANS} BENCH_RATE=${RATE} BENCH_SECONDS=${SECONDS} npm run bench:send-api`,
    environment: wholeStackEnvironment(stack.postgresKind),
    rows,
    notes: `${verdict} Open loop: requests leave on schedule whatever the answers do. The creators' queues drain at the default 10/min meanwhile.`,
  });
} finally {
  await close();
  await stack.stop();
}
