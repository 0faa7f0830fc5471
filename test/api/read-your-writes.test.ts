// Issue 10 item 5: once POST /auth/verify-email, /auth/accept-terms or the Stripe step has
// answered, GET /onboarding/status already shows the next step: no read may see the old one.
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creatorProfiles } from '../../db/schema.js';
import { startStripeStandin, type StandinEvent, type StripeStandin } from '../../standins/stripe/index.js';
import { bearer, login, registerUnverified, startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

const VERIFY_SUBJECT = /confirm|confirmez/i;

// A "quiet" Stripe stand-in: it records its webhooks without sending them, so each test decides
// when an event reaches the API (and nothing else can have synced the account first).
let quiet: StripeStandin;
let h: Harness;
beforeAll(async () => {
  quiet = await startStripeStandin({ port: 0, webhookSecret: 'whsec_unused_no_endpoint' });
  h = await startHarness({ env: { STRIPE_STANDIN_PORT: new URL(quiet.url).port } });
});
afterAll(async () => {
  await h?.close();
  await quiet?.close();
});

const post = (url: string, headers: Record<string, string>, payload?: object) =>
  h.app.inject({ method: 'POST', url: `/api/v1${url}`, headers, ...(payload ? { payload } : {}) });
const status = async (auth: Record<string, string>) => (await h.app.inject({ url: '/api/v1/onboarding/status', headers: auth })).json();
const summary = (s: { step: string; steps: { name: string; status: string }[] }) =>
  [s.step, ...s.steps.map((x) => `${x.name}:${x.status}`)].join(' ');

describe('GET /onboarding/status reads its own writes', () => {
  it('shows accept_terms right after verify-email, and stripe_connect right after accept-terms', async () => {
    const { email } = await registerUnverified(h);
    const auth = bearer((await login(h, email)).accessToken);
    const token = await h.tokenFromMail(email, VERIFY_SUBJECT);

    expect((await post('/auth/verify-email', {}, { token })).statusCode).toBe(200);
    const afterVerify = await status(auth);
    expect(summary(afterVerify)).toBe('accept_terms verify_email:done accept_terms:current stripe_connect:pending activated:pending');
    expect(afterVerify.steps[0].at).toEqual(expect.any(String));

    expect((await post('/auth/accept-terms', auth, { termsVersion: '2026-01' })).statusCode).toBe(200);
    const afterTerms = await status(auth);
    expect(summary(afterTerms)).toBe('stripe_connect verify_email:done accept_terms:done stripe_connect:current activated:pending');
    expect(afterTerms.completed).toBe(false);
  });

  it('shows activated as soon as the activation is committed, before the workflow projects it', async () => {
    const { userId, email } = await registerUnverified(h, {});
    const auth = bearer((await login(h, email)).accessToken);
    // The facts activities/onboarding.ts activateCreator commits, written here without the workflow,
    // so nothing but the committed facts can explain the answer.
    await h.db.execute(
      sql`update users set email_verified_at = now(), terms_version = '2026-01', terms_accepted_at = now() where id = ${userId}`,
    );
    await h.db
      .insert(creatorProfiles)
      .values({ userId, status: 'active', activatedAt: new Date() })
      .onConflictDoUpdate({ target: creatorProfiles.userId, set: { status: 'active', activatedAt: new Date() } });
    const s = await status(auth);
    expect(summary(s)).toBe('activated verify_email:done accept_terms:done stripe_connect:done activated:done');
    expect(s.completed).toBe(true);
    expect((await h.db.query.creatorProfiles.findFirst({ where: eq(creatorProfiles.userId, userId) }))?.status).toBe('active');
  });

  /** A creator whose workflow shows stripe_connect, with an account in the quiet stand-in. */
  async function connected() {
    const { email } = await registerUnverified(h);
    const auth = bearer((await login(h, email)).accessToken);
    expect((await post('/auth/verify-email', {}, { token: await h.tokenFromMail(email, VERIFY_SUBJECT) })).statusCode).toBe(200);
    expect((await post('/auth/accept-terms', auth, { termsVersion: '2026-01' })).statusCode).toBe(200);
    const started = await post('/stripe/connect/start', auth, {});
    expect(started.statusCode, started.body).toBe(200);
    return { auth, accountId: started.json().accountId as string };
  }

  it('shows activated right after the webhook saying KYC is complete has been answered', async () => {
    const { auth, accountId } = await connected();
    await quiet.complete(accountId);
    const res = await fetch(`${quiet.url}/_standin/events?account=${accountId}&type=account.updated`);
    const [event] = ((await res.json()) as { events: { event: StandinEvent }[] }).events.map((e) => e.event);
    expect(event).toBeDefined();
    const payload = JSON.stringify(event);
    const signature = h.stripe.webhooks.generateTestHeaderString({ payload, secret: h.config.STRIPE_WEBHOOK_SECRET });
    const answered = await h.app.inject({
      method: 'POST',
      url: '/api/v1/webhooks/stripe',
      headers: { 'content-type': 'application/json', 'stripe-signature': signature },
      payload,
    });
    expect(answered.statusCode, answered.body).toBe(200);
    const s = await status(auth);
    expect(summary(s)).toBe('activated verify_email:done accept_terms:done stripe_connect:done activated:done');
    expect(s.completed).toBe(true);
    // The workflow, which re-reads the same account, reaches the same step.
    await waitFor(async () => {
      const [row] = await h.db.execute<{ step: string }>(
        sql`select step from onboarding_status os join creator_profiles cp using (user_id) where cp.stripe_account_id = ${accountId}`,
      );
      return row?.step === 'activated' ? row : undefined;
    }, 'the workflow projects activated');
  });

  it('shows activated right after the dev route completing KYC returns', async () => {
    const { auth, accountId } = await connected();
    expect((await post(`/dev/stripe/accounts/${accountId}/complete`, auth)).statusCode).toBe(200);
    const s = await status(auth);
    expect(summary(s)).toBe('activated verify_email:done accept_terms:done stripe_connect:done activated:done');
  });
});
