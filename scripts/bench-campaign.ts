// Benchmark (not a test): one campaign to BENCH_RECIPIENTS fans (default 100,000) with the rate
// limit lifted: time to snapshot the recipients, deliveries per second end to end, and the largest
// history of any run of the campaign's and the send queue's workflows (continue-as-new keeps them
// small). Then, at the default limit (10/min), a campaign sent for BENCH_DEFAULT_SECONDS: the
// largest number of deliveries the sandbox saw in any sliding minute.
//
//   npm run bench:campaign
//   BENCH_RECIPIENTS=20000 BENCH_DEFAULT_SECONDS=120 npm run bench:campaign
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import postgres from 'postgres';
import { apiClient } from '../dev/api-client.js';
import { loadConfig } from '../lib/config.js';
import { decryptSecret } from '../lib/crypto.js';
import { benchCreator, startBenchStack } from './bench-stack.js';
import { writeBenchmarkSection } from './bench-report.js';

const RECIPIENTS = Number(process.env.BENCH_RECIPIENTS ?? 100_000);
const DEFAULT_SECONDS = Number(process.env.BENCH_DEFAULT_SECONDS ?? 180);

const stack = await startBenchStack('campaign');
const sql = postgres(stack.databaseUrl, { max: 2, onnotice: () => {} });
const temporal = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
const json = apiClient(stack.base);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function creator(rateLimit?: { messages: number; perSeconds: number }) {
  const c = await benchCreator(stack.base);
  await json('PUT', '/api/v1/platforms/onlyfans/connection', { adapter: 'sandbox', ...(rateLimit ? { rateLimit } : {}) }, c.token);
  return c;
}
async function addFans(userId: string, n: number) {
  await sql`insert into fans (creator_id, handle, tags) select ${userId}, 'fan_' || i, array['bench'] from generate_series(1, ${n}) i`;
}
async function deliveries(userId: string) {
  const [row] = await sql<{ sealed: string }[]>`select credentials_sealed as sealed from platform_connections where creator_id = ${userId}`;
  const account = (JSON.parse(decryptSecret(loadConfig({}).CREDENTIALS_KEY, row!.sealed)) as { accountId: string }).accountId;
  return (await (await fetch(`${stack.sandboxUrl}/_sandbox/accounts/${account}/deliveries`)).json()) as {
    deliveries: { deliveredAt: string; idempotencyKey: string }[];
    rejectedForRate: number;
  };
}
/** Every run (continue-as-new chain) of a workflow id, and the longest history among them. */
async function largestHistory(workflowId: string): Promise<{ runs: number; events: number }> {
  let runs = 0;
  let events = 0;
  for await (const w of temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    runs += 1;
    // Visibility has a run's length once it closed; a running one is asked directly.
    const length =
      w.status.name === 'RUNNING' ? (await temporal.workflow.getHandle(workflowId, w.runId).describe()).historyLength : w.historyLength;
    events = Math.max(events, length);
  }
  return { runs, events };
}

try {
  // 1. Limit lifted: throughput and history sizes.
  const big = await creator({ messages: 100_000, perSeconds: 60 });
  await addFans(big.userId, RECIPIENTS);
  const t0 = performance.now();
  const postedAt = Date.now();
  const started = await json(
    'POST',
    '/api/v1/messages/bulk',
    { campaignName: 'bench', content: 'hello', segment: { tags: ['bench'] } },
    big.token,
  );
  if (started.status !== 202) throw new Error(`bulk: ${started.status} ${JSON.stringify(started.body)}`);
  const { campaignId } = started.body as { campaignId: string };
  let snapshotSeconds = 0;
  for (;;) {
    if (!snapshotSeconds) {
      const [r] = await sql<{ n: number }[]>`select count(*)::int as n from campaign_recipients where campaign_id = ${campaignId}`;
      if (r!.n >= RECIPIENTS) snapshotSeconds = (performance.now() - t0) / 1000;
    }
    const c = await json('GET', `/api/v1/campaigns/${campaignId}`, undefined, big.token);
    if (c.body.status === 'completed') break;
    if (performance.now() - t0 > 60 * 60_000) throw new Error('not completed within an hour');
    await sleep(1_000);
  }
  const totalSeconds = (performance.now() - t0) / 1000;
  const seen = await deliveries(big.userId);
  const lastDelivery = Math.max(...seen.deliveries.map((d) => Date.parse(d.deliveredAt)));
  const deliverySeconds = (lastDelivery - postedAt) / 1000;
  if (seen.deliveries.length !== RECIPIENTS || new Set(seen.deliveries.map((d) => d.idempotencyKey)).size !== RECIPIENTS) {
    throw new Error(`the sandbox saw ${seen.deliveries.length} deliveries for ${RECIPIENTS} recipients`);
  }
  const campaignHistory = await largestHistory(`campaign:${campaignId}:1`);
  const queueHistory = await largestHistory(`send-queue:${big.userId}`);

  // 2. The default limit: no sliding minute over it.
  const paced = await creator();
  await addFans(paced.userId, 40);
  await json('POST', '/api/v1/messages/bulk', { campaignName: 'paced', content: 'hello', segment: { tags: ['bench'] } }, paced.token);
  await sleep(DEFAULT_SECONDS * 1000);
  const pacedSeen = await deliveries(paced.userId);
  const times = pacedSeen.deliveries.map((d) => Date.parse(d.deliveredAt)).sort((a, b) => a - b);
  const worstMinute = Math.max(0, ...times.map((t) => times.filter((u) => u >= t && u < t + 60_000).length));

  const rows: [string, string][] = [
    ['recipients (limit lifted)', RECIPIENTS.toLocaleString('en-US')],
    ['snapshot of the recipients', `${snapshotSeconds.toFixed(1)} s after POST /messages/bulk`],
    ['POST → last delivery', `${deliverySeconds.toFixed(1)} s`],
    ['deliveries per second, end to end', Math.round(RECIPIENTS / deliverySeconds).toLocaleString('en-US')],
    ['POST → campaign reported completed', `${totalSeconds.toFixed(1)} s (polled every second)`],
    ['deliveries the sandbox saw', `${seen.deliveries.length.toLocaleString('en-US')}, each key once`],
    ['campaign workflow: runs, largest history', `${campaignHistory.runs} runs, ${campaignHistory.events} events`],
    ['send-queue workflow: runs, largest history', `${queueHistory.runs} runs, ${queueHistory.events} events`],
    [`default limit (10/min): deliveries in ${DEFAULT_SECONDS} s`, `${times.length}`],
    [
      'default limit: most deliveries in any sliding minute',
      `${worstMinute} (limit 10; the sandbox refused ${pacedSeen.rejectedForRate} for rate)`,
    ],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(52)} ${v}`);
  await writeBenchmarkSection(path.join(stack.root, 'docs', 'BENCHMARKS.md'), 'campaign', {
    title: `Campaigns: ${RECIPIENTS.toLocaleString('en-US')} recipients, and the default limit`,
    command: `BENCH_RECIPIENTS=${RECIPIENTS} BENCH_DEFAULT_SECONDS=${DEFAULT_SECONDS} npm run bench:campaign`,
    environment: `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, Postgres: ${stack.postgresKind}, Temporal dev server (in memory); API, worker and sandbox platform as separate processes on this machine`,
    rows,
    notes:
      'The snapshot pages through the segment 5,000 fans per activity; the hand-off puts 1,000 recipients per activity into the outbox in one statement; the send queue drains it in batches of up to 500. Both workflows continue as new before 5,000 history events, so no run approaches Temporal’s 51,200-event limit whatever the audience size.',
  });
} finally {
  await sql.end();
  await temporal.connection.close();
  await stack.stop();
}
