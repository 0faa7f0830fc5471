// Benchmark (not a test): what the LLM gateway adds around a provider call, and how fast budget
// reservations go under contention (SPEC §5). In this process: a fresh migrated database (Postgres
// from DATABASE_URL, else an embedded one), the LLM stand-in on a free port, the gateway and the
// budget functions of domain/llm-budget.ts. Figures and the command go into docs/BENCHMARKS.md.
//
// (a) BENCH_CALLS sequential calls, each step of the gateway's path timed on its own: estimate +
//     reserve (tokenizer, advisory lock, spend check, row), the provider request, settle. Then the
//     same number of gateway.complete() calls beside bare SDK requests to the stand-in.
// (b) BENCH_CONCURRENCY callers reserving for BENCH_SECONDS: all on one creator (serialised by its
//     lock), then each on its own creator; one caller alone as the baseline, and one caller on a
//     creator with BENCH_PRIOR_CALLS calls this month already (the spend check sums them).
//
//   DATABASE_URL=postgres://... npm run bench:llm      # else an embedded PostgreSQL
//   BENCH_CALLS=2000 BENCH_CONCURRENCY=32 BENCH_SECONDS=10 npm run bench:llm
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { eq, sql } from 'drizzle-orm';
import OpenAI from 'openai';
import postgres from 'postgres';
import { createDb } from '../db/client.js';
import { runMigrations } from '../db/migrate.js';
import { llmCalls, users } from '../db/schema.js';
import { startEmbeddedPostgres } from '../dev/embedded-postgres.js';
import { freePort, projectRoot } from '../dev/toolchain.js';
import { costMicrocents, countLlmRequest, reserveLlmCall, setBudget, settleLlmCall } from '../domain/llm-budget.js';
import { type ChatMessage, createLlmGateway } from '../integrations/llm/gateway.js';
import { loadConfig } from '../lib/config.js';
import { startLlmStandin } from '../standins/llm/index.js';
import { envNumber, percentile, writeBenchmarkSection } from './bench-report.js';

const CALLS = envNumber('BENCH_CALLS', 2000);
const CONCURRENCY = envNumber('BENCH_CONCURRENCY', 32);
const SECONDS = envNumber('BENCH_SECONDS', 10);
// A busy creator's month of calls (a suggestion on every inbound message): every reservation sums them.
const PRIOR_CALLS = envNumber('BENCH_PRIOR_CALLS', 20_000);
const MAX_TOKENS = 200;
const say = (msg: string) => console.log(`[bench:llm] ${msg}`);
const ms = (v: number) => v.toFixed(2);
const p50p99 = (v: number[]) => `p50 ${ms(percentile(v, 50))} / p99 ${ms(percentile(v, 99))} ms`;

const stops: (() => Promise<unknown>)[] = [];
let serverUrl = process.env.DATABASE_URL;
if (!serverUrl) {
  const pg = await startEmbeddedPostgres({
    dataDir: path.join(projectRoot, '.data', 'bench', 'postgres'),
    port: await freePort(),
    database: 'postgres',
    postgresFlags: ['-c', 'fsync=off'],
  });
  stops.push(() => pg.stop());
  serverUrl = pg.url;
}
const database = `ofm_bench_llm_${Date.now()}`;
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
await admin.unsafe(`create database ${database}`);
const databaseUrl = Object.assign(new URL(serverUrl), { pathname: `/${database}` }).toString();

/** A prompt as a reply suggestion sends it: a persona, a few turns of the thread, the fan's last message. */
const prompt = (i: number): ChatMessage[] => [
  {
    role: 'system',
    content: 'You are Mia, a warm and playful creator. Reply in English, short, with one emoji at most. Never promise meetings.',
  },
  { role: 'user', content: 'hey babe, loved your last post' },
  { role: 'assistant', content: 'aww thank you! more coming this weekend 😘' },
  { role: 'user', content: `fan message number ${i}: what are you up to tonight?` },
];

try {
  await runMigrations(databaseUrl);
  const standin = await startLlmStandin({ port: 0 });
  stops.push(() => standin.close());
  const config = loadConfig({
    NODE_ENV: 'development',
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    LLM_BASE_URL: `${standin.url}/v1`,
    LLM_API_KEY: 'bench',
    LLM_MAX_RETRIES: '0',
  });
  // The pool is as wide as the callers, so that contention happens in Postgres, not in the pool.
  const { db, close } = createDb(databaseUrl, { max: CONCURRENCY + 2 });
  stops.push(close);
  const gateway = createLlmGateway({ db, config });
  const price = config.LLM_PRICES[config.LLM_MODEL]!;
  // Caps nobody reaches: the bench measures the path, not refusals (a refusal would be counted).
  const creators = async (count: number) => {
    const rows = await db
      .insert(users)
      .values(Array.from({ length: count }, () => ({ email: `bench-llm-${randomUUID()}@example.com`, passwordHash: 'x' })))
      .returning({ id: users.id });
    for (const { id } of rows) await setBudget(db, id, { dailyCapCents: 1_000_000_000, monthlyCapCents: 1_000_000_000 });
    return rows.map((r) => r.id);
  };
  const [stepwise, whole, lone, contended, busy] = await creators(5);
  await db.execute(sql`
    insert into llm_calls (creator_id, step_key, feature, model, status, reserved_microcents, cost_microcents, requests, reserved_at)
    select ${busy}, 'prior:' || i, 'bench', ${config.LLM_MODEL}, 'settled', 1000, 900, 1, date_trunc('month', now(), 'UTC') + (i % 1000) * interval '1 second'
    from generate_series(1, ${PRIOR_CALLS}) i`);
  const many = await creators(CONCURRENCY);

  // (a) The gateway's path step by step, as integrations/llm/gateway.ts runs it.
  const provider = new OpenAI({ baseURL: `${standin.url}/v1`, apiKey: 'bench', maxRetries: 0 });
  const ask = (messages: ChatMessage[]) => provider.chat.completions.create({ model: config.LLM_MODEL, messages, max_tokens: MAX_TOKENS });
  const steps = { reserve: [] as number[], provider: [] as number[], settle: [] as number[] };
  const stepwiseCall = async (i: number, record: boolean) => {
    const messages = prompt(i);
    const t0 = performance.now();
    const estimateMicrocents = gateway.estimate(messages, MAX_TOKENS);
    const r = await reserveLlmCall(db, config, {
      creatorId: stepwise!,
      stepKey: `bench:${i}`,
      feature: 'bench',
      model: config.LLM_MODEL,
      estimateMicrocents,
    });
    if (r.kind !== 'reserved') throw new Error(`reservation ${r.kind}`);
    await countLlmRequest(db, r.call.id);
    const t1 = performance.now();
    const completion = await ask(messages);
    const t2 = performance.now();
    const usage = completion.usage!;
    await settleLlmCall(db, r.call.id, {
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
      costMicrocents: costMicrocents(price, usage.prompt_tokens, usage.completion_tokens),
      content: completion.choices[0]?.message.content ?? '',
      finishReason: completion.choices[0]?.finish_reason ?? 'stop',
    });
    const t3 = performance.now();
    if (!record) return;
    steps.reserve.push(t1 - t0);
    steps.provider.push(t2 - t1);
    steps.settle.push(t3 - t2);
  };
  const WARMUP = 100;
  say(`(a) ${CALLS} sequential calls, step by step (after ${WARMUP} warm-up calls)`);
  for (let i = 0; i < WARMUP; i++) await stepwiseCall(-1 - i, false);
  for (let i = 0; i < CALLS; i++) await stepwiseCall(i, true);

  // gateway.complete() beside a bare SDK request, interleaved so that both see the same machine.
  say(`(a) ${CALLS} gateway.complete() calls beside ${CALLS} bare SDK requests`);
  const complete = (i: number) =>
    gateway.complete({ creatorId: whole!, stepKey: `bench:${i}`, feature: 'bench', messages: prompt(i), maxTokens: MAX_TOKENS });
  for (let i = 0; i < WARMUP; i++) await Promise.all([complete(-1 - i), ask(prompt(-1 - i))]);
  const completeMs: number[] = [];
  const bareMs: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    let t0 = performance.now();
    await ask(prompt(i));
    bareMs.push(performance.now() - t0);
    t0 = performance.now();
    await complete(i);
    completeMs.push(performance.now() - t0);
  }

  // (b) Reservations under contention: each caller reserves in a loop until the deadline.
  const contend = async (callers: number, creatorOf: (caller: number) => string) => {
    const latencies: number[] = [];
    let refused = 0;
    const estimateMicrocents = gateway.estimate(prompt(0), MAX_TOKENS);
    const started = performance.now();
    const deadline = started + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: callers }, async (_, caller) => {
        for (let i = 0; performance.now() < deadline; i++) {
          const t0 = performance.now();
          const r = await reserveLlmCall(db, config, {
            creatorId: creatorOf(caller),
            stepKey: `contend:${callers}:${caller}:${i}:${randomUUID()}`,
            feature: 'bench',
            model: config.LLM_MODEL,
            estimateMicrocents,
          });
          latencies.push(performance.now() - t0);
          if (r.kind === 'refused') refused += 1;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { perSecond: latencies.length / seconds, latencies, total: latencies.length, refused };
  };
  say(`(b) reservations for ${SECONDS} s each: 1 caller, ${CONCURRENCY} callers on one creator, ${CONCURRENCY} on ${CONCURRENCY} creators`);
  await contend(CONCURRENCY, (c) => many[c]!); // warm-up of the pool's connections
  const alone = await contend(1, () => lone!);
  const oneCreator = await contend(CONCURRENCY, () => contended!);
  const manyCreators = await contend(CONCURRENCY, (c) => many[c]!);
  const busyAlone = await contend(1, () => busy!);

  const overhead = (p: number) => percentile(completeMs, p) - percentile(bareMs, p);
  const contention = (r: Awaited<ReturnType<typeof contend>>) =>
    `${Math.round(r.perSecond).toLocaleString('en-US')} reservations/s (${r.total.toLocaleString('en-US')} in ${SECONDS} s, ${r.refused} refused); latency ${p50p99(r.latencies)}`;
  const rows: [string, string][] = [
    ['(a) calls', `${CALLS} sequential, ${MAX_TOKENS} max tokens, a 4-message prompt, model ${config.LLM_MODEL}`],
    ['(a) estimate + reserve (+ request count)', p50p99(steps.reserve)],
    ['(a) the stand-in request through the SDK', p50p99(steps.provider)],
    ['(a) settle', p50p99(steps.settle)],
    ['(a) gateway.complete() end to end', p50p99(completeMs)],
    ['(a) bare SDK request to the stand-in', p50p99(bareMs)],
    ['(a) gateway overhead (complete − bare)', `p50 ${ms(overhead(50))} / p99 ${ms(overhead(99))} ms`],
    ['(b) 1 caller, one creator', contention(alone)],
    [`(b) ${CONCURRENCY} callers, one creator`, contention(oneCreator)],
    [`(b) ${CONCURRENCY} callers, ${CONCURRENCY} creators`, contention(manyCreators)],
    [`(b) 1 caller, a creator with ${PRIOR_CALLS.toLocaleString('en-US')} calls this month`, contention(busyAlone)],
    ['(b) rows of the one creator at the end', (await db.$count(llmCalls, eq(llmCalls.creatorId, contended!))).toLocaleString('en-US')],
  ];
  console.log('');
  for (const [k, v] of rows) console.log(`${k.padEnd(54)} ${v}`);
  console.log('');
  await writeBenchmarkSection(path.join(projectRoot, 'docs', 'BENCHMARKS.md'), 'llm', {
    title: 'LLM gateway: overhead per call, budget reservations under contention',
    command: `BENCH_CALLS=${CALLS} BENCH_CONCURRENCY=${CONCURRENCY} BENCH_SECONDS=${SECONDS} BENCH_PRIOR_CALLS=${PRIOR_CALLS} npm run bench:llm`,
    environment: `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, Postgres: ${process.env.DATABASE_URL ? 'DATABASE_URL server' : 'embedded PostgreSQL 18'}; the gateway, the budget functions and the LLM stand-in in the benchmark process, a pool of ${CONCURRENCY + 2} connections`,
    rows,
    notes:
      'A reservation takes the creator’s advisory lock, reads its budget and this month’s spend, and writes its row in one transaction; settle is one UPDATE; the estimate counts the prompt with the o200k tokenizer. The overhead row is the difference of the percentiles of complete() and of a bare SDK request made just before it, not a per-call difference. Callers on one creator queue on its lock, so their rate is that of one transaction at a time; callers on separate creators run in parallel. Each reservation sums its creator’s rows of the current month (by the creator and reserved_at index), hence the row with a busy creator’s month of settled calls seeded beforehand.',
  });
} finally {
  for (const s of stops.reverse()) await s().catch(() => {});
  await admin.unsafe(`drop database if exists ${database} with (force)`).catch(() => {});
  await admin.end();
}
