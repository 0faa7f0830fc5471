// Money in the Stripe stand-in (SPEC §7), driven with the real `stripe` SDK: balances, transfers with
// parameter-checked idempotency, balance_insufficient, listing by transfer_group, reversals, the
// signed transfer.* / balance.available events, and the faults a payout process must survive.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startStripeStandin, type StripeStandin } from '../../standins/stripe/index.js';
import {
  rejectionOf,
  standinControl,
  startWebhookReceiver,
  stripeClientFor,
  type StandinEventEntry,
  type WebhookReceiver,
} from '../support/stripe.js';
import { waitFor } from '../support/wait.js';

const SECRET = 'whsec_test_standin_money_0123456789';

let dir: string;
let stateFile: string;
let receiver: WebhookReceiver;
let standin: StripeStandin;
let stripe: Stripe;
const running = new Set<StripeStandin>();

async function start() {
  const s = await startStripeStandin({
    port: 0,
    stateFile,
    webhookUrl: receiver.url,
    webhookSecret: SECRET,
    webhookRetryDelaysMs: [50, 100],
  });
  running.add(s);
  return s;
}

const eventually = <T>(check: () => Promise<T> | T, what: string) => waitFor(check, what, 5_000, 20);
const received = (type: string, account?: string | null) => receiver.events(stripe, SECRET, type, account);

/** An Express account that finished onboarding, so its transfers capability is active. */
async function payableAccount(email = 'creator@example.com') {
  const account = await stripe.accounts.create({
    type: 'express',
    country: 'US',
    email,
    business_type: 'individual',
    capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
  });
  await standin.complete(account.id);
  return account;
}

const available = (balance: Stripe.Balance, currency = 'usd') => balance.available.find((b) => b.currency === currency)?.amount ?? 0;
const platformAvailable = async () => available(await stripe.balance.retrieve());
const accountAvailable = async (id: string) => available(await stripe.balance.retrieve({}, { stripeAccount: id }));

function pay(destination: string, amount: number, group: string, idempotencyKey?: string) {
  return stripe.transfers.create(
    { amount, currency: 'usd', destination, transfer_group: group, metadata: { statement: group } },
    idempotencyKey ? { idempotencyKey } : undefined,
  );
}

function expectStripeError(err: unknown, kind: new (...args: never[]) => Stripe.errors.StripeError, fields: Record<string, unknown>) {
  expect(err).toBeInstanceOf(kind);
  expect(err).toMatchObject(fields);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'stripe-money-'));
});
beforeEach(async (ctx) => {
  stateFile = path.join(dir, ctx.task.id, 'stripe-standin.json');
  receiver = await startWebhookReceiver();
  standin = await start();
  stripe = stripeClientFor(standin);
});
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all([...running].map((s) => s.close()));
  running.clear();
  await receiver.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Stripe stand-in: balances', () => {
  it('starts empty, is funded over the control endpoint, and announces balance.available on the platform', async () => {
    const empty = await stripe.balance.retrieve();
    expect(empty).toMatchObject({ object: 'balance', livemode: false });
    expect(empty.available).toEqual([{ amount: 0, currency: 'usd', source_types: { card: 0 } }]);
    expect(empty.pending).toEqual([{ amount: 0, currency: 'usd', source_types: { card: 0 } }]);

    const funded = await standinControl<Stripe.Balance>(standin, '/_standin/balance/fund', { amount: 150_000, currency: 'usd' });
    expect(funded.status).toBe(200);
    expect(available(funded.body)).toBe(150_000);
    await standin.fund(2_000, 'EUR');
    const balance = await stripe.balance.retrieve();
    expect(balance.available).toEqual([
      { amount: 150_000, currency: 'usd', source_types: { card: 150_000 } },
      { amount: 2_000, currency: 'eur', source_types: { card: 2_000 } },
    ]);

    const [event] = await eventually(
      () => received('balance.available').length === 2 && received('balance.available'),
      'balance.available',
    );
    // A platform event: no `account`, and the balance as it was then.
    expect(event!.account).toBeUndefined();
    expect(available(event!.data.object as Stripe.Balance)).toBe(150_000);

    // Hostile or malformed funding is refused and changes nothing.
    for (const body of [
      { amount: -5 },
      { amount: 1.5 },
      { amount: '100' },
      { amount: 1e12 },
      { amount: 10, currency: 'dollars' },
      '[1]',
      'nope',
    ]) {
      expect((await standinControl(standin, '/_standin/balance/fund', body)).status).toBe(400);
    }
    expect(await platformAvailable()).toBe(150_000);
  });

  it("answers a connected account's own balance under Stripe-Account", async () => {
    const account = await payableAccount();
    await standin.fund(10_000);
    const own = await stripe.balance.retrieve({}, { stripeAccount: account.id });
    expect(own.available).toEqual([{ amount: 0, currency: 'usd', source_types: { card: 0 } }]);
    expect(own.connect_reserved).toBeUndefined();
    const unknown = await rejectionOf(stripe.balance.retrieve({}, { stripeAccount: 'acct_doesnotexist0000' }));
    expect(unknown).toBeInstanceOf(Stripe.errors.StripePermissionError);
  });
});

describe('Stripe stand-in: transfers', () => {
  it('moves available funds from the platform to the account and sends transfer.created', async () => {
    const account = await payableAccount();
    await standin.fund(100_000);
    const transfer = await pay(account.id, 25_000, 'payout:creator_1:2025-01', 'payout:creator_1:2025-01');

    expect(transfer).toMatchObject({
      object: 'transfer',
      amount: 25_000,
      amount_reversed: 0,
      currency: 'usd',
      destination: account.id,
      livemode: false,
      metadata: { statement: 'payout:creator_1:2025-01' },
      reversed: false,
      source_transaction: null,
      source_type: 'card',
      transfer_group: 'payout:creator_1:2025-01',
      description: null,
    });
    expect(transfer.id).toMatch(/^tr_[A-Za-z0-9]{24}$/);
    expect(transfer.balance_transaction).toMatch(/^txn_/);
    expect(transfer.destination_payment).toMatch(/^py_/);
    expect(transfer.reversals).toMatchObject({ object: 'list', data: [], has_more: false, url: `/v1/transfers/${transfer.id}/reversals` });

    expect(await platformAvailable()).toBe(75_000);
    expect(await accountAvailable(account.id)).toBe(25_000);

    const [created] = await eventually(
      () => received('transfer.created', null).length > 0 && received('transfer.created', null),
      'transfer.created',
    );
    expect(created!.account).toBeUndefined();
    expect((created!.data.object as Stripe.Transfer).id).toBe(transfer.id);
    expect(created!.request).toEqual({ id: transfer.lastResponse.requestId, idempotency_key: 'payout:creator_1:2025-01' });
    // The destination is told its funds are available.
    const [arrived] = await eventually(
      () => received('balance.available', account.id).length > 0 && received('balance.available', account.id),
      'balance.available on the account',
    );
    expect(available(arrived!.data.object as Stripe.Balance)).toBe(25_000);

    // lastResponse is not enumerable: the retrieved object is the created one.
    expect(await stripe.transfers.retrieve(transfer.id)).toEqual({ ...transfer });
  });

  it('replays a retry with the same Idempotency-Key and refuses the key with other parameters', async () => {
    const account = await payableAccount();
    await standin.fund(100_000);
    const key = 'payout:creator_2:2025-02';
    const first = await pay(account.id, 10_000, 'payout:creator_2:2025-02', key);
    const again = await pay(account.id, 10_000, 'payout:creator_2:2025-02', key);
    expect(again.id).toBe(first.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(first.lastResponse.headers['idempotent-replayed']).toBeUndefined();

    const other = await rejectionOf(pay(account.id, 10_001, 'payout:creator_2:2025-02', key));
    expectStripeError(other, Stripe.errors.StripeIdempotencyError, { statusCode: 400 });
    expect((other as Error).message).toMatch(/same parameters/);

    expect(await platformAvailable()).toBe(90_000);
    expect(await accountAvailable(account.id)).toBe(10_000);
    expect((await stripe.transfers.list({ transfer_group: 'payout:creator_2:2025-02' })).data).toHaveLength(1);
  });

  it('fails with balance_insufficient in Stripe’s envelope, and replays that failure to a retry with the same key', async () => {
    const account = await payableAccount();
    const broke = await rejectionOf(pay(account.id, 5_000, 'g-broke', 'key-broke'));
    expectStripeError(broke, Stripe.errors.StripeInvalidRequestError, {
      statusCode: 400,
      code: 'balance_insufficient',
      rawType: 'invalid_request_error',
      doc_url: 'https://stripe.com/docs/error-codes/balance-insufficient',
    });
    expect((broke as Error).message).toMatch(/insufficient available funds/);

    // The failure happened while executing, so Stripe keeps it as that key's answer: the same key
    // fails again even once the balance could cover it. A new attempt needs a new key.
    await standin.fund(20_000);
    const replayed = await rejectionOf(pay(account.id, 5_000, 'g-broke', 'key-broke'));
    expectStripeError(replayed, Stripe.errors.StripeInvalidRequestError, { code: 'balance_insufficient' });
    expect((replayed as Stripe.errors.StripeError).headers?.['idempotent-replayed']).toBe('true');
    const paid = await pay(account.id, 5_000, 'g-broke', 'key-broke:2');
    expect(paid.amount).toBe(5_000);

    // The fault switch fails the next N transfers whatever the balance, then lets them through.
    const set = await standinControl(standin, '/_standin/faults/balance-insufficient', { count: 2 });
    expect(set).toEqual({ status: 200, body: { balanceInsufficient: 2 } });
    for (const attempt of [1, 2]) {
      const err = await rejectionOf(pay(account.id, 1_000, 'g-fault', `key-fault:${attempt}`));
      expectStripeError(err, Stripe.errors.StripeInvalidRequestError, { code: 'balance_insufficient' });
    }
    expect((await pay(account.id, 1_000, 'g-fault', 'key-fault:3')).amount).toBe(1_000);
    expect(await platformAvailable()).toBe(14_000);
    expect(await accountAvailable(account.id)).toBe(6_000);
    expect((await standinControl(standin, '/_standin/faults/balance-insufficient', { count: -1 })).status).toBe(400);

    // Nothing is sent for failed transfers.
    await eventually(() => received('transfer.created', null).length === 2, 'two transfer.created');
  });

  it('refuses an unknown or unpayable destination and bad parameters without remembering the key', async () => {
    const account = await payableAccount();
    await standin.fund(50_000);

    const unknown = await rejectionOf(pay('acct_doesnotexist0000', 1_000, 'g', 'key-unknown'));
    expectStripeError(unknown, Stripe.errors.StripeInvalidRequestError, {
      statusCode: 400,
      code: 'resource_missing',
      param: 'destination',
      message: "No such destination: 'acct_doesnotexist0000'",
    });
    // A validation error is not the key's answer: the key still works for the intended request.
    expect((await pay(account.id, 1_000, 'g', 'key-unknown')).destination).toBe(account.id);

    const restricted = await payableAccount('restricted@example.com');
    await standin.restrict(restricted.id, 'requirements.past_due');
    const disabled = await rejectionOf(pay(restricted.id, 1_000, 'g'));
    expectStripeError(disabled, Stripe.errors.StripeInvalidRequestError, {
      code: 'insufficient_capabilities_for_transfer',
      param: 'destination',
    });
    await standin.deauthorize(restricted.id);
    expectStripeError(await rejectionOf(pay(restricted.id, 1_000, 'g')), Stripe.errors.StripeInvalidRequestError, {
      code: 'resource_missing',
    });

    const cases: [Stripe.TransferCreateParams, string, string | undefined][] = [
      [{ currency: 'usd', destination: account.id }, 'amount', 'parameter_missing'],
      [{ amount: 0, currency: 'usd', destination: account.id }, 'amount', undefined],
      [{ amount: 1_000, currency: 'us dollars', destination: account.id }, 'currency', undefined],
      [{ amount: 1_000, currency: 'usd' } as Stripe.TransferCreateParams, 'destination', 'parameter_missing'],
      [{ amount: 1_000, currency: 'usd', destination: account.id, bogus: 1 } as Stripe.TransferCreateParams, 'bogus', 'parameter_unknown'],
      [{ amount: 1_000, currency: 'usd', destination: account.id, source_transaction: 'ch_123' }, 'source_transaction', 'resource_missing'],
    ];
    for (const [params, param, code] of cases) {
      const err = await rejectionOf(stripe.transfers.create(params));
      expectStripeError(err, Stripe.errors.StripeInvalidRequestError, { param, code });
    }
    const amountAsText = await rejectionOf(
      stripe.transfers.create({ amount: 'lots' as unknown as number, currency: 'usd', destination: account.id }),
    );
    expectStripeError(amountAsText, Stripe.errors.StripeInvalidRequestError, { param: 'amount', message: 'Invalid integer: lots' });
    // Ids that name Object.prototype members are nobody's.
    expectStripeError(await rejectionOf(pay('constructor', 1_000, 'g')), Stripe.errors.StripeInvalidRequestError, {
      code: 'resource_missing',
    });
    expectStripeError(await rejectionOf(stripe.transfers.retrieve('__proto__')), Stripe.errors.StripeInvalidRequestError, {
      statusCode: 404,
    });
    const asConstructor = await rejectionOf(stripe.balance.retrieve({}, { stripeAccount: 'constructor' }));
    expect(asConstructor).toBeInstanceOf(Stripe.errors.StripePermissionError);
    expect(await platformAvailable()).toBe(49_000);
  });

  it('lists by transfer_group and destination, newest first, with pagination, scoped to the caller', async () => {
    const a = await payableAccount('a@example.com');
    const b = await payableAccount('b@example.com');
    await standin.fund(100_000);
    const a1 = await pay(a.id, 1_000, 'payout:a:2025-01');
    const b1 = await pay(b.id, 2_000, 'payout:b:2025-01');
    const a2 = await pay(a.id, 3_000, 'payout:a:2025-02');
    const a3 = await pay(a.id, 4_000, 'payout:a:2025-02');

    const group = await stripe.transfers.list({ transfer_group: 'payout:a:2025-02' });
    expect(group).toMatchObject({ object: 'list', has_more: false, url: '/v1/transfers' });
    expect(group.data.map((t) => t.id)).toEqual([a3.id, a2.id]);
    expect((await stripe.transfers.list({ transfer_group: 'payout:nobody:2025-01' })).data).toEqual([]);
    expect((await stripe.transfers.list({ destination: a.id })).data.map((t) => t.id)).toEqual([a3.id, a2.id, a1.id]);

    const page = await stripe.transfers.list({ limit: 2 });
    expect(page.data.map((t) => t.id)).toEqual([a3.id, a2.id]);
    expect(page.has_more).toBe(true);
    const next = await stripe.transfers.list({ limit: 2, starting_after: a2.id });
    expect(next.data.map((t) => t.id)).toEqual([b1.id, a1.id]);
    expect(next.has_more).toBe(false);
    expect((await stripe.transfers.list({ limit: 1, ending_before: b1.id })).data.map((t) => t.id)).toEqual([a2.id]);
    expect((await stripe.transfers.list({ limit: 1 }).autoPagingToArray({ limit: 10 })).map((t) => t.id)).toEqual([
      a3.id,
      a2.id,
      b1.id,
      a1.id,
    ]);
    const now = Math.floor(Date.now() / 1000);
    expect((await stripe.transfers.list({ created: { gte: now - 60 } })).data).toHaveLength(4);
    expect((await stripe.transfers.list({ created: { lt: now - 60 } })).data).toHaveLength(0);

    expectStripeError(await rejectionOf(stripe.transfers.list({ limit: 101 })), Stripe.errors.StripeInvalidRequestError, {
      param: 'limit',
    });
    expectStripeError(await rejectionOf(stripe.transfers.list({ starting_after: 'tr_nope' })), Stripe.errors.StripeInvalidRequestError, {
      code: 'resource_missing',
      param: 'starting_after',
    });
    const missing = await rejectionOf(stripe.transfers.retrieve('tr_doesnotexist'));
    expectStripeError(missing, Stripe.errors.StripeInvalidRequestError, { statusCode: 404, code: 'resource_missing', param: 'id' });

    // A connected account sees no transfers of the platform's.
    expect((await stripe.transfers.list({}, { stripeAccount: a.id })).data).toEqual([]);
    const hidden = await rejectionOf(stripe.transfers.retrieve(a1.id, {}, { stripeAccount: a.id }));
    expectStripeError(hidden, Stripe.errors.StripeInvalidRequestError, { statusCode: 404 });
  });
});

describe('Stripe stand-in: reversals', () => {
  it('reverses partly then fully, moving funds back and sending transfer.reversed each time', async () => {
    const account = await payableAccount();
    await standin.fund(10_000);
    const transfer = await pay(account.id, 6_000, 'payout:c:2025-03');

    const partial = await stripe.transfers.createReversal(transfer.id, { amount: 2_500, metadata: { reason: 'refund' } });
    expect(partial).toMatchObject({
      object: 'transfer_reversal',
      amount: 2_500,
      currency: 'usd',
      transfer: transfer.id,
      metadata: { reason: 'refund' },
      source_refund: null,
    });
    expect(partial.id).toMatch(/^trr_/);
    expect(partial.destination_payment_refund).toMatch(/^pyr_/);
    let after = await stripe.transfers.retrieve(transfer.id);
    expect(after).toMatchObject({ amount_reversed: 2_500, reversed: false });
    expect(after.reversals.data.map((r) => r.id)).toEqual([partial.id]);
    expect(await platformAvailable()).toBe(6_500);
    expect(await accountAvailable(account.id)).toBe(3_500);

    // Without an amount, the rest is reversed.
    const rest = await stripe.transfers.createReversal(transfer.id);
    expect(rest.amount).toBe(3_500);
    after = await stripe.transfers.retrieve(transfer.id);
    expect(after).toMatchObject({ amount_reversed: 6_000, reversed: true });
    expect(await platformAvailable()).toBe(10_000);
    expect(await accountAvailable(account.id)).toBe(0);

    const listed = await stripe.transfers.listReversals(transfer.id);
    expect(listed.data.map((r) => r.id)).toEqual([rest.id, partial.id]);
    expect((await stripe.transfers.retrieveReversal(transfer.id, partial.id)).amount).toBe(2_500);

    const events = await eventually(
      () => received('transfer.reversed', null).length === 2 && received('transfer.reversed', null),
      'two transfer.reversed',
    );
    const objects = events.map((e) => e.data.object as Stripe.Transfer);
    expect(objects.map((t) => [t.amount_reversed, t.reversed])).toEqual([
      [2_500, false],
      [6_000, true],
    ]);
    expect(events[0]!.data.previous_attributes).toEqual({ amount_reversed: 0 });
    expect(events[1]!.data.previous_attributes).toEqual({ amount_reversed: 2_500, reversed: false });

    const again = await rejectionOf(stripe.transfers.createReversal(transfer.id));
    expectStripeError(again, Stripe.errors.StripeInvalidRequestError, { statusCode: 400 });
    expect((again as Error).message).toBe(`The transfer ${transfer.id} is already fully reversed.`);
  });

  it('refuses to reverse more than is left, or a transfer that does not exist', async () => {
    const account = await payableAccount();
    await standin.fund(5_000);
    const transfer = await pay(account.id, 5_000, 'g');
    await stripe.transfers.createReversal(transfer.id, { amount: 4_000 });
    const tooMuch = await rejectionOf(stripe.transfers.createReversal(transfer.id, { amount: 1_001 }));
    expectStripeError(tooMuch, Stripe.errors.StripeInvalidRequestError, { param: 'amount' });
    const missing = await rejectionOf(stripe.transfers.createReversal('tr_doesnotexist'));
    expectStripeError(missing, Stripe.errors.StripeInvalidRequestError, { statusCode: 404, code: 'resource_missing' });
    expect(await accountAvailable(account.id)).toBe(1_000);
  });
});

describe('Stripe stand-in: idempotency keys Stripe has forgotten', () => {
  it('creates a second transfer for a retry after the keys are forgotten, unless the caller lists by transfer_group first', async () => {
    const account = await payableAccount();
    await standin.fund(100_000);
    const group = 'payout:creator_9:2025-04';
    const first = await pay(account.id, 7_000, group, group);

    const forgot = await standinControl<{ forgotten: number }>(standin, '/_standin/idempotency/forget', {});
    expect(forgot.status).toBe(200);
    expect(forgot.body.forgotten).toBeGreaterThanOrEqual(1);

    // The safe retry: look the transfer up by its group before creating anything.
    const existing = await stripe.transfers.list({ transfer_group: group, limit: 1 });
    expect(existing.data.map((t) => t.id)).toEqual([first.id]);

    // The naive retry: the key is new again, so Stripe makes a second transfer.
    const second = await pay(account.id, 7_000, group, group);
    expect(second.id).not.toBe(first.id);
    expect(second.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    expect((await stripe.transfers.list({ transfer_group: group })).data).toHaveLength(2);
    expect(await accountAvailable(account.id)).toBe(14_000);

    // One key can be forgotten alone.
    await pay(account.id, 1_000, 'other', 'keep-me');
    await pay(account.id, 1_000, 'another', 'forget-me');
    expect((await standinControl<{ forgotten: number }>(standin, '/_standin/idempotency/forget', { key: 'forget-me' })).body).toEqual({
      forgotten: 1,
    });
    expect((await pay(account.id, 1_000, 'other', 'keep-me')).lastResponse.headers['idempotent-replayed']).toBe('true');
    expect((await standinControl(standin, '/_standin/idempotency/forget', { key: 42 })).status).toBe(400);
  });

  it('prunes a key once it is more than 24 hours old', async () => {
    const account = await payableAccount();
    await standin.fund(100_000);
    const first = await pay(account.id, 3_000, 'g-ttl', 'key-ttl');
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 23 * 3600_000);
    expect((await pay(account.id, 3_000, 'g-ttl', 'key-ttl')).id).toBe(first.id);
    vi.setSystemTime(Date.now() + 2 * 3600_000);
    expect((await pay(account.id, 3_000, 'g-ttl', 'key-ttl')).id).not.toBe(first.id);
  });
});

describe('Stripe stand-in: money across a restart', () => {
  it('keeps balances, transfers, reversals and the fault switch', async () => {
    const account = await payableAccount();
    await standin.fund(9_000);
    const transfer = await pay(account.id, 4_000, 'g-restart', 'key-restart');
    await stripe.transfers.createReversal(transfer.id, { amount: 1_000 });
    await standin.failNextTransfers(1);
    await standin.close();
    running.delete(standin);

    standin = await start();
    stripe = stripeClientFor(standin);
    expect(await platformAvailable()).toBe(6_000);
    expect(await accountAvailable(account.id)).toBe(3_000);
    expect((await stripe.transfers.retrieve(transfer.id)).amount_reversed).toBe(1_000);
    expect((await pay(account.id, 4_000, 'g-restart', 'key-restart')).id).toBe(transfer.id);
    const failed = await rejectionOf(pay(account.id, 1_000, 'g-restart-2'));
    expectStripeError(failed, Stripe.errors.StripeInvalidRequestError, { code: 'balance_insufficient' });

    const { body } = await standinControl<{ events: StandinEventEntry[] }>(
      standin,
      '/_standin/events?type=transfer.created&account=platform',
    );
    expect(body.events.map((e) => (e.event.data.object as Stripe.Transfer).id)).toEqual([transfer.id]);
    await eventually(async () => {
      const { body: all } = await standinControl<{ events: StandinEventEntry[] }>(standin, '/_standin/events');
      return all.events.every((e) => e.delivery.status === 'delivered');
    }, 'all events delivered');
  });
});
