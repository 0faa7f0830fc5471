// Benchmark (not a test): send-queue throughput with the rate limit lifted: N messages queued for
// one creator, then messages/s from the wake-up to the last one recorded sent, through the
// `send-queue:<creatorId>` workflow, its batch activity and the sandbox platform (separate
// processes). Checks that the sandbox saw each message exactly once.
//
//   npm run bench:send-queue
//   BENCH_MESSAGES=20000 npm run bench:send-queue
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDb } from '../db/client.js';
import { fans } from '../db/schema.js';
import { apiClient } from '../dev/api-client.js';
import { loadConfig } from '../lib/config.js';
import { enqueueMessage, PRIORITY } from '../domain/outbox.js';
import { unsealConnection } from '../domain/platform-connections.js';
import { benchCreator, startBenchStack } from './bench-stack.js';
import { writeBenchmarkSection } from './bench-report.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 10_000);
const stack = await startBenchStack('sendq');
const { db, sql, close } = createDb(stack.databaseUrl, { max: 4 });

try {
  const json = apiClient(stack.base);
  const { userId, token: accessToken } = await benchCreator(stack.base);
  await json(
    'PUT',
    '/api/v1/platforms/onlyfans/connection',
    { adapter: 'sandbox', rateLimit: { messages: 100_000, perSeconds: 60 } },
    accessToken,
  );

  const fanRows = await db
    .insert(fans)
    .values(Array.from({ length: MESSAGES }, (_, i) => ({ creatorId: userId, handle: `bench_${i}` })))
    .returning({ id: fans.id, platform: fans.platform });
  await db.transaction(async (tx) => {
    for (const fan of fanRows.slice(1)) await enqueueMessage(tx, { creatorId: userId, fan, text: 'bench', priority: PRIORITY.low });
  });

  const t0 = performance.now();
  // The last message goes through the API, whose signal wakes the queue for all of them.
  const wake = await json('POST', '/api/v1/onlyfans/messages/send', { recipientId: fanRows[0]!.id, content: 'go' }, accessToken);
  if (wake.status !== 202) throw new Error(`send: ${wake.status} ${JSON.stringify(wake.body)}`);
  for (;;) {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from messages where creator_id = ${userId} and status = 'sent'`;
    if (row!.n >= MESSAGES) break;
    if (performance.now() - t0 > 30 * 60_000) throw new Error(`only ${row!.n} of ${MESSAGES} sent after 30 minutes`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const seconds = (performance.now() - t0) / 1000;

  const connection = unsealConnection(
    (await db.query.platformConnections.findFirst({ where: (c, { eq }) => eq(c.creatorId, userId) }))!,
    loadConfig({}).CREDENTIALS_KEY,
  );
  const log = (await (await fetch(`${stack.sandboxUrl}/_sandbox/accounts/${connection.credentials.accountId}/deliveries`)).json()) as {
    deliveries: { requests: number }[];
  };
  if (log.deliveries.length !== MESSAGES) throw new Error(`the sandbox saw ${log.deliveries.length} deliveries for ${MESSAGES} messages`);
  const resent = log.deliveries.filter((d) => d.requests > 1).length;

  const rows: [string, string][] = [
    ['messages', `${MESSAGES.toLocaleString('en-US')} queued for one creator, limit lifted to 1,000,000/min`],
    ['wake-up → last sent', `${seconds.toFixed(1)} s`],
    ['throughput', `${Math.round(MESSAGES / seconds).toLocaleString('en-US')} messages/s`],
    [
      'deliveries seen by the sandbox',
      `${log.deliveries.length.toLocaleString('en-US')} (${resent} sent more than once and answered as replays)`,
    ],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(32)} ${v}`);
  await writeBenchmarkSection(path.join(stack.root, 'docs', 'BENCHMARKS.md'), 'send-queue', {
    title: 'Send queue: throughput with the rate limit lifted',
    command: `BENCH_MESSAGES=${MESSAGES} npm run bench:send-queue`,
    environment: `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, Postgres: ${stack.postgresKind}, Temporal dev server (in memory); API, worker and sandbox platform as separate processes on this machine`,
    rows,
    notes:
      "One creator's queue is one workflow: it claims up to 500 due messages per batch activity, which sends them through the gateway (16 requests in flight per worker process, messages to one fan in order) and records each outcome. The sandbox platform replies to 30 % of messages through the signed inbound webhook, so the API takes that inbound load during the run as well.",
  });
} finally {
  await close();
  await stack.stop();
}
