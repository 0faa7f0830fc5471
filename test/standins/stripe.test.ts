// Drives the real `stripe` SDK (through integrations/stripe.ts) against the Stripe Connect
// stand-in, with a small local HTTP server receiving its webhooks (test/support/stripe.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createStripeClient } from '../../integrations/stripe.js';
import { startStripeStandin, type EventDelivery, type StripeStandin } from '../../standins/stripe/index.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/stripe.js';
import { waitFor } from '../support/wait.js';

const SECRET = 'whsec_test_standin_secret_0123456789';
const RETURN_URL = 'http://localhost:5173/onboarding/stripe/return';
const REFRESH_URL = 'http://localhost:5173/onboarding/stripe/refresh';

let dir: string;
let stateFile: string;
let receiver: WebhookReceiver;
let standin: StripeStandin;
let stripe: Stripe;
const running = new Set<StripeStandin>();

async function start(overrides: Partial<Parameters<typeof startStripeStandin>[0]> = {}) {
  const s = await startStripeStandin({
    port: 0,
    stateFile,
    webhookUrl: receiver.url,
    webhookSecret: SECRET,
    webhookRetryDelaysMs: [50, 100, 200],
    ...overrides,
  });
  running.add(s);
  return s;
}

async function stop(s: StripeStandin) {
  running.delete(s);
  await s.close();
}

/** The SDK client exactly as the app builds it, pointed at this stand-in's port. */
function clientFor(s: StripeStandin) {
  return createStripeClient({
    STRIPE_SECRET_KEY: undefined,
    STRIPE_STANDIN_PORT: Number(new URL(s.url).port),
    usesStripeStandin: true,
  });
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

type EventEntry = { event: Stripe.Event; delivery: EventDelivery };
const standinEvents = (s: StripeStandin, query = '') =>
  getJson<{ events: EventEntry[] }>(`${s.url}/_standin/events${query}`).then((r) => r.events);
const standinAccounts = (s: StripeStandin) =>
  getJson<{ accountCreations: number; accounts: { account: Stripe.Account; deauthorized: boolean }[] }>(`${s.url}/_standin/accounts`);

/** Verified webhook events of `type` for `account` that reached the receiver. */
const received = (type: string, account: string): Stripe.Event[] => receiver.events(stripe, SECRET, type, account);

/** Webhooks arrive within milliseconds here; a short deadline keeps failures fast. */
const eventually = <T>(check: () => Promise<T> | T, what: string) => waitFor(check, what, 5_000, 20);

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );

function createExpressAccount(email = 'creator@example.com', idempotencyKey?: string, userId = 'user_1') {
  return stripe.accounts.create(
    {
      type: 'express',
      country: 'US',
      email,
      business_type: 'individual',
      capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
      metadata: { userId },
    },
    idempotencyKey ? { idempotencyKey } : undefined,
  );
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'stripe-standin-'));
});
beforeEach(async (ctx) => {
  stateFile = path.join(dir, `${ctx.task.id}`, 'stripe-standin.json');
  receiver = await startWebhookReceiver();
  standin = await start();
  stripe = clientFor(standin);
});
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all([...running].map((s) => stop(s)));
  await receiver.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Stripe stand-in: API', () => {
  it('listens on the actual port when asked for port 0 and reports health', async () => {
    expect(standin.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Number(new URL(standin.url).port)).toBeGreaterThan(0);
    expect(await getJson(`${standin.url}/_standin/health`)).toEqual({
      status: 'ok',
      accounts: 0,
      accountCreations: 0,
      events: 0,
    });
  });

  it('creates a realistic, not yet onboarded Express account from form-encoded nested params', async () => {
    const account = await createExpressAccount('Creator@Example.com');
    expect(account.id).toMatch(/^acct_[A-Za-z0-9]{16}$/);
    expect(account).toMatchObject({
      object: 'account',
      type: 'express',
      country: 'US',
      default_currency: 'usd',
      email: 'Creator@Example.com',
      business_type: 'individual',
      details_submitted: false,
      charges_enabled: false,
      payouts_enabled: false,
      capabilities: { card_payments: 'inactive', transfers: 'inactive' },
      metadata: { userId: 'user_1' },
    });
    expect(account.created).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(account.requirements?.disabled_reason).toBe('requirements.past_due');
    expect(account.requirements?.currently_due).toEqual(
      expect.arrayContaining(['external_account', 'individual.first_name', 'tos_acceptance.date']),
    );
    // business_type was given, so onboarding doesn't ask for it again.
    expect(account.requirements?.currently_due).not.toContain('business_type');
    expect(account.lastResponse.headers['request-id']).toMatch(/^req_/);
  });

  it('creates exactly one account per idempotency key and refuses the key with other params', async () => {
    const first = await createExpressAccount('a@example.com', 'create-account:user_42', 'user_42');
    const again = await createExpressAccount('a@example.com', 'create-account:user_42', 'user_42');
    expect(again.id).toBe(first.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(first.lastResponse.headers['idempotent-replayed']).toBeUndefined();

    const err = await rejection(createExpressAccount('other@example.com', 'create-account:user_42', 'user_42'));
    expect(err).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect((err as Stripe.errors.StripeError).statusCode).toBe(400);
    expect((err as Stripe.errors.StripeError).message).toMatch(/same parameters/);

    // A different key is a different request.
    const other = await createExpressAccount('a@example.com', 'create-account:user_43', 'user_43');
    expect(other.id).not.toBe(first.id);

    const { accountCreations, accounts } = await standinAccounts(standin);
    expect(accountCreations).toBe(2);
    expect(accounts.map((a) => a.account.id).sort()).toEqual([first.id, other.id].sort());
  });

  it('retrieves accounts and honours the Stripe-Account context', async () => {
    const a = await createExpressAccount('a@example.com');
    const b = await createExpressAccount('b@example.com');

    const got = await stripe.accounts.retrieve(a.id, { expand: ['external_accounts'] });
    expect(got.id).toBe(a.id);
    expect(got.email).toBe('a@example.com');
    expect(got.requirements).toEqual(a.requirements);

    // As connected account `a`, the current account is `a` and `b` is off limits.
    expect((await stripe.accounts.retrieve(null, {}, { stripeAccount: a.id })).id).toBe(a.id);
    expect((await stripe.accounts.retrieve(a.id, {}, { stripeAccount: a.id })).id).toBe(a.id);
    const crossed = await rejection(stripe.accounts.retrieve(b.id, {}, { stripeAccount: a.id }));
    expect(crossed).toBeInstanceOf(Stripe.errors.StripePermissionError);

    const unknown = await rejection(stripe.accounts.retrieve('acct_doesnotexist0000'));
    expect(unknown).toBeInstanceOf(Stripe.errors.StripePermissionError);
    expect((unknown as Stripe.errors.StripeError).code).toBe('account_invalid');
    const badContext = await rejection(stripe.accounts.retrieve(null, {}, { stripeAccount: 'acct_doesnotexist0000' }));
    expect(badContext).toBeInstanceOf(Stripe.errors.StripePermissionError);
  });

  it('validates params the way Stripe does, with typed errors naming the param', async () => {
    const account = await createExpressAccount();
    const cases: [Promise<unknown>, string, string | undefined][] = [
      [
        stripe.accountLinks.create({
          account: account.id,
          refresh_url: REFRESH_URL,
          return_url: RETURN_URL,
        } as Stripe.AccountLinkCreateParams),
        'type',
        'parameter_missing',
      ],
      [
        stripe.accountLinks.create({
          account: account.id,
          type: 'nope' as 'account_onboarding',
          refresh_url: REFRESH_URL,
          return_url: RETURN_URL,
        }),
        'type',
        undefined,
      ],
      [
        stripe.accountLinks.create({ account: account.id, type: 'account_onboarding', refresh_url: REFRESH_URL, return_url: 'not a url' }),
        'return_url',
        'url_invalid',
      ],
      [stripe.accounts.create({ type: 'express', email: 'not-an-email' }), 'email', 'email_invalid'],
      [stripe.accounts.create({ type: 'express', bogus: 'x' } as Stripe.AccountCreateParams), 'bogus', 'parameter_unknown'],
      [stripe.accounts.create({ email: 'a@example.com' }), 'type', 'parameter_missing'],
    ];
    for (const [call, param, code] of cases) {
      const err = await rejection(call);
      expect(err).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect((err as Stripe.errors.StripeError).param).toBe(param);
      expect((err as Stripe.errors.StripeError).code).toBe(code);
    }
    // Rejected requests create nothing.
    expect((await standinAccounts(standin)).accountCreations).toBe(1);
  });

  it('answers unknown routes with a 404 invalid request and bad keys with typed authentication errors', async () => {
    const missing = await rejection(stripe.customers.retrieve('cus_123'));
    expect(missing).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect((missing as Stripe.errors.StripeError).statusCode).toBe(404);
    expect((missing as Stripe.errors.StripeError).message).toMatch(/Unrecognized request URL \(GET: \/v1\/customers\/cus_123\)/);

    const port = Number(new URL(standin.url).port);
    const live = new Stripe('sk_live_0123456789abcdef', { host: '127.0.0.1', port, protocol: 'http', maxNetworkRetries: 0 });
    const liveErr = await rejection(live.accounts.create({ type: 'express' }));
    expect(liveErr).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect((liveErr as Stripe.errors.StripeError).message).toMatch(/^Invalid API Key provided: sk_live_\*+cdef$/);

    const noAuth = await fetch(`${standin.url}/v1/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'type=express',
    });
    expect(noAuth.status).toBe(401);
    const body = (await noAuth.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/You did not provide an API key/);
    expect((await standinAccounts(standin)).accountCreations).toBe(0);
  });
});

describe('Stripe stand-in: onboarding links, login links and webhooks', () => {
  it('creates a five-minute account_onboarding link on the stand-in', async () => {
    const account = await createExpressAccount();
    const link = await stripe.accountLinks.create({
      account: account.id,
      type: 'account_onboarding',
      refresh_url: REFRESH_URL,
      return_url: RETURN_URL,
    });
    expect(link.object).toBe('account_link');
    expect(link.url).toMatch(new RegExp(`^${standin.url}/connect/onboarding/[A-Za-z0-9]+$`));
    expect(link.expires_at - link.created).toBe(300);
  });

  it('refuses login links before onboarding and allows them after', async () => {
    const account = await createExpressAccount();
    const refused = await rejection(stripe.accounts.createLoginLink(account.id));
    expect(refused).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect((refused as Stripe.errors.StripeError).message).toMatch(/not completed onboarding/);

    await standin.complete(account.id);
    const login = await stripe.accounts.createLoginLink(account.id);
    expect(login.object).toBe('login_link');
    expect(login.url.startsWith(`${standin.url}/express/${account.id}/`)).toBe(true);
    const page = await fetch(login.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Payouts: enabled');
  });

  it('complete() activates the account and delivers a signed account.updated webhook', async () => {
    const account = await createExpressAccount();
    await standin.complete(account.id);

    const [event] = await eventually(
      () => received('account.updated', account.id).length > 0 && received('account.updated', account.id),
      'account.updated',
    );
    expect(event).toMatchObject({ object: 'event', livemode: false, api_version: Stripe.API_VERSION, account: account.id });
    expect(event!.id).toMatch(/^evt_/);
    const object = event!.data.object as Stripe.Account;
    expect(object).toMatchObject({ id: account.id, details_submitted: true, charges_enabled: true, payouts_enabled: true });
    expect(object.requirements?.currently_due).toEqual([]);
    expect(object.requirements?.disabled_reason).toBeNull();
    expect(object.capabilities).toEqual({ card_payments: 'active', transfers: 'active' });
    expect(event!.data.previous_attributes).toMatchObject({ charges_enabled: false, details_submitted: false });

    // Capability changes are announced too.
    await eventually(() => received('capability.updated', account.id).length === 2, 'capability.updated x2');

    // The signature is bound to the secret and to the exact body.
    const delivery = receiver.deliveries[0]!;
    expect(() => stripe.webhooks.constructEvent(delivery.body, delivery.signature, 'whsec_other_secret_000000')).toThrow(
      Stripe.errors.StripeSignatureVerificationError,
    );
    expect(() => stripe.webhooks.constructEvent(`${delivery.body} `, delivery.signature, SECRET)).toThrow(
      Stripe.errors.StripeSignatureVerificationError,
    );

    // The API agrees with the webhook, and completing again changes (and sends) nothing.
    const after = await stripe.accounts.retrieve(account.id);
    expect([after.details_submitted, after.charges_enabled, after.payouts_enabled]).toEqual([true, true, true]);
    await standin.complete(account.id);
    expect(await standinEvents(standin, `?account=${account.id}`)).toHaveLength(3);
    const delivered = await standinEvents(standin, `?type=account.updated&account=${account.id}`);
    expect(delivered[0]!.delivery).toMatchObject({ status: 'delivered', attempts: 1, lastStatus: 200 });
  });

  it('restrict() disables the account with the given reason and tells the platform', async () => {
    const account = await createExpressAccount();
    await standin.complete(account.id);
    await standin.restrict(account.id, 'requirements.past_due');

    const restricted = await stripe.accounts.retrieve(account.id);
    expect(restricted.requirements?.disabled_reason).toBe('requirements.past_due');
    expect(restricted.charges_enabled).toBe(false);
    expect(restricted.payouts_enabled).toBe(false);
    expect(restricted.requirements?.currently_due?.length).toBeGreaterThan(0);

    const updates = await eventually(
      () => received('account.updated', account.id).length === 2 && received('account.updated', account.id),
      'two account.updated',
    );
    const last = updates.map((e) => e.data.object as Stripe.Account).find((a) => !a.charges_enabled);
    expect(last?.requirements?.disabled_reason).toBe('requirements.past_due');

    // Over the control endpoint, with another reason.
    const res = await fetch(`${standin.url}/_standin/accounts/${account.id}/restrict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'rejected.fraud' }),
    });
    expect(res.status).toBe(200);
    expect((await stripe.accounts.retrieve(account.id)).requirements?.disabled_reason).toBe('rejected.fraud');
    const noReason = await fetch(`${standin.url}/_standin/accounts/${account.id}/restrict`, { method: 'POST', body: '{}' });
    expect(noReason.status).toBe(400);
  });

  it('deauthorize() sends account.application.deauthorized and revokes API access', async () => {
    const account = await createExpressAccount();
    const res = await fetch(`${standin.url}/_standin/accounts/${account.id}/deauthorize`, { method: 'POST' });
    expect(res.status).toBe(200);

    const [event] = await eventually(
      () => received('account.application.deauthorized', account.id).length > 0 && received('account.application.deauthorized', account.id),
      'deauthorized event',
    );
    expect(event!.account).toBe(account.id);
    expect(event!.data.object).toMatchObject({ object: 'application' });
    expect((event!.data.object as Stripe.Application).id).toMatch(/^ca_/);

    const err = await rejection(stripe.accounts.retrieve(account.id));
    expect(err).toBeInstanceOf(Stripe.errors.StripePermissionError);
  });

  it('retries webhook deliveries with backoff until the endpoint answers 2xx, then gives up', async () => {
    const account = await createExpressAccount();
    receiver.failures = 2;
    await standin.deauthorize(account.id);
    await eventually(() => received('account.application.deauthorized', account.id).length === 1, 'delivery after retries');
    const [entry] = await standinEvents(standin, '?type=account.application.deauthorized');
    expect(entry!.delivery).toMatchObject({ status: 'delivered', attempts: 3, lastStatus: 200 });

    // An endpoint that never answers: one attempt per retry delay plus the first, then failed.
    const down = await start({ stateFile: path.join(dir, 'down.json'), webhookUrl: 'http://127.0.0.1:9/hook' });
    const other = await clientFor(down).accounts.create({ type: 'express', email: 'x@example.com' });
    await down.complete(other.id);
    const failed = await eventually(async () => {
      const [e] = await standinEvents(down, '?type=account.updated');
      return e?.delivery.status === 'failed' && e;
    }, 'delivery to give up');
    expect(failed.delivery.attempts).toBe(4);
    expect(failed.delivery.lastError).toBeTruthy();
  });
});

describe('Stripe stand-in: hosted onboarding page', () => {
  async function newLink(accountId: string) {
    return stripe.accountLinks.create({ account: accountId, type: 'account_onboarding', refresh_url: REFRESH_URL, return_url: RETURN_URL });
  }

  async function openForm(url: string) {
    const page = await fetch(url, { redirect: 'manual' });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    const session = /name="session" value="([^"]+)"/.exec(html)?.[1];
    expect(session).toBeTruthy();
    return { html, session: session! };
  }

  const submit = (url: string, form: Record<string, string>) =>
    fetch(url, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });

  it('completes KYC from the form, redirects to return_url, and is single use', async () => {
    const account = await createExpressAccount();
    const link = await newLink(account.id);

    const { html, session } = await openForm(link.url);
    expect(html).toContain(account.id);
    expect(html).toContain('<form method="post"');

    const done = await submit(link.url, { session, action: 'complete' });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(RETURN_URL);

    const after = await stripe.accounts.retrieve(account.id);
    expect([after.details_submitted, after.charges_enabled, after.payouts_enabled]).toEqual([true, true, true]);
    expect(after.requirements?.currently_due).toEqual([]);
    await eventually(() => received('account.updated', account.id).length === 1, 'account.updated from the form');

    // Reusing the link (visit or post) lands on refresh_url.
    const revisit = await fetch(link.url, { redirect: 'manual' });
    expect(revisit.status).toBe(302);
    expect(revisit.headers.get('location')).toBe(REFRESH_URL);
    const repost = await submit(link.url, { session, action: 'complete' });
    expect(repost.headers.get('location')).toBe(REFRESH_URL);
  });

  it('returns without completing when the person leaves early', async () => {
    const account = await createExpressAccount();
    const link = await newLink(account.id);
    const { session } = await openForm(link.url);
    const left = await submit(link.url, { session, action: 'exit' });
    expect(left.status).toBe(303);
    expect(left.headers.get('location')).toBe(RETURN_URL);
    expect((await stripe.accounts.retrieve(account.id)).details_submitted).toBe(false);
    expect(await standinEvents(standin)).toEqual([]);
  });

  it('sends an expired link to refresh_url and a forged form post nowhere useful', async () => {
    const account = await createExpressAccount();
    const expired = await newLink(account.id);
    const fresh = await newLink(account.id);

    const forged = await submit(fresh.url, { session: 'guess', action: 'complete' });
    expect(forged.headers.get('location')).toBe(REFRESH_URL);

    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 301_000);
    const res = await fetch(expired.url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(REFRESH_URL);
    expect((await fetch(`${standin.url}/connect/onboarding/unknownlink`)).status).toBe(404);
    expect((await stripe.accounts.retrieve(account.id)).details_submitted).toBe(false);
  });
});

describe('Stripe stand-in: persistence', () => {
  it('keeps accounts, links, idempotency keys and the creation count across a restart', async () => {
    const account = await createExpressAccount('keep@example.com', 'create-account:user_keep', 'user_keep');
    const link = await stripe.accountLinks.create({
      account: account.id,
      type: 'account_onboarding',
      refresh_url: REFRESH_URL,
      return_url: RETURN_URL,
    });
    await openForm(link.url);
    await stop(standin);

    const again = await start();
    expect(again.url).not.toBe(standin.url);
    const client = clientFor(again);
    const got = await client.accounts.retrieve(account.id);
    expect(got).toMatchObject({ id: account.id, email: 'keep@example.com', metadata: { userId: 'user_keep' } });

    const replayed = await client.accounts.create(
      {
        type: 'express',
        country: 'US',
        email: 'keep@example.com',
        business_type: 'individual',
        capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
        metadata: { userId: 'user_keep' },
      },
      { idempotencyKey: 'create-account:user_keep' },
    );
    expect(replayed.id).toBe(account.id);
    expect(replayed.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect((await standinAccounts(again)).accountCreations).toBe(1);

    // The link was consumed before the restart.
    const revisit = await fetch(link.url.replace(standin.url, again.url), { redirect: 'manual' });
    expect(revisit.headers.get('location')).toBe(REFRESH_URL);

    await again.complete(account.id);
    await stop(again);
    const third = await start();
    expect((await clientFor(third).accounts.retrieve(account.id)).charges_enabled).toBe(true);
    // Whatever was not yet delivered at shutdown goes out after the restart.
    await eventually(async () => (await standinEvents(third)).every((e) => e.delivery.status === 'delivered'), 'all delivered');
    expect(received('account.updated', account.id)).toHaveLength(1);
  });

  async function openForm(url: string) {
    const page = await fetch(url, { redirect: 'manual' });
    expect(page.status).toBe(200);
  }
});
