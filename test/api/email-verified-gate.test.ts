// SPEC §1: a creator's data and processes need a verified email; before it, those routes answer
// 403 email_not_verified. A password reset proves ownership of the address, and removes what a
// never-verified holder configured; it does not verify the email, so the earlier holder's access
// token, still alive for minutes, stays outside the tenant routes.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformConnections, platformEvents, users } from '../../db/schema.js';
import { newSecrets, sealSecrets } from '../../domain/platform-connections.js';
import { bearer, login, register, registerUnverified, startHarness, STRONG_PASSWORD, type Harness } from '../support/harness.js';

const VERIFY_SUBJECT = /confirm|confirmez/i;
const RESET_SUBJECT = /reset|réinitialis/i;
const NO_SUCH_ID = '00000000-0000-4000-8000-000000000000';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, headers: Record<string, string>, payload?: object) =>
  h.app.inject({ method, url: `/api/v1${url}`, headers, ...(payload ? { payload } : {}) });

/** One route of each tenant module, with what it answers a verified caller. */
const GATED: { name: string; method: 'GET' | 'POST' | 'PUT'; url: string; payload?: object; after: number }[] = [
  { name: 'CRM fans', method: 'GET', url: '/crm/fans', after: 200 },
  { name: 'CRM fan create', method: 'POST', url: '/crm/fans', payload: { handle: 'gate_fan' }, after: 201 },
  { name: 'CRM imports', method: 'GET', url: `/imports/${NO_SUCH_ID}`, after: 404 },
  { name: 'CRM conversations', method: 'GET', url: '/crm/conversations', after: 200 },
  { name: 'messaging', method: 'GET', url: '/onlyfans/messages/status', after: 200 },
  { name: 'messaging list', method: 'GET', url: '/messages?status=dead', after: 200 },
  { name: 'platform connections', method: 'GET', url: '/platforms/connections', after: 200 },
  { name: 'platform connect', method: 'PUT', url: '/platforms/onlyfans/connection', payload: { adapter: 'manual' }, after: 201 },
  { name: 'campaigns', method: 'GET', url: '/campaigns', after: 200 },
  { name: 'analytics', method: 'GET', url: '/analytics/overview', after: 200 },
];

/** Routes a user needs to verify, onboard and see their own status. */
const UNGATED = ['/auth/me', '/onboarding/status', '/stripe/status', '/creator/profile', '/health'];

describe('verified email gate', () => {
  it('answers 403 email_not_verified on every tenant module until the email is verified, then works with the same token', async () => {
    const { email } = await registerUnverified(h);
    const auth = bearer((await login(h, email)).accessToken);

    for (const route of GATED) {
      const res = await call(route.method, route.url, auth, route.payload);
      expect(res.statusCode, `${route.name}: ${res.body}`).toBe(403);
      expect(res.json()).toEqual({ error: { code: 'email_not_verified', message: expect.any(String) } });
    }
    // Nothing was created behind the 403.
    expect(
      await h.db
        .select()
        .from(platformConnections)
        .innerJoin(users, eq(users.id, platformConnections.creatorId))
        .where(eq(users.email, email)),
    ).toEqual([]);
    for (const url of UNGATED) expect((await call('GET', url, auth)).statusCode, url).toBe(200);
    // Unauthenticated is still a 401, not a hint about verification.
    expect((await call('GET', '/crm/fans', {})).statusCode).toBe(401);

    expect((await call('POST', '/auth/verify-email', {}, { token: await h.tokenFromMail(email, VERIFY_SUBJECT) })).statusCode).toBe(200);
    // The token was minted before the verification: the gate looks the fact up, no new login needed.
    for (const route of GATED) {
      const res = await call(route.method, route.url, auth, route.payload);
      expect(res.statusCode, `${route.name}: ${res.body}`).toBe(route.after);
    }
  });

  it('covers every secured route of the OpenAPI document outside auth, onboarding, Stripe and the creator profile', async () => {
    const { email } = await registerUnverified(h);
    const auth = bearer((await login(h, email)).accessToken);
    await h.app.ready();
    const doc = h.app.swagger() as { paths: Record<string, Record<string, { security?: unknown }>> };
    const ungated = /^\/api\/v1\/(auth|onboarding|stripe|creator|dev)\//;
    const secured = Object.entries(doc.paths).flatMap(([url, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => op.security !== undefined && !ungated.test(url))
        .map(([method]) => ({ method: method.toUpperCase(), url: url.replace(/\{(\w+)\}/g, NO_SUCH_ID) })),
    );
    expect(secured.length).toBeGreaterThan(20);
    for (const route of secured) {
      const res = await h.app.inject({
        method: route.method as 'GET',
        url: route.url,
        headers: auth,
        ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { payload: {} }),
      });
      expect(`${route.method} ${route.url} ${res.statusCode} ${res.json().error?.code}`).toBe(
        `${route.method} ${route.url} 403 email_not_verified`,
      );
    }
  });

  it('leaves the signed inbound platform webhook to its signature (it has no user)', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: `/api/v1/platforms/onlyfans/webhook?connectionId=${NO_SUCH_ID}`,
      headers: { 'content-type': 'application/json', 'x-platform-signature': 't=1,v1=00' },
      payload: '{}',
    });
    expect(res.json().error.code).toBe('invalid_signature');
  });
});

describe('a password reset proves ownership of the address', () => {
  /** A connection as a never-verified holder could have configured it, with an event applied through it. */
  async function bridgeConnection(creatorId: string) {
    const secrets = newSecrets('bridge', 'https://bridge.example.com/send');
    const [row] = await h.db
      .insert(platformConnections)
      .values({
        creatorId,
        platform: 'onlyfans',
        adapter: 'bridge',
        rateLimitMessages: 10,
        ...sealSecrets(h.config.CREDENTIALS_KEY, secrets),
      })
      .returning();
    await h.db.insert(platformEvents).values({ connectionId: row!.id, eventId: 'evt_1', type: 'message.received' });
    return row!;
  }

  async function resetPassword(email: string) {
    expect((await call('POST', '/auth/forgot-password', {}, { email })).statusCode).toBe(202);
    const token = await h.tokenFromMail(email, RESET_SUBJECT);
    const res = await call('POST', '/auth/reset-password', {}, { token, password: `${STRONG_PASSWORD}-new` });
    expect(res.statusCode, res.body).toBe(200);
  }

  it('removes the platform connections of a never-verified account and keeps its earlier holder out', async () => {
    const { userId, email } = await registerUnverified(h);
    const connection = await bridgeConnection(userId);
    const earlierHolder = bearer((await login(h, email, STRONG_PASSWORD)).accessToken);

    await resetPassword(email);

    expect(await h.db.select().from(platformConnections).where(eq(platformConnections.creatorId, userId))).toEqual([]);
    expect(await h.db.select().from(platformEvents).where(eq(platformEvents.connectionId, connection.id))).toEqual([]);
    expect((await h.db.query.users.findFirst({ where: eq(users.id, userId) }))?.emailVerifiedAt).toBeNull();
    const denied = await call('GET', '/platforms/connections', earlierHolder);
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error.code).toBe('email_not_verified');
    const owner = bearer((await login(h, email, `${STRONG_PASSWORD}-new`)).accessToken);
    expect((await call('GET', '/onboarding/status', owner)).json().step).toBe('verify_email');
  });

  it('keeps the connections of an account whose email was already verified', async () => {
    const { userId, email } = await register(h);
    await bridgeConnection(userId);

    await resetPassword(email);

    expect(await h.db.select().from(platformConnections).where(eq(platformConnections.creatorId, userId))).toHaveLength(1);
  });
});
