// The ledger auditor (SPEC §7): random streams of money events for a few creators (sales of every
// type, refunds and chargebacks, also of months already paid, duplicates, facts of the next month
// posted early and of closed months posted late), five months closed and paid by the payout
// workflow on a worker process that is SIGKILLed at random points (one of them while Stripe has
// made a transfer whose answer never arrived: between the Stripe call and the database commit,
// its webhook late, Stripe having forgotten the key by the retry), with balance_insufficient
// refusals and partial reversals of paid transfers. After every month it
// checks: the entries sum to zero per currency, nothing payable is below zero (it is carried
// instead), at most one transfer per statement (exactly one for a paid payout, of its amount), every
// statement rebuilds to the same figures and hash, and what the ledger still owes each creator is
// exactly what the statements say, and the reconciliation agrees. AUDITOR_SEED=<n> replays a run.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, type ManagedProcess, projectRoot, spawnManaged } from '../../dev/toolchain.js';
import { reconcileMonth } from '../../domain/payout-reconciliation.js';
import { rebuildStatement, type Statement } from '../../domain/statements.js';
import { createPayoutProcess } from '../../processes/payouts.js';
import { payoutWorkflowId } from '../../workflows/payout.js';
import { type Harness, startHarness } from '../support/harness.js';
import { payableCreator } from '../support/platform-events.js';
import { waitFor } from '../support/wait.js';

const SEED = Number(process.env.AUDITOR_SEED ?? Math.floor(Math.random() * 2 ** 31));
const MONTHS = ['2026-06', '2026-07', '2026-08', '2026-09', '2026-10'];
const CREATORS = 4;
const AUDIT_TIMEOUT_MS = 420_000;
/** Payouts of a month end well within this, kills included (heartbeat timeout 10 s, worker start a few seconds). */
const MONTH_TIMEOUT_MS = 75_000;

/** mulberry32: a small seeded generator, so that a failing run can be replayed from its seed. */
function generator(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return { next, int, pick: <T>(items: T[]) => items[int(0, items.length - 1)]!, chance: (p: number) => next() < p };
}
const random = generator(SEED);

let h: Harness;
let worker: ManagedProcess | undefined;
let kills = 0;

async function startWorker() {
  worker = spawnManaged('money-worker', process.execPath, ['--import', 'tsx', path.join(projectRoot, 'workers/main.ts')], {
    cwd: projectRoot,
    env: {
      ...process.env,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      DATABASE_URL: h.config.DATABASE_URL,
      TEMPORAL_ADDRESS: h.config.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE_PREFIX: h.config.TEMPORAL_TASK_QUEUE_PREFIX,
      STRIPE_STANDIN_PORT: new URL(h.stripeStandin.url).port,
      WORKER_TASK_QUEUES: 'money',
      WORKER_METRICS_PORT: String(await freePort()),
      WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
      PAYOUT_BALANCE_RETRY_SECONDS: '1',
    },
  });
}

async function killWorker() {
  await worker!.stop({ signal: 'SIGKILL' });
  kills += 1;
  await startWorker();
}

beforeAll(async () => {
  console.log(`ledger auditor: AUDITOR_SEED=${SEED}`);
  h = await startHarness({ workers: false, env: { PAYOUT_BALANCE_RETRY_SECONDS: '1' } });
  for (let i = 0; i < 5; i++) await h.stripeStandin.fund(99_999_999, 'usd');
  await startWorker();
});
afterAll(async () => {
  await worker?.stop();
  await h?.close();
});

type Creator = Awaited<ReturnType<typeof payableCreator>>;
/** What the test posted that the platform has to give back: each sale once, by event id. */
interface Sale {
  occurredAt: string;
  amountCents: number;
  refunded: boolean;
}

/** A moment in `month` (UTC), at a random day and second. */
const momentIn = (month: string) =>
  `${month}-${String(random.int(1, 28)).padStart(2, '0')}T${String(random.int(0, 23)).padStart(2, '0')}:${String(random.int(0, 59)).padStart(2, '0')}:00Z`;
const nextMonth = (month: string) => {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m, 1)).toISOString().slice(0, 7);
};

/** One month's events for a creator, shuffled, some twice: the platform's retries and reordering. */
function monthEvents(c: Creator, month: string, sales: Sale[], n: { next: number }) {
  const events: { id: string; type: string; data: object }[] = [];
  const sale = (at: string) => {
    // Mostly small purchases; now and then one large enough to reach the upper tiers.
    const amountCents = random.chance(0.15) ? random.int(500_000, 2_500_000) : random.int(100, 60_000);
    const kind = random.pick(['purchase', 'tip', 'subscription'] as const);
    const when = kind === 'purchase' ? 'purchasedAt' : kind === 'tip' ? 'tippedAt' : 'subscribedAt';
    sales.push({ occurredAt: at, amountCents, refunded: false });
    events.push({
      id: `evt_${c.userId}_${n.next++}`,
      type: `${kind}.created`,
      data: { fanHandle: `fan${random.int(1, 5)}`, amountCents, [when]: at },
    });
  };
  for (let i = random.int(1, 5); i > 0; i--) sale(momentIn(month));
  // Early news of next month: it must wait for that month's statement.
  if (random.chance(0.4)) sale(momentIn(nextMonth(month)));
  // Refunds and chargebacks, of this month's sales or of months already closed and paid; some
  // dated in an earlier month (posted late: they go to the next statement, not the closed one).
  for (const s of sales.filter((s) => !s.refunded && s.occurredAt < nextMonth(month))) {
    if (!random.chance(0.2)) continue;
    s.refunded = true;
    const at = random.chance(0.3) ? s.occurredAt : momentIn(month);
    const chargeback = random.chance(0.3);
    events.push({
      id: `evt_${c.userId}_${n.next++}`,
      type: chargeback ? 'chargeback.created' : 'refund.created',
      data: { fanHandle: 'fan1', amountCents: s.amountCents, [chargeback ? 'chargedBackAt' : 'refundedAt']: at },
    });
  }
  const withDuplicates = events.flatMap((e) => (random.chance(0.3) ? [e, e] : [e]));
  for (let i = withDuplicates.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [withDuplicates[i], withDuplicates[j]] = [withDuplicates[j]!, withDuplicates[i]!];
  }
  return withDuplicates;
}

const standinFaults = async () =>
  ((await (await fetch(`${h.stripeStandin.url}/_standin/balances`)).json()) as { faults: { hangAfterTransfer?: number } }).faults;

/** Every check of the auditor, over everything the test's creators have in the ledger. */
async function audit(creators: Creator[], step: string) {
  const ids = creators.map((c) => c.userId);
  const unbalanced = await h.sql`select creator_id, currency, sum(amount_cents)::bigint as total from ledger_entries
    where creator_id = any(${ids}::uuid[]) group by creator_id, currency having sum(amount_cents) <> 0`;
  expect(unbalanced, `${step}: entries sum to zero per creator and currency`).toEqual([]);

  const statements = (await h.db.query.statements.findMany({
    where: (s, { inArray }) => inArray(s.creatorId, ids),
  })) as Statement[];
  for (const s of statements) {
    expect(s.payableCents, `${step}: ${s.month} payable`).toBeGreaterThanOrEqual(0);
    expect(s.carriedOutCents, `${step}: ${s.month} carried`).toBeLessThanOrEqual(0);
    const rebuilt = await rebuildStatement(h.db, s);
    expect(rebuilt.contentHash, `${step}: ${s.month} rebuilds to its hash`).toBe(s.contentHash);
    expect(rebuilt.figures.payableCents).toBe(s.payableCents);

    const payout = await h.db.query.payouts.findFirst({ where: (p, { eq }) => eq(p.statementId, s.id) });
    const transfers = (await h.stripe.transfers.list({ transfer_group: `statement:${s.id}`, limit: 10 })).data;
    expect(transfers.length, `${step}: ${s.month} transfers of one statement`).toBeLessThanOrEqual(1);
    if ((payout?.status === 'paid' || payout?.status === 'reversed') && payout.amountCents > 0) {
      expect(transfers).toEqual([expect.objectContaining({ id: payout.transferId, amount: payout.amountCents })]);
    }
  }

  // The admin's reconciliation agrees: no payout of theirs out of line with Stripe.
  const payoutIds = new Set((await h.sql`select id from payouts where creator_id = any(${ids}::uuid[])`).map((r) => r.id as string));
  for (const month of new Set(statements.map((s) => s.month))) {
    const mismatches = [];
    for (let after: string | undefined; ; ) {
      const page = await reconcileMonth(h.db, h.stripe, { month, after, limit: 200 });
      mismatches.push(...page.mismatches.filter((m) => payoutIds.has(m.payoutId)));
      if (!page.nextCursor) break;
      after = page.nextCursor;
    }
    expect(mismatches, `${step}: ${month} reconciles`).toEqual([]);
  }

  // What the ledger still owes each creator is what the statements say: the last statement's
  // carried (negative) base, the payable of payouts not made, and the facts no statement holds yet.
  for (const id of ids) {
    const [row] = await h.sql`
      select
        (select coalesce(sum(amount_cents), 0) from ledger_entries where creator_id = ${id} and account = 'receivable')::bigint as receivable,
        (select coalesce((select carried_out_cents from statements where creator_id = ${id} order by month desc limit 1), 0))::bigint as carried,
        (select coalesce(sum(s.payable_cents), 0) from statements s left join payouts p on p.statement_id = s.id
          where s.creator_id = ${id} and (p.status is null or p.status not in ('paid', 'reversed')))::bigint as unpaid,
        (select coalesce(sum(e.amount_cents), 0) from ledger_journals j join ledger_entries e on e.journal_id = j.id and e.account = 'receivable'
          where j.creator_id = ${id} and j.kind in ('sale', 'refund', 'chargeback', 'payout_reversal')
            and not exists (select 1 from statement_journals sj where sj.journal_id = j.id))::bigint as unstated`;
    expect(Number(row!.receivable), `${step}: what the ledger owes ${id}`).toBe(
      Number(row!.carried) + Number(row!.unpaid) + Number(row!.unstated),
    );
  }
}

describe('ledger auditor', () => {
  it(
    'keeps the ledger balanced and pays each statement at most once through random events, faults and SIGKILLs',
    async () => {
      // One creator is restricted: their payouts are held, and what they are owed stays in the ledger.
      const creators = [
        ...(await Promise.all(Array.from({ length: CREATORS - 1 }, () => payableCreator(h)))),
        await payableCreator(h, 'restricted'),
      ];
      const sales = new Map(creators.map((c) => [c.userId, [] as Sale[]]));
      const counters = new Map(creators.map((c) => [c.userId, { next: 0 }]));
      const process = createPayoutProcess(h.temporal, h.config);

      for (const [index, month] of MONTHS.entries()) {
        // The month's events, creators interleaved.
        const streams = creators.map((c) => ({ c, events: monthEvents(c, month, sales.get(c.userId)!, counters.get(c.userId)!) }));
        while (streams.some((s) => s.events.length > 0)) {
          const s = random.pick(streams.filter((s) => s.events.length > 0));
          const e = s.events.shift()!;
          await s.c.event(e.type, e.data, e.id);
        }
        await audit(creators, `${month} events`);

        // The faults of this month's run: refusals for a low balance, a transfer made whose answer
        // is withheld (the worker is killed while it waits: after Stripe, before the commit), or a
        // kill at a random moment.
        const fault = index === 0 ? 'hang' : random.pick(['hang', 'kill', 'balance', 'none'] as const);
        if (fault === 'balance') await h.stripeStandin.failNextTransfers(random.int(1, 3));
        if (fault === 'hang') {
          await h.stripeStandin.hangNextTransfers(1);
          // Its transfer.created arrives late, so the retry cannot learn of the transfer from it.
          h.stripeStandin.holdWebhooks(true);
        }
        for (const c of creators) await process.start(c.userId, month);
        if (fault === 'hang') {
          await waitFor(async () => (await standinFaults()).hangAfterTransfer === 0, 'a transfer made and its answer withheld', 60_000);
          await killWorker();
          // And the retry comes after Stripe forgot the key (a day later): only the lookup by transfer_group stands between it and a second transfer.
          if (index === 0 || random.chance(0.5)) await h.stripeStandin.forgetIdempotencyKeys();
        } else if (fault === 'kill') {
          await new Promise((r) => setTimeout(r, random.int(0, 1_500)));
          await killWorker();
        }
        const settled = Promise.all(
          creators.map((c) => h.temporal.workflow.getHandle(payoutWorkflowId(c.userId, month)).result() as Promise<string>),
        ).finally(() => h.stripeStandin.holdWebhooks(false));
        const outcomes = await Promise.race([
          settled,
          new Promise<never>((_, reject) =>
            setTimeout(
              () => reject(new Error(`${month}: payouts unfinished; worker said: ${worker!.recentOutput()}`)),
              MONTH_TIMEOUT_MS,
            ).unref(),
          ),
        ]);
        console.log(`ledger auditor: ${month} paid after a ${fault} fault`);
        expect(outcomes).toEqual([...creators.slice(0, -1).map(() => 'paid'), 'held']);
        await audit(creators, `${month} paid (${fault})`);

        // Stripe reverses part of a paid transfer now and then; the ledger takes it back once.
        if (random.chance(0.5)) {
          const paid = await h.sql`select p.transfer_id, p.amount_cents from payouts p
            where p.creator_id = any(${creators.map((c) => c.userId)}::uuid[]) and p.status = 'paid' and p.amount_cents > 0`;
          if (paid.length > 0) {
            const { transfer_id: transferId } = random.pick(paid);
            const transfer = await h.stripe.transfers.retrieve(transferId);
            const left = transfer.amount - transfer.amount_reversed;
            if (left > 0) {
              const amount = random.int(1, left);
              const before =
                await h.sql`select count(*)::int as n from ledger_journals where kind = 'payout_reversal' and source like ${`transfer_reversal:${transferId}:%`}`;
              await h.stripe.transfers.createReversal(transferId, { amount });
              await waitFor(
                async () =>
                  (
                    await h.sql`select count(*)::int as n from ledger_journals where kind = 'payout_reversal' and source like ${`transfer_reversal:${transferId}:%`}`
                  )[0]!.n > before[0]!.n,
                'the reversal posted back',
              );
              await audit(creators, `${month} reversal`);
            }
          }
        }
      }
      // Every sale posted once, whatever was sent twice; every statement of every creator closed.
      for (const c of creators) {
        const [{ n }] =
          (await h.sql`select count(*)::int as n from ledger_journals where creator_id = ${c.userId} and kind = 'sale'`) as unknown as [
            { n: number },
          ];
        expect(n).toBe(sales.get(c.userId)!.length);
      }
      const [{ closed }] =
        (await h.sql`select count(*)::int as closed from statements where creator_id = any(${creators.map((c) => c.userId)}::uuid[])`) as unknown as [
          { closed: number },
        ];
      expect(closed).toBe(CREATORS * MONTHS.length);
      expect(kills).toBeGreaterThanOrEqual(1);
    },
    AUDIT_TIMEOUT_MS,
  );
});
