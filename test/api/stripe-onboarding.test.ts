// Terms → Stripe Connect Express → activation over the API (SPEC §2), with the Stripe stand-in
// playing hosted KYC. Two harnesses: `h` is the usual one, whose stand-in delivers its signed
// webhooks to the API by itself; `q` (webhook tests) talks to a "quiet" stand-in that only
// records its events, so each test decides which events reach the API, how often and in what order.
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creatorProfiles, stripeEvents, users } from '../../db/schema.js';
import { startStripeStandin, type StandinEvent, type StripeStandin } from '../../standins/stripe/index.js';
import { bearer, login, registerUnverified, startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';
import { UserId } from '../../workflows/search-attributes.js';

const VERIFY_SUBJECT = /confirm|confirmez/i;
const WELCOME_SUBJECT = /active|actif/i;
const RESTRICTED_SUBJECT = /restrict/i;
const TERMS = '2025-01';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

// ------------------------------------------------------------------ helpers

type User = { userId: string; email: string; auth: Record<string, string> };

const post = (hh: Harness, url: string, auth: Record<string, string>, payload?: object) =>
  hh.app.inject({ method: 'POST', url: `/api/v1${url}`, headers: auth, ...(payload ? { payload } : {}) });
const get = (hh: Harness, url: string, auth: Record<string, string>) => hh.app.inject({ url: `/api/v1${url}`, headers: auth });

/** Registered, email verified through the mailed link, logged in. */
async function signUp(hh: Harness): Promise<User> {
  const { userId, email } = await registerUnverified(hh);
  const verified = await post(hh, '/auth/verify-email', {}, { token: await hh.tokenFromMail(email, VERIFY_SUBJECT) });
  expect(verified.statusCode).toBe(200);
  return { userId, email, auth: bearer((await login(hh, email)).accessToken) };
}

/** signUp + accepted terms: ready for Stripe Connect. */
async function onboardToStripe(hh: Harness): Promise<User> {
  const user = await signUp(hh);
  const terms = await post(hh, '/auth/accept-terms', user.auth, { termsVersion: TERMS });
  expect(terms.statusCode, terms.body).toBe(200);
  return user;
}

async function connect(hh: Harness, user: User): Promise<string> {
  const res = await post(hh, '/stripe/connect/start', user.auth, {});
  expect(res.statusCode, res.body).toBe(200);
  return res.json().accountId as string;
}

const onboardingStatus = async (hh: Harness, user: User) => (await get(hh, '/onboarding/status', user.auth)).json();
const waitForStep = (hh: Harness, user: User, step: string) =>
  waitFor(async () => {
    const status = await onboardingStatus(hh, user);
    return status.step === step ? status : undefined;
  }, `onboarding step ${step}`);

const profileOf = (hh: Harness, userId: string) => hh.db.query.creatorProfiles.findFirst({ where: eq(creatorProfiles.userId, userId) });
const waitForCreatorStatus = (hh: Harness, userId: string, status: 'active' | 'restricted') =>
  waitFor(async () => {
    const profile = await profileOf(hh, userId);
    return profile?.status === status ? profile : undefined;
  }, `creator status ${status}`);

const mails = async (hh: Harness, to: string, subject: RegExp) => (await hh.mailbox(to)).filter((m) => subject.test(m.subject));
const waitForMail = (hh: Harness, to: string, subject: RegExp) =>
  waitFor(async () => (await mails(hh, to, subject))[0], `mail ${subject} to ${to}`);

/** Full path to an active creator through the dev route and the stand-in's own webhook. */
async function activate(hh: Harness): Promise<User & { accountId: string }> {
  const user = await onboardToStripe(hh);
  const accountId = await connect(hh, user);
  expect((await post(hh, `/dev/stripe/accounts/${accountId}/complete`, user.auth)).statusCode).toBe(200);
  await waitForStep(hh, user, 'activated');
  // The status shows `activated` from the committed Stripe facts as soon as the route answers; the
  // workflow activates the creator just after, and only then watches for later changes.
  await waitForCreatorStatus(hh, user.userId, 'active');
  return { ...user, accountId };
}

async function standinAccounts(standinUrl: string) {
  const res = await fetch(`${standinUrl}/_standin/accounts`);
  return (await res.json()) as { accountCreations: number; accounts: { account: Stripe.Account; deauthorized: boolean }[] };
}
const standinAccount = async (standinUrl: string, accountId: string) =>
  (await standinAccounts(standinUrl)).accounts.find((a) => a.account.id === accountId)?.account;

const stripeStatus = async (hh: Harness, user: User) => (await get(hh, '/stripe/status', user.auth)).json();

// ------------------------------------------------------------------ tests

describe('terms', () => {
  it('accept-terms needs a verified email (422, nothing stored), then moves onboarding to stripe_connect', async () => {
    const { userId, email } = await registerUnverified(h);
    const user = { userId, email, auth: bearer((await login(h, email)).accessToken) };

    const early = await post(h, '/auth/accept-terms', user.auth, { termsVersion: TERMS });
    expect(early.statusCode).toBe(422);
    expect(early.json().error.code).toBe('email_not_verified');
    expect((await h.db.query.users.findFirst({ where: eq(users.id, userId) }))?.termsAcceptedAt).toBeNull();

    expect((await post(h, '/auth/verify-email', {}, { token: await h.tokenFromMail(email, VERIFY_SUBJECT) })).statusCode).toBe(200);
    const accepted = await post(h, '/auth/accept-terms', user.auth, { termsVersion: TERMS });
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json()).toEqual({ termsVersion: TERMS, acceptedAt: expect.any(String) });
    const stored = await h.db.query.users.findFirst({ where: eq(users.id, userId) });
    expect(stored?.termsVersion).toBe(TERMS);
    expect(stored?.termsAcceptedAt?.toISOString()).toBe(accepted.json().acceptedAt);

    const status = await waitForStep(h, user, 'stripe_connect');
    expect(status.completed).toBe(false);
    expect(status.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual([
      'verify_email:done',
      'accept_terms:done',
      'stripe_connect:current',
      'activated:pending',
    ]);
    expect(status.steps[1].at).toEqual(expect.any(String));
  });
});

describe('Stripe Connect', () => {
  it('refuses Connect before the terms, then creates one account and hands out fresh links', async () => {
    const user = await signUp(h);
    const before = await standinAccounts(h.stripeStandin.url);

    const early = await post(h, '/stripe/connect/start', user.auth, {});
    expect(early.statusCode).toBe(422);
    expect(early.json().error.code).toBe('terms_not_accepted');
    expect((await post(h, '/auth/accept-terms', user.auth, { termsVersion: TERMS })).statusCode).toBe(200);

    const first = await post(h, '/stripe/connect/start', user.auth, {});
    expect(first.statusCode, first.body).toBe(200);
    const link = first.json();
    expect(link).toEqual({
      accountId: expect.stringMatching(/^acct_/),
      onboardingUrl: expect.stringMatching(/^https?:\/\//),
      expiresAt: expect.any(String),
    });
    expect(Date.parse(link.expiresAt)).toBeGreaterThan(Date.now());

    const again = await post(h, '/stripe/connect/start', user.auth, { returnUrl: 'https://app.example.com/back' });
    expect(again.statusCode).toBe(200);
    expect(again.json().accountId).toBe(link.accountId);
    expect(again.json().onboardingUrl).not.toBe(link.onboardingUrl);

    const refreshed = await post(h, '/stripe/connect/refresh', user.auth, {});
    expect(refreshed.statusCode).toBe(200);
    expect(refreshed.json()).toEqual({ onboardingUrl: expect.any(String), expiresAt: expect.any(String) });
    expect([link.onboardingUrl, again.json().onboardingUrl]).not.toContain(refreshed.json().onboardingUrl);

    const after = await standinAccounts(h.stripeStandin.url);
    expect(after.accountCreations - before.accountCreations).toBe(1);
    expect(after.accounts.filter((a) => a.account.metadata?.userId === user.userId).map((a) => a.account.id)).toEqual([link.accountId]);
    expect((await profileOf(h, user.userId))?.stripeAccountId).toBe(link.accountId);
  });

  it('GET /stripe/status before KYC: nothing submitted, and what Stripe still needs is listed', async () => {
    const user = await onboardToStripe(h);
    expect(await stripeStatus(h, user)).toEqual({
      accountId: null,
      detailsSubmitted: false,
      chargesEnabled: false,
      payoutsEnabled: false,
      requirements: { currentlyDue: [], eventuallyDue: [], disabledReason: null },
    });
    const accountId = await connect(h, user);
    // The stand-in's new Express account has a dozen fields currently due (no webhook is sent
    // for an account's creation, so only the product's own read of the account can show them).
    const due = (await standinAccount(h.stripeStandin.url, accountId))?.requirements?.currently_due ?? [];
    expect(due.length).toBeGreaterThan(0);
    const status = await waitFor(
      async () => {
        const s = await stripeStatus(h, user);
        return s.requirements.currentlyDue.length > 0 ? s : undefined;
      },
      'requirements currently due in /stripe/status',
      5_000,
    ).catch(() => stripeStatus(h, user));
    expect(status).toMatchObject({ accountId, detailsSubmitted: false, chargesEnabled: false, payoutsEnabled: false });
    expect(status.requirements.currentlyDue).toEqual(due);
  });

  it('concurrent starts share one account', async () => {
    const user = await onboardToStripe(h);
    const before = await standinAccounts(h.stripeStandin.url);
    const results = await Promise.all([1, 2, 3].map(() => post(h, '/stripe/connect/start', user.auth, {})));
    expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200]);
    expect(new Set(results.map((r) => r.json().accountId)).size).toBe(1);
    expect((await standinAccounts(h.stripeStandin.url)).accountCreations - before.accountCreations).toBe(1);
  });

  it('refuses refresh before start, and a dashboard link before KYC', async () => {
    const user = await onboardToStripe(h);
    const refresh = await post(h, '/stripe/connect/refresh', user.auth, {});
    expect(refresh.statusCode).toBe(422);
    expect(refresh.json().error.code).toBe('connect_not_started');
    await connect(h, user);
    const dashboard = await post(h, '/stripe/dashboard-link', user.auth);
    expect(dashboard.statusCode).toBe(422);
    expect(dashboard.json().error.code).toBe('stripe_refused');
  });

  it('accepts start and refresh without a body (SPEC: refresh takes none, start only optional fields)', async () => {
    const user = await onboardToStripe(h);
    const start = await post(h, '/stripe/connect/start', user.auth);
    expect(start.statusCode, start.body).toBe(200);
    const refresh = await post(h, '/stripe/connect/refresh', user.auth);
    expect(refresh.statusCode, refresh.body).toBe(200);
  });
});

describe('activation', () => {
  it('completing KYC in the stand-in activates the creator through its signed webhook', async () => {
    const user = await onboardToStripe(h);
    const accountId = await connect(h, user);

    // Someone else cannot complete it, and an unknown account is just as unknown.
    const stranger = await signUp(h);
    const foreign = await post(h, `/dev/stripe/accounts/${accountId}/complete`, stranger.auth);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error.code).toBe('not_found');
    expect((await post(h, '/dev/stripe/accounts/acct_doesnotexist000/complete', user.auth)).statusCode).toBe(404);
    expect((await standinAccount(h.stripeStandin.url, accountId))?.details_submitted).toBe(false);

    const done = await post(h, `/dev/stripe/accounts/${accountId}/complete`, user.auth);
    expect(done.statusCode).toBe(200);
    expect(done.json()).toEqual({ completed: true });

    const status = await waitForStep(h, user, 'activated');
    expect(status.completed).toBe(true);
    expect(status.steps.every((s: { status: string }) => s.status === 'done')).toBe(true);
    expect(await stripeStatus(h, user)).toEqual({
      accountId,
      detailsSubmitted: true,
      chargesEnabled: true,
      payoutsEnabled: true,
      requirements: { currentlyDue: [], eventuallyDue: [], disabledReason: null },
    });
    const profile = await waitForCreatorStatus(h, user.userId, 'active');
    expect(profile.activatedAt).not.toBeNull();
    await waitForMail(h, user.email, WELCOME_SUBJECT);
    // Operators find both of the creator's processes by UserId.
    for (const workflowId of [`onboarding:${user.userId}`, `marketing-analysis:${user.userId}`]) {
      const { typedSearchAttributes } = await h.temporal.workflow.getHandle(workflowId).describe();
      expect(typedSearchAttributes.get(UserId), workflowId).toBe(user.userId);
    }

    const dashboard = await post(h, '/stripe/dashboard-link', user.auth);
    expect(dashboard.statusCode).toBe(200);
    expect(dashboard.json()).toEqual({ url: expect.stringMatching(/^https?:\/\//) });
    // Connect is over once active.
    const restart = await post(h, '/stripe/connect/start', user.auth, {});
    expect(restart.statusCode).toBe(422);
    expect(restart.json().error.code).toBe('already_activated');
    expect(await mails(h, user.email, WELCOME_SUBJECT)).toHaveLength(1);
  });
});

describe('after activation', () => {
  it('a restriction moves the creator to restricted with one email; completing again re-activates', async () => {
    const user = await activate(h);
    await h.stripeStandin.restrict(user.accountId, 'requirements.past_due');
    const restricted = await waitForCreatorStatus(h, user.userId, 'restricted');
    expect(restricted.restrictedAt).not.toBeNull();
    await waitForMail(h, user.email, RESTRICTED_SUBJECT);
    expect(await stripeStatus(h, user)).toMatchObject({
      chargesEnabled: false,
      payoutsEnabled: false,
      requirements: { disabledReason: 'requirements.past_due', currentlyDue: expect.arrayContaining([expect.any(String)]) },
    });

    await h.stripeStandin.complete(user.accountId);
    await waitForCreatorStatus(h, user.userId, 'active');
    expect(await mails(h, user.email, RESTRICTED_SUBJECT)).toHaveLength(1);
  });

  it('a deauthorization moves the creator to restricted with an email', async () => {
    const user = await activate(h);
    await h.stripeStandin.deauthorize(user.accountId);
    const restricted = await waitForCreatorStatus(h, user.userId, 'restricted');
    expect(restricted.deauthorizedAt).not.toBeNull();
    await waitForMail(h, user.email, RESTRICTED_SUBJECT);
  });
});

describe('timezone', () => {
  it('accepts IANA names and refuses offsets', async () => {
    const user = await signUp(h);
    const ok = await post(h, '/onboarding/update-timezone', user.auth, { timezone: 'America/Sao_Paulo' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ timezone: 'America/Sao_Paulo' });
    expect((await onboardingStatus(h, user)).timezone).toBe('America/Sao_Paulo');

    for (const timezone of ['+02:00', 'Mars/Olympus']) {
      const bad = await post(h, '/onboarding/update-timezone', user.auth, { timezone });
      expect(bad.statusCode, timezone).toBe(400);
      expect(bad.json().error.code).toBe('validation_failed');
    }
    expect((await onboardingStatus(h, user)).timezone).toBe('America/Sao_Paulo');
  });
});

// ------------------------------------------------------------------ webhooks, delivered by hand

describe('POST /webhooks/stripe', () => {
  let q: Harness;
  let quiet: StripeStandin;
  beforeAll(async () => {
    quiet = await startStripeStandin({ port: 0, webhookSecret: 'whsec_unused_no_endpoint' });
    q = await startHarness({ env: { STRIPE_STANDIN_PORT: new URL(quiet.url).port } });
  });
  afterAll(async () => {
    await q?.close();
    await quiet?.close();
  });

  const WEBHOOK_URL = '/api/v1/webhooks/stripe';

  function sign(payload: string, options: { secret?: string; timestamp?: number } = {}) {
    return q.stripe.webhooks.generateTestHeaderString({
      payload,
      secret: options.secret ?? q.config.STRIPE_WEBHOOK_SECRET,
      timestamp: options.timestamp,
    });
  }
  function deliver(event: object, options: { secret?: string; timestamp?: number; body?: string } = {}) {
    const payload = JSON.stringify(event);
    return q.app.inject({
      method: 'POST',
      url: WEBHOOK_URL,
      headers: { 'content-type': 'application/json', 'stripe-signature': sign(payload, options) },
      payload: options.body ?? payload,
    });
  }

  /** The events the quiet stand-in recorded (never sent), oldest first. */
  async function recorded(accountId: string, type = 'account.updated'): Promise<StandinEvent[]> {
    const res = await fetch(`${quiet.url}/_standin/events?account=${accountId}&type=${type}`);
    return ((await res.json()) as { events: { event: StandinEvent }[] }).events.map((e) => e.event);
  }

  /** An account.updated event carrying `account` as its payload, as Stripe would send it. */
  const accountUpdated = (account: Stripe.Account, created = Math.floor(Date.now() / 1000)) => ({
    id: `evt_test_${randomUUID().replaceAll('-', '')}`,
    object: 'event',
    account: account.id,
    api_version: '2024-06-20',
    created,
    data: { object: account },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: 'account.updated',
  });

  const storedEvents = (id: string) => q.db.select().from(stripeEvents).where(eq(stripeEvents.id, id));

  /** A creator at the stripe_connect step with an account in the quiet stand-in. */
  async function connected() {
    const user = await onboardToStripe(q);
    const accountId = await connect(q, user);
    await waitForStep(q, user, 'stripe_connect');
    return { ...user, accountId };
  }

  it('rejects bad signatures with 400 invalid_signature, storing and changing nothing', async () => {
    const user = await connected();
    await quiet.complete(user.accountId);
    const [event] = await recorded(user.accountId);
    expect(event).toBeDefined();
    const payload = JSON.stringify(event);

    const attempts = [
      deliver(event!, { secret: 'whsec_someone_elses_secret_000' }),
      deliver(event!, { timestamp: Math.floor(Date.now() / 1000) - 3600 }),
      deliver(event!, { body: payload.replace(user.accountId, 'acct_tamperedtampered') }),
      q.app.inject({
        method: 'POST',
        url: WEBHOOK_URL,
        headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=deadbeef' },
        payload,
      }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('invalid_signature');
    }
    expect(await storedEvents(event!.id)).toHaveLength(0);
    const profile = await profileOf(q, user.userId);
    expect(profile).toMatchObject({ status: 'onboarding', detailsSubmitted: false });
    expect((await onboardingStatus(q, user)).step).toBe('stripe_connect');

    // The same event, correctly signed, is what activates: the refusals above were the only barrier.
    expect((await deliver(event!)).json()).toEqual({ received: true, duplicate: false });
    await waitForStep(q, user, 'activated');
  });

  it('answers 400 without a Stripe-Signature header and 415 for a non-JSON body', async () => {
    const payload = JSON.stringify(accountUpdated({ id: 'acct_nobodynobody', object: 'account' } as Stripe.Account));
    const unsigned = await q.app.inject({ method: 'POST', url: WEBHOOK_URL, headers: { 'content-type': 'application/json' }, payload });
    expect(unsigned.statusCode).toBe(400);
    expect(unsigned.json().error.code).toEqual(expect.any(String));
    const text = await q.app.inject({
      method: 'POST',
      url: WEBHOOK_URL,
      headers: { 'content-type': 'text/plain', 'stripe-signature': sign(payload) },
      payload,
    });
    expect(text.statusCode).toBe(415);
    expect(text.json().error.code).toBe('unsupported_media_type');
  });

  it('acknowledges an event delivered five times, stores it once and acts on it once', async () => {
    const user = await connected();
    await quiet.complete(user.accountId);
    const [event] = await recorded(user.accountId);

    const answers = [];
    for (let i = 0; i < 5; i++) {
      const res = await deliver(event!);
      expect(res.statusCode).toBe(200);
      answers.push(res.json().duplicate);
    }
    expect(answers).toEqual([false, true, true, true, true]);
    expect(await storedEvents(event!.id)).toHaveLength(1);

    // Concurrent redeliveries of another event: exactly one is new.
    const [capability] = await recorded(user.accountId, 'capability.updated');
    const concurrent = await Promise.all([1, 2, 3, 4, 5].map(() => deliver(capability!)));
    expect(concurrent.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
    expect(concurrent.filter((r) => r.json().duplicate === false)).toHaveLength(1);
    expect(await storedEvents(capability!.id)).toHaveLength(1);

    // The end state of a single delivery: activated once, one welcome mail.
    await waitForStep(q, user, 'activated');
    await waitForCreatorStatus(q, user.userId, 'active');
    await waitForMail(q, user.email, WELCOME_SUBJECT);
    expect(await stripeStatus(q, user)).toMatchObject({ detailsSubmitted: true, chargesEnabled: true, payoutsEnabled: true });
    expect(await mails(q, user.email, WELCOME_SUBJECT)).toHaveLength(1);
  });

  it('decides on a fresh read of the account, not the payload: out-of-order events leave the creator activated', async () => {
    const user = await connected();
    const incomplete = await q.stripe.accounts.retrieve(user.accountId);
    // Stripe's history: completed, restricted, completed again. The account ends complete.
    await quiet.complete(user.accountId);
    await quiet.restrict(user.accountId, 'requirements.past_due');
    await quiet.complete(user.accountId);
    const [completed, restricted, completedAgain] = await recorded(user.accountId);
    expect(restricted?.data.object).toMatchObject({ charges_enabled: false });
    const stale = accountUpdated(incomplete, incomplete.created);

    // Newest first, then the older snapshots, each acted on before the next arrives.
    expect((await deliver(completedAgain!)).json().duplicate).toBe(false);
    await waitForStep(q, user, 'activated');
    let syncedAt = (await waitForCreatorStatus(q, user.userId, 'active')).stripeSyncedAt!;
    for (const event of [restricted!, stale, completed!]) {
      expect((await deliver(event)).json().duplicate).toBe(false);
      syncedAt = await waitFor(async () => {
        const at = (await profileOf(q, user.userId))?.stripeSyncedAt;
        return at && at > syncedAt ? at : undefined;
      }, `a re-read of the account after ${event.id}`);
      expect((await profileOf(q, user.userId))?.status).toBe('active');
    }
    expect(await stripeStatus(q, user)).toMatchObject({
      detailsSubmitted: true,
      chargesEnabled: true,
      payoutsEnabled: true,
      requirements: { disabledReason: null },
    });
    expect((await onboardingStatus(q, user)).step).toBe('activated');
    expect(await mails(q, user.email, RESTRICTED_SUBJECT)).toHaveLength(0);
  });

  it('does not activate on a payload that claims completion when the account, re-read, is incomplete', async () => {
    const user = await connected();
    const account = await q.stripe.accounts.retrieve(user.accountId);
    const forged = accountUpdated({
      ...account,
      details_submitted: true,
      charges_enabled: true,
      payouts_enabled: true,
      requirements: { ...account.requirements!, currently_due: [], eventually_due: [], past_due: [], disabled_reason: null },
    });
    expect((await deliver(forged)).statusCode).toBe(200);
    const profile = await waitFor(async () => {
      const p = await profileOf(q, user.userId);
      return p?.stripeSyncedAt ? p : undefined;
    }, 'the re-read of the account');
    expect(profile).toMatchObject({ status: 'onboarding', detailsSubmitted: false, chargesEnabled: false });
    expect(profile.requirements.currentlyDue).not.toEqual([]);
    expect((await onboardingStatus(q, user)).step).toBe('stripe_connect');
  });

  it('acknowledges events for unknown accounts and stores them', async () => {
    const event = accountUpdated({ id: 'acct_unknownunknown0', object: 'account' } as Stripe.Account);
    const res = await deliver(event);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ received: true, duplicate: false });
    expect(await storedEvents(event.id)).toHaveLength(1);
  });

  it('answers a correctly signed body that is not a Stripe event with a 400, not a 500', async () => {
    const notEvents = [
      { hello: 'world' },
      { id: 'evt_test_nodata', object: 'event', type: 'account.updated' },
      { object: 'event', type: 'account.updated', data: { object: { id: 'acct_noeventid0000', object: 'account' } } },
    ];
    for (const body of notEvents) {
      const res = await deliver(body);
      expect.soft(res.statusCode, `${JSON.stringify(body)} → ${res.body}`).toBe(400);
    }
  });
});
