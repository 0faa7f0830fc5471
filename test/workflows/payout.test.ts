// SPEC §7 payouts, end to end on real workers, Postgres, Temporal and the Stripe stand-in: a month
// closes into its statement and is paid by one transfer, at most once whatever is retried; an
// unpayable creator is held with the reason; a low platform balance is waited out; a transfer made
// before a crash is found by its transfer_group once its idempotency key is gone.
import type { Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMaintenanceActivities } from '../../activities/maintenance.js';
import { createPayoutActivities } from '../../activities/payouts.js';
import { postJournal } from '../../domain/ledger.js';
import { users } from '../../db/schema.js';
import { closeStatement } from '../../domain/statements.js';
import { payoutFor, recordPaid } from '../../domain/payouts.js';
import { createPayoutProcess } from '../../processes/payouts.js';
import { payoutWorkflowId } from '../../workflows/payout.js';
import { apiCalls, bearer, login, register, startHarness, type Harness } from '../support/harness.js';
import { payableCreator } from '../support/platform-events.js';
import { eq } from 'drizzle-orm';
import { waitFor } from '../support/wait.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { PAYOUT_BALANCE_RETRY_SECONDS: '1' } });
});
afterAll(() => h?.close());
const { call, ok } = apiCalls(() => h);
const MONTH = '2026-10';

/** A payable creator (test/support/platform-events.ts) with a poster of sales in MONTH. */
async function creator(status: 'active' | 'restricted' = 'active') {
  const c = await payableCreator(h, status);
  const sale = (amountCents: number) =>
    c.event('purchase.created', { fanHandle: 'fan', amountCents, purchasedAt: `${MONTH}-10T10:00:00Z` });
  return { ...c, sale };
}

const payouts = () => createPayoutProcess(h.temporal, h.config);
const result = (creatorId: string) => h.temporal.workflow.getHandle(payoutWorkflowId(creatorId, MONTH)).result();
const transfersOf = async (statementId: string) =>
  (await h.stripe.transfers.list({ transfer_group: `statement:${statementId}`, limit: 10 })).data;
const receivable = async (creatorId: string) =>
  Number(
    (
      await h.sql`select coalesce(sum(amount_cents), 0) as b from ledger_entries where creator_id = ${creatorId} and account = 'receivable'`
    )[0]!.b,
  );

/** A creator with a sale in MONTH, the month closed into its statement (what a payout run starts from). */
async function closedMonth(saleCents: number) {
  const c = await creator();
  await c.sale(saleCents);
  const closed = await closeOf(c.userId, MONTH);
  return { c, closed };
}
const closeOf = (creatorId: string, month: string) =>
  closeStatement(h.db, { creatorId, month, currency: 'usd', tiers: h.config.COMMISSION_TIERS });

/** A signed-in admin. */
async function signedInAdmin() {
  const admin = await register(h);
  await h.db.update(users).set({ role: 'admin' }).where(eq(users.id, admin.userId));
  return bearer((await login(h, admin.email)).accessToken);
}

/** A Temporal client that records the workflow ids it is asked to start (the shared database holds other files' creators). */
function recordingClient(started: string[]) {
  return {
    connection: { withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn() },
    workflow: { start: async (_type: unknown, o: { workflowId: string }) => started.push(o.workflowId) },
  } as unknown as Client;
}

/** Posts a Stripe event signed with the webhook secret to the API, as Stripe would. */
function postStripeEvent(body: string) {
  const signature = h.stripe.webhooks.generateTestHeaderString({ payload: body, secret: h.config.STRIPE_WEBHOOK_SECRET });
  return h.app.inject({
    method: 'POST',
    url: '/api/v1/webhooks/stripe',
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    payload: body,
  });
}

describe('payouts', () => {
  it('closes the month and pays its net once, by one transfer derived from the statement', async () => {
    await h.stripeStandin.fund(10_000_000, 'usd');
    const c = await creator();
    await c.sale(100_000);
    expect(await payouts().start(c.userId, MONTH)).toBe(true);
    expect(await result(c.userId)).toBe('paid');
    const [payout] = (await ok(c.auth, 'GET', '/payouts')).items;
    expect(payout).toMatchObject({
      month: MONTH,
      status: 'paid',
      amountCents: 70_000,
      reason: null,
      transferId: expect.stringMatching(/^tr_/),
    });
    const [transfer, ...more] = await transfersOf(payout.statementId);
    expect(more).toEqual([]);
    expect(transfer).toMatchObject({ id: payout.transferId, amount: 70_000, destination: c.accountId });
    // Sales less commission less the payout: the platform owes nothing more.
    expect(await receivable(c.userId)).toBe(0);
    expect(await ok(c.auth, 'GET', `/payouts/${payout.id}`)).toEqual(payout);
    expect(await ok(c.auth, 'GET', `/earnings?month=${MONTH}`)).toMatchObject({ netCents: 70_000, paidCents: 70_000, pendingCents: 0 });

    // Started again (the Schedule firing twice, an operator): nothing new.
    expect(await payouts().start(c.userId, MONTH)).toBe(false);
    await payouts().retry(c.userId, MONTH);
    expect(await result(c.userId)).toBe('paid');
    expect(await transfersOf(payout.statementId)).toHaveLength(1);
    expect(await receivable(c.userId)).toBe(0);
    const other = await creator();
    expect((await call(other.auth, 'GET', `/payouts/${payout.id}`)).statusCode).toBe(404);
  });

  it('holds a restricted creator’s payout with the reason; an admin retries it once the account is fixed', async () => {
    const c = await creator('restricted');
    await c.sale(10_000);
    await payouts().start(c.userId, MONTH);
    expect(await result(c.userId)).toBe('held');
    const [payout] = (await ok(c.auth, 'GET', '/payouts')).items;
    expect(payout).toMatchObject({ status: 'held', reason: expect.stringMatching(/restricted/), transferId: null });
    expect(await transfersOf(payout.statementId)).toEqual([]);

    expect((await call(c.auth, 'POST', `/payouts/${payout.id}/retry`)).json().error.code).toBe('forbidden');
    expect((await call(c.auth, 'GET', `/payouts/reconciliation?month=${MONTH}`)).statusCode).toBe(403);
    expect((await call(c.auth, 'GET', '/admin/payouts?status=held')).statusCode).toBe(403);
    const adminAuth = await signedInAdmin();
    // The admin finds it among the held payouts, a page at a time.
    const held: { id: string; creatorId: string }[] = [];
    for (let cursor = ''; ; ) {
      const page = await ok(adminAuth, 'GET', `/admin/payouts?status=held&month=${MONTH}&limit=1${cursor}`);
      held.push(...page.items);
      if (!page.nextCursor) break;
      cursor = `&cursor=${page.nextCursor}`;
    }
    expect(held).toContainEqual(expect.objectContaining({ id: payout.id, creatorId: c.userId, status: 'held' }));
    for (const bad of ['status=nope', 'status=held&month=2026-13', 'status=held&cursor=x', 'status=held&limit=0', 'status=held&extra=1'])
      expect((await call(adminAuth, 'GET', `/admin/payouts?${bad}`)).statusCode, bad).toBe(400);
    await h.sql`update creator_profiles set status = 'active' where user_id = ${c.userId}`;
    expect(await ok(adminAuth, 'POST', `/payouts/${payout.id}/retry`, undefined, 202)).toMatchObject({ id: payout.id });
    expect(await result(c.userId)).toBe('paid');
    expect(await transfersOf(payout.statementId)).toHaveLength(1);
    expect((await call(adminAuth, 'POST', `/payouts/${payout.id}/retry`)).statusCode).toBe(409);
    const reconciliation = await ok(adminAuth, 'GET', `/payouts/reconciliation?month=${MONTH}`);
    expect(reconciliation.mismatches).toEqual([]);
    expect(reconciliation.paidCents).toBe(reconciliation.transferredCents);
  });

  it('waits out balance_insufficient with a fresh key per try, then pays once', async () => {
    await h.stripeStandin.fund(1_000_000, 'usd');
    const c = await creator();
    await c.sale(20_000);
    await h.stripeStandin.failNextTransfers(2);
    await payouts().start(c.userId, MONTH);
    expect(await result(c.userId)).toBe('paid');
    const [payout] = (await ok(c.auth, 'GET', '/payouts')).items;
    expect(await transfersOf(payout.statementId)).toHaveLength(1);
    expect(payout.amountCents).toBe(14_000);
  });

  it('finds a transfer made before a crash by its transfer_group once Stripe forgot its key', async () => {
    await h.stripeStandin.fund(1_000_000, 'usd');
    const c = await creator();
    await c.sale(30_000);
    // What a worker killed between the transfer and the commit leaves: a closed statement, a
    // scheduled payout and a transfer at Stripe, and a day later no key to replay it.
    const closed = await closeOf(c.userId, MONTH);
    const made = await h.stripe.transfers.create(
      { amount: closed.payableCents, currency: 'usd', destination: c.accountId, transfer_group: `statement:${closed.id}` },
      { idempotencyKey: `payout:${closed.id}:1` },
    );
    await h.stripeStandin.forgetIdempotencyKeys();
    await payouts().start(c.userId, MONTH);
    expect(await result(c.userId)).toBe('paid');
    expect(await transfersOf(closed.id)).toEqual([expect.objectContaining({ id: made.id })]);
    expect((await ok(c.auth, 'GET', '/payouts')).items[0]).toMatchObject({ status: 'paid', transferId: made.id });
  });

  it('posts what Stripe reverses back to the ledger once, in any order, and owes it again', async () => {
    await h.stripeStandin.fund(1_000_000, 'usd');
    const c = await creator();
    await c.sale(50_000);
    await payouts().start(c.userId, MONTH);
    expect(await result(c.userId)).toBe('paid');
    const [payout] = (await ok(c.auth, 'GET', '/payouts')).items;
    const thisMonth = new Date().toISOString().slice(0, 7);
    expect(await receivable(c.userId)).toBe(0);

    await h.stripe.transfers.createReversal(payout.transferId, { amount: 15_000 });
    await waitFor(async () => (await receivable(c.userId)) === 15_000, 'the partial reversal posted back');
    expect(await ok(c.auth, 'GET', `/payouts/${payout.id}`)).toMatchObject({
      status: 'paid',
      reason: 'Stripe reversed 15000 of 35000 cents',
    });
    await h.stripe.transfers.createReversal(payout.transferId, { amount: 20_000 });
    await waitFor(async () => (await receivable(c.userId)) === 35_000, 'the full reversal posted back');
    expect(await ok(c.auth, 'GET', `/payouts/${payout.id}`)).toMatchObject({ status: 'reversed', reason: 'Stripe reversed the transfer' });

    // Every transfer.reversed event again, oldest last (a redelivery, out of order): nothing more posts.
    const events =
      (await h.sql`select payload from stripe_events where type = 'transfer.reversed' and payload->'data'->'object'->>'id' = ${payout.transferId}`) as unknown as {
        payload: unknown;
      }[];
    expect(events).toHaveLength(2);
    for (const { payload } of events.reverse()) {
      const res = await postStripeEvent(JSON.stringify(payload));
      expect(res.json()).toEqual({ received: true, duplicate: true });
    }
    expect(await receivable(c.userId)).toBe(35_000);
    const journals =
      await h.sql`select source from ledger_journals where creator_id = ${c.userId} and kind = 'payout_reversal' order by source`;
    expect(journals.map((j) => j.source)).toEqual([
      `transfer_reversal:${payout.transferId}:15000`,
      `transfer_reversal:${payout.transferId}:35000`,
    ]);
    // Owed again: this month's earnings carry it as pending, outside commission; the reversed month shows paid.
    expect(await ok(c.auth, 'GET', `/earnings?month=${thisMonth}`)).toMatchObject({
      grossCents: 0,
      commissionCents: 0,
      pendingCents: 35_000,
    });
    expect(await ok(c.auth, 'GET', `/earnings?month=${MONTH}`)).toMatchObject({ paidCents: 35_000, pendingCents: 0 });
  });

  it('records a payout paid from the transfer.created webhook when its worker died before recording it', async () => {
    await h.stripeStandin.fund(1_000_000, 'usd');
    const c = await creator();
    await c.sale(40_000);
    // What a worker killed right after Stripe answered leaves: a processing payout, and the transfer.
    const closed = await closeOf(c.userId, MONTH);
    const payout = await payoutFor(h.db, closed);
    await h.sql`update payouts set status = 'processing' where id = ${payout.id}`;
    const made = await h.stripe.transfers.create(
      { amount: closed.payableCents, currency: 'usd', destination: c.accountId, transfer_group: `statement:${closed.id}` },
      { idempotencyKey: `payout:${closed.id}:1` },
    );
    await waitFor(async () => (await ok(c.auth, 'GET', `/payouts/${payout.id}`)).status === 'paid', 'paid from the webhook');
    expect(await ok(c.auth, 'GET', `/payouts/${payout.id}`)).toMatchObject({ transferId: made.id, amountCents: 28_000 });
    expect(await receivable(c.userId)).toBe(0);
    // A transfer of another amount into the same group is not this payout's: it changes nothing.
    const stray = await h.stripe.transfers.create({
      amount: 1,
      currency: 'usd',
      destination: c.accountId,
      transfer_group: `statement:${closed.id}`,
    });
    // Its transfer.created is stored once applied (or found not to apply).
    await waitFor(
      async () =>
        (await h.sql`select 1 from stripe_events where type = 'transfer.created' and payload->'data'->'object'->>'id' = ${stray.id}`)
          .length > 0,
      'the stray transfer’s webhook handled',
    );
    expect(await ok(c.auth, 'GET', `/payouts/${payout.id}`)).toMatchObject({ status: 'paid', transferId: made.id });
    expect(await receivable(c.userId)).toBe(0);
  });

  it('reconciliation flags a transfer Stripe holds for a payout the ledger does not hold as paid', async () => {
    await h.stripeStandin.fund(1_000_000, 'usd');
    const { c, closed } = await closedMonth(12_000);
    const payout = await payoutFor(h.db, closed);
    // Not the payout's amount: the webhook leaves the payout as it is, and the reconciliation shows it.
    const stray = await h.stripe.transfers.create({
      amount: 5,
      currency: 'usd',
      destination: c.accountId,
      transfer_group: `statement:${closed.id}`,
    });
    const adminAuth = await signedInAdmin();
    const mismatches: { payoutId: string; problem: string }[] = [];
    for (let cursor = ''; ; ) {
      const page = await ok(adminAuth, 'GET', `/payouts/reconciliation?month=${MONTH}&limit=200${cursor}`);
      mismatches.push(...page.mismatches);
      if (!page.nextCursor) break;
      cursor = `&cursor=${page.nextCursor}`;
    }
    expect(mismatches).toContainEqual({
      payoutId: payout.id,
      problem: `Stripe holds transfer ${stray.id} for a payout recorded scheduled`,
    });
    expect((await call(adminAuth, 'GET', `/payouts/reconciliation?month=${MONTH}&cursor=nope`)).statusCode).toBe(400);
  });

  it('runs a held payout again once its creator can be paid (the maintenance sweep)', async () => {
    await h.stripeStandin.fund(1_000_000, 'usd');
    const c = await creator('restricted');
    await c.sale(8_000);
    await payouts().start(c.userId, MONTH);
    expect(await result(c.userId)).toBe('held');
    // The shared test database holds other files' held payouts: the sweep's starts are recorded, and this one's is run here.
    const started: string[] = [];
    const recording = recordingClient(started);
    const { retryHeldPayouts } = createMaintenanceActivities({ db: h.db, client: recording, config: h.config });
    const sweep = () => new MockActivityEnvironment().run(retryHeldPayouts);
    await sweep();
    expect(started).not.toContain(payoutWorkflowId(c.userId, MONTH));
    await h.sql`update creator_profiles set status = 'active' where user_id = ${c.userId}`;
    await sweep();
    expect(started).toContain(payoutWorkflowId(c.userId, MONTH));
    await payouts().retry(c.userId, MONTH);
    expect(await result(c.userId)).toBe('paid');
    expect((await ok(c.auth, 'GET', '/payouts')).items[0]).toMatchObject({ status: 'paid', amountCents: 5_600 });
  });

  it('answers signed transfer events of odd shapes with 200 and changes nothing', async () => {
    const { c, closed } = await closedMonth(9_000);
    const payout = await payoutFor(h.db, closed);
    const group = `statement:${closed.id}`;
    const objects: unknown[] = [
      { object: 'transfer', id: 'tr_x', amount: 6_300, amount_reversed: 0, currency: 'usd', transfer_group: 'statement:not-a-uuid' },
      {
        object: 'transfer',
        id: 'tr_x',
        amount: 6_300,
        amount_reversed: 0,
        currency: 'usd',
        transfer_group: `statement:${crypto.randomUUID()}`,
      },
      { object: 'transfer', id: 'tr_x', amount: '6300', amount_reversed: 0, currency: 'usd', transfer_group: group },
      { object: 'transfer', id: 'tr_x', amount: 6_300, amount_reversed: 0, currency: 'eur', transfer_group: group },
      { object: 'transfer', id: 'tr_x', amount: 6_300, amount_reversed: -5, currency: 'usd', transfer_group: group, reversals: null },
      { object: 'transfer', id: 7, amount: 1e300, amount_reversed: 'all', currency: null, transfer_group: ['x'] },
    ];
    for (const [i, object] of objects.entries()) {
      const body = JSON.stringify({
        id: `evt_odd_${closed.id}_${i}`,
        object: 'event',
        type: i % 2 ? 'transfer.reversed' : 'transfer.created',
        data: { object },
      });
      const res = await postStripeEvent(body);
      expect(res.statusCode, JSON.stringify(object)).toBe(200);
    }
    // The event with a string amount and the one with a negative reversal carry nothing a payout can take.
    const [row] = await h.sql`select status, transfer_id from payouts where id = ${payout.id}`;
    expect(row).toMatchObject({ status: 'scheduled', transfer_id: null });
    expect(await receivable(c.userId)).toBe(6_300);
  });

  it('fails a payout whose transfer_group holds a transfer it did not make, and makes none', async () => {
    await h.stripeStandin.fund(1_000_000, 'usd');
    const { c, closed } = await closedMonth(10_000);
    // Someone else's transfer into the statement's group (an operator's partial payment): not this payout's.
    await h.stripe.transfers.create({ amount: 100, currency: 'usd', destination: c.accountId, transfer_group: `statement:${closed.id}` });
    await payouts().start(c.userId, MONTH);
    await expect(result(c.userId)).rejects.toThrow();
    expect((await ok(c.auth, 'GET', '/payouts')).items[0]).toMatchObject({
      status: 'failed',
      reason: 'the statement’s transfer_group holds unexpected transfers',
      transferId: null,
    });
    expect(await transfersOf(closed.id)).toHaveLength(1);
    expect(await receivable(c.userId)).toBe(7_000);
  });

  it('starts the month of a creator whose only new fact is a reversal, and pays the reversed amount again', async () => {
    await h.stripeStandin.fund(1_000_000, 'usd');
    const c = await creator();
    await c.event('purchase.created', { fanHandle: 'fan', amountCents: 10_000, purchasedAt: '2026-09-10T10:00:00Z' });
    const september = await closeStatement(h.db, {
      creatorId: c.userId,
      month: '2026-09',
      currency: 'usd',
      tiers: h.config.COMMISSION_TIERS,
    });
    await recordPaid(h.db, await payoutFor(h.db, september), 'tr_september');
    // Stripe took 3,000 of September's transfer back in October.
    await postJournal(h.db, {
      creatorId: c.userId,
      source: 'transfer_reversal:tr_september:3000',
      kind: 'payout_reversal',
      currency: 'usd',
      occurredAt: new Date('2026-10-15T00:00:00Z'),
      lines: [
        { account: 'payouts', amountCents: -3_000 },
        { account: 'receivable', amountCents: 3_000 },
      ],
    });
    const started: string[] = [];
    const recording = recordingClient(started);
    const { startMonthlyPayouts } = createPayoutActivities({ db: h.db, stripe: h.stripe, client: recording, config: h.config });
    await new MockActivityEnvironment().run(startMonthlyPayouts, { month: MONTH });
    expect(started).toContain(payoutWorkflowId(c.userId, MONTH));
    await payouts().start(c.userId, MONTH);
    expect(await result(c.userId)).toBe('paid');
    const [october] = (await ok(c.auth, 'GET', '/payouts')).items;
    expect(october).toMatchObject({ month: MONTH, amountCents: 3_000, status: 'paid' });
    expect(await ok(c.auth, 'GET', `/statements/${MONTH}`)).toMatchObject({
      grossCents: 0,
      commissionCents: 0,
      reversalsCents: 3_000,
      payableCents: 3_000,
    });
    // Cursor pages, newest month first.
    const first = await ok(c.auth, 'GET', '/payouts?limit=1');
    expect(first.items.map((p: { month: string }) => p.month)).toEqual([MONTH]);
    const second = await ok(c.auth, 'GET', `/payouts?limit=1&cursor=${first.nextCursor}`);
    expect(second).toMatchObject({ items: [{ month: '2026-09', transferId: 'tr_september' }], nextCursor: null });
    for (const bad of [
      'cursor=nope',
      'limit=0',
      'limit=201',
      `cursor=${Buffer.from(JSON.stringify([5, crypto.randomUUID()])).toString('base64url')}`,
    ])
      expect((await call(c.auth, 'GET', `/payouts?${bad}`)).statusCode, bad).toBe(400);
    expect(await receivable(c.userId)).toBe(0);
  });

  it('answers 503 to a transfer event while the payout’s transfer is in flight, and applies it when sent again', async () => {
    const { c, closed } = await closedMonth(5_000);
    const payout = await payoutFor(h.db, closed);
    const body = JSON.stringify({
      id: `evt_busy_${closed.id}`,
      object: 'event',
      type: 'transfer.created',
      data: {
        object: {
          object: 'transfer',
          id: 'tr_busy',
          amount: 3_500,
          amount_reversed: 0,
          currency: 'usd',
          destination: c.accountId,
          transfer_group: `statement:${closed.id}`,
        },
      },
    });
    // What transferPayout holds while it waits on Stripe: the payout's row.
    const holder = await h.sql.reserve();
    try {
      await holder`begin`;
      await holder`select id from payouts where id = ${payout.id} for update`;
      const busy = await postStripeEvent(body);
      expect(busy.statusCode).toBe(503);
      expect(busy.json().error.code).toBe('payout_busy');
      await holder`rollback`;
    } finally {
      holder.release();
    }
    expect((await postStripeEvent(body)).json()).toEqual({ received: true, duplicate: false });
    expect((await ok(c.auth, 'GET', `/payouts/${payout.id}`)).status).toBe('paid');
  });
});
