// Benchmark (not a test): GET /crm/fans on a creator with 100,000 fans, at a fixed request rate
// (open loop), over the list's shapes: each sort's first page, a page deep in the list by cursor,
// a tag filter and a name/handle search. p50/p99 per shape and overall.
//
//   npm run bench:fans
//   BENCH_FANS=100000 BENCH_RATE=100 BENCH_SECONDS=20 npm run bench:fans
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { benchCreator, startBenchStack } from './bench-stack.js';
import { atFixedRate, percentile, writeBenchmarkSection } from './bench-report.js';

const FANS = Number(process.env.BENCH_FANS ?? 100_000);
const RATE = Number(process.env.BENCH_RATE ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);

const stack = await startBenchStack('fans');
const sql = postgres(stack.databaseUrl, { max: 1, onnotice: () => {} });
try {
  const { userId, token: accessToken } = await benchCreator(stack.base);
  // Fans as an import leaves them: names, values, tags on some, last seen over a year.
  await sql`
    insert into fans (creator_id, handle, name, value_cents, tags, last_seen_at, created_at)
    select ${userId}, 'fan_' || i, 'Fan number ' || i, (i::bigint * 7919) % 500000,
           case when i % 10 = 0 then array['vip'] when i % 3 = 0 then array['new'] else '{}' end,
           now() - ((i::bigint * 104729) % 31536000) * interval '1 second', now() - (${FANS} - i) * interval '1 second'
    from generate_series(1, ${FANS}) i`;
  await sql`analyze fans`;

  const headers = { authorization: `Bearer ${accessToken}` };
  const url = (query: string) => `${stack.base}/api/v1/crm/fans?${query}`;
  // A cursor 10 pages (500 fans) into the value order, as a user scrolling would hold.
  let cursor: string | null = null;
  for (let i = 0; i < 10; i++) {
    const page = (await (await fetch(url(`sort=value${cursor ? `&cursor=${cursor}` : ''}`), { headers })).json()) as {
      nextCursor: string | null;
    };
    cursor = page.nextCursor;
  }
  const shapes: [string, string][] = [
    ['sort=created (first page)', 'sort=created'],
    ['sort=value (first page)', 'sort=value'],
    ['sort=last_seen (first page)', 'sort=last_seen'],
    ['sort=value, 11th page by cursor', `sort=value&cursor=${cursor}`],
    ['tag=vip, sort=value', 'tag=vip&sort=value'],
    ['search=number 4242 (name or handle)', 'search=number%204242'],
  ];
  const perShape = shapes.map(() => [] as number[]);
  const request = (i: number) => {
    const k = i % shapes.length;
    const t0 = performance.now();
    return fetch(url(shapes[k]![1]), { headers }).then((res) => {
      perShape[k]!.push(performance.now() - t0);
      return res;
    });
  };
  await atFixedRate(RATE, 3, request); // warm-up
  for (const l of perShape) l.length = 0;
  const run = await atFixedRate(RATE, SECONDS, request);
  if (run.errors > 0) throw new Error(`${run.errors} requests did not answer 200`);

  const ms = (l: number[]) => `${percentile(l, 50).toFixed(1)} / ${percentile(l, 99).toFixed(1)}`;
  const rows: [string, string][] = [
    ['fans of the creator', FANS.toLocaleString('en-US')],
    ['offered rate', `${RATE} req/s for ${SECONDS} s after a 3 s warm-up (achieved ${run.achievedRate.toFixed(0)}), 50 fans a page`],
    ['all requests p50 / p99 (ms)', ms(run.latencies)],
    ...shapes.map(([name], k): [string, string] => [`${name} p50 / p99 (ms)`, ms(perShape[k]!)]),
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(48)} ${v}`);
  await writeBenchmarkSection(path.join(stack.root, 'docs', 'BENCHMARKS.md'), 'fans', {
    title: 'GET /crm/fans on a creator with 100k fans',
    command: `BENCH_FANS=${FANS} BENCH_RATE=${RATE} BENCH_SECONDS=${SECONDS} npm run bench:fans`,
    environment: `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, Postgres: ${stack.postgresKind}; API as a separate process, requests over HTTP from the benchmark process`,
    rows,
    notes:
      'Requests cycle through the shapes in turn. Every list is keyset-paginated on its own index (db/schema.ts); the search matches a substring of the name or handle.',
  });
} finally {
  await sql.end();
  await stack.stop();
}
