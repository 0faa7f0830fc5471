import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emailTokens, loginAttempts, users } from '../../db/schema.js';
import { sha256Hex } from '../../lib/crypto.js';
import { bearer, login, registerUnverified, startHarness, STRONG_PASSWORD, uniqueEmail, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

const VERIFY_SUBJECT = /confirm|confirmez/i;
const RESET_SUBJECT = /reset|réinitialis/i;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { RESEND_VERIFICATION_MIN_INTERVAL_SECONDS: '0', LOGIN_IP_MAX_FAILURES_PER_15MIN: '1000' } });
});
afterAll(() => h?.close());

const post = (url: string, payload?: unknown, headers: Record<string, string> = {}) =>
  h.app.inject({ method: 'POST', url: `/api/v1${url}`, payload: payload as object, headers });

describe('register → verify → status', () => {
  it('registers, mails a localized link, verifies once, and the projection moves to accept_terms', async () => {
    const email = uniqueEmail();
    const res = await post(
      '/auth/register',
      { email: email.toUpperCase(), password: STRONG_PASSWORD, name: 'Zoé', timezone: 'Europe/Paris' },
      { 'accept-language': 'fr-FR,fr;q=0.9,en;q=0.5' },
    );
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ userId: expect.any(String), onboarding: { step: 'verify_email' } });

    const token = await h.tokenFromMail(email, VERIFY_SUBJECT);
    const [mail] = await h.mailbox(email);
    expect(mail?.subject).toMatch(/Confirmez/);
    expect(mail?.text).toContain(`${h.config.FRONTEND_URL}/verify-email?token=${token}`);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    // Only the hash is stored.
    const stored = await h.db
      .select()
      .from(emailTokens)
      .where(eq(emailTokens.tokenHash, sha256Hex(token)));
    expect(stored).toHaveLength(1);
    expect(await h.db.select().from(emailTokens).where(eq(emailTokens.tokenHash, token))).toHaveLength(0);

    expect((await post('/auth/verify-email', { token })).json()).toEqual({ verified: true });
    expect((await post('/auth/verify-email', { token })).json().error.code).toBe('invalid_token');

    const { accessToken } = await login(h, email);
    const status = await waitFor(async () => {
      const r = await h.app.inject({ url: '/api/v1/onboarding/status', headers: bearer(accessToken) });
      return r.json().step === 'accept_terms' ? r.json() : undefined;
    }, 'status accept_terms');
    expect(status).toMatchObject({ completed: false, locale: 'fr', timezone: 'Europe/Paris' });
    expect(status.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual([
      'verify_email:done',
      'accept_terms:current',
      'stripe_connect:pending',
      'activated:pending',
    ]);
    const me = await h.app.inject({ url: '/api/v1/auth/me', headers: bearer(accessToken) });
    expect(me.json().user).toMatchObject({ email, name: 'Zoé', role: 'creator', emailVerified: true });
  });

  it('answers 409 email_taken for an existing address, whatever its case', async () => {
    const { email } = await registerUnverified(h);
    const res = await post('/auth/register', { email: email.toUpperCase(), password: STRONG_PASSWORD });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('email_taken');
  });

  it('refuses short, common and non-IANA inputs with 400', async () => {
    for (const [body, field] of [
      [{ password: 'short' }, 'body.password'],
      [{ password: 'password123' }, 'body.password'],
      [{ password: 'aaaaaaaaaaaa' }, 'body.password'],
      [{ timezone: 'Mars/Olympus' }, 'body.timezone'],
      [{ timezone: '+02:00' }, 'body.timezone'],
    ] as const) {
      const res = await post('/auth/register', { email: uniqueEmail(), password: STRONG_PASSWORD, ...(body as object) });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.details[0].field).toBe(field);
    }
  });
});

describe('verification tokens', () => {
  it('rejects unknown, expired and superseded tokens; resend invalidates older links', async () => {
    const { email, userId } = await registerUnverified(h);
    const first = await h.tokenFromMail(email, VERIFY_SUBJECT);
    const { accessToken } = await login(h, email);

    expect((await post('/auth/verify-email', { token: 'x'.repeat(43) })).json().error.code).toBe('invalid_token');

    const resend = await post('/auth/resend-verification', undefined, bearer(accessToken));
    expect(resend.statusCode).toBe(202);
    expect(resend.json().workflowId).toBe(`onboarding:${userId}`);
    const second = await h.tokenFromMail(email, VERIFY_SUBJECT, 1);
    expect(second).not.toBe(first);
    expect((await post('/auth/verify-email', { token: first })).statusCode).toBe(400);

    await h.db
      .update(emailTokens)
      .set({ expiresAt: sql`now() - interval '1 second'` })
      .where(eq(emailTokens.tokenHash, sha256Hex(second)));
    const expired = await post('/auth/verify-email', { token: second });
    expect(expired.statusCode).toBe(400);
    expect(expired.json().error.code).toBe('invalid_token');
    const user = await h.db.query.users.findFirst({ where: eq(users.id, userId) });
    expect(user?.emailVerifiedAt).toBeNull();
  });

  it('resend after verification is a 409', async () => {
    const { email } = await registerUnverified(h);
    await post('/auth/verify-email', { token: await h.tokenFromMail(email, VERIFY_SUBJECT) });
    const { accessToken } = await login(h, email);
    const res = await post('/auth/resend-verification', undefined, bearer(accessToken));
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('already_verified');
  });
});

describe('sessions', () => {
  it('rotates refresh tokens and revokes the family when a dead one is replayed', async () => {
    const { email } = await registerUnverified(h);
    const first = await login(h, email);
    const r1 = await post('/auth/refresh', { refreshToken: first.refreshToken });
    expect(r1.statusCode).toBe(200);
    const second = r1.json();
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect((await h.app.inject({ url: '/api/v1/auth/me', headers: bearer(second.accessToken) })).statusCode).toBe(200);

    // Replaying the rotated token kills the family: the live second token dies too.
    const replay = await post('/auth/refresh', { refreshToken: first.refreshToken });
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error.code).toBe('invalid_refresh_token');
    expect((await post('/auth/refresh', { refreshToken: second.refreshToken })).statusCode).toBe(401);

    // Another login is a new family, unaffected.
    const other = await login(h, email);
    expect((await post('/auth/refresh', { refreshToken: other.refreshToken })).statusCode).toBe(200);
  });

  it('logout ends only that session', async () => {
    const { email } = await registerUnverified(h);
    const a = await login(h, email);
    const b = await login(h, email);
    expect((await post('/auth/logout', { refreshToken: a.refreshToken }, bearer(a.accessToken))).statusCode).toBe(204);
    expect((await post('/auth/refresh', { refreshToken: a.refreshToken })).statusCode).toBe(401);
    expect((await post('/auth/refresh', { refreshToken: b.refreshToken })).statusCode).toBe(200);
  });

  it('logout cannot end another user’s session', async () => {
    const alice = await login(h, (await registerUnverified(h)).email);
    const bob = await login(h, (await registerUnverified(h)).email);
    expect((await post('/auth/logout', { refreshToken: bob.refreshToken }, bearer(alice.accessToken))).statusCode).toBe(204);
    expect((await post('/auth/refresh', { refreshToken: bob.refreshToken })).statusCode).toBe(200);
  });

  it('rejects tampered, foreign-signed and missing access tokens', async () => {
    const { email } = await registerUnverified(h);
    const { accessToken } = await login(h, email);
    const [head, body] = accessToken.split('.');
    const forged = `${head}.${body}.${'A'.repeat(43)}`;
    const adminClaims = Buffer.from(JSON.stringify({ role: 'admin', sub: 'x', iss: 'ofm-social-os', exp: 9_999_999_999 })).toString(
      'base64url',
    );
    for (const headers of [{}, bearer(forged), bearer(`${head}.${adminClaims}.`), { authorization: accessToken }, bearer('')]) {
      const res = await h.app.inject({ url: '/api/v1/auth/me', headers });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('unauthenticated');
    }
  });
});

describe('login', () => {
  it('gives the same answer for an unknown email and a wrong password, and records every attempt', async () => {
    const { email } = await registerUnverified(h);
    const unknown = await post('/auth/login', { email: uniqueEmail('ghost'), password: STRONG_PASSWORD });
    const wrong = await post('/auth/login', { email, password: 'not-the-password-at-all' });
    expect(unknown.statusCode).toBe(401);
    expect(wrong.statusCode).toBe(401);
    expect(unknown.json()).toEqual(wrong.json());
    const attempts = await h.db.select().from(loginAttempts).where(eq(loginAttempts.email, email));
    expect(attempts.map((a) => a.outcome)).toEqual(['invalid_credentials']);
  });

  it('locks an account out after repeated failures with 429 and Retry-After, also for the right password', async () => {
    const { email } = await registerUnverified(h);
    for (let i = 0; i < h.config.LOGIN_MAX_FAILURES; i++) {
      expect((await post('/auth/login', { email, password: `wrong-password-${i}` })).statusCode).toBe(401);
    }
    const locked = await post('/auth/login', { email, password: STRONG_PASSWORD });
    expect(locked.statusCode).toBe(429);
    expect(locked.json().error.code).toBe('throttled');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(h.config.LOGIN_LOCKOUT_BASE_SECONDS);
    // Unknown emails lock out the same way: no enumeration through the throttle.
    const ghost = uniqueEmail('ghost');
    for (let i = 0; i < h.config.LOGIN_MAX_FAILURES; i++) await post('/auth/login', { email: ghost, password: 'whatever-password' });
    expect((await post('/auth/login', { email: ghost, password: 'whatever-password' })).statusCode).toBe(429);
  });

  it('lets no more than the allowed guesses through when they arrive in parallel', async () => {
    const { email } = await registerUnverified(h);
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => post('/auth/login', { email, password: `parallel-guess-${i}` })),
    );
    const codes = answers.map((a) => a.statusCode);
    expect(codes.filter((c) => c === 401)).toHaveLength(h.config.LOGIN_MAX_FAILURES);
    expect(codes.filter((c) => c === 429)).toHaveLength(12 - h.config.LOGIN_MAX_FAILURES);
  });

  it('throttles an IP that fails across many accounts', async () => {
    const tight = await startHarness({ workers: false, env: { LOGIN_IP_MAX_FAILURES_PER_15MIN: '3', TRUST_PROXY: '127.0.0.1' } });
    try {
      const ip = { 'x-forwarded-for': `203.0.113.${Math.floor(Math.random() * 250)}` };
      for (let i = 0; i < 3; i++) {
        const r = await tight.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          headers: ip,
          payload: { email: uniqueEmail(), password: 'whatever-password' },
        });
        expect(r.statusCode).toBe(401);
      }
      const blocked = await tight.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        headers: ip,
        payload: { email: uniqueEmail(), password: 'whatever-password' },
      });
      expect(blocked.statusCode).toBe(429);
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
      const elsewhere = await tight.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        headers: { 'x-forwarded-for': '198.51.100.7' },
        payload: { email: uniqueEmail(), password: 'whatever-password' },
      });
      expect(elsewhere.statusCode).toBe(401);
    } finally {
      await tight.close();
    }
  });
});

describe('password reset', () => {
  it('answers forgot-password identically for known and unknown emails, mails only the known one', async () => {
    const { email } = await registerUnverified(h);
    const ghost = uniqueEmail('ghost');
    const known = await post('/auth/forgot-password', { email });
    const unknown = await post('/auth/forgot-password', { email: ghost });
    expect(known.statusCode).toBe(202);
    expect(unknown.statusCode).toBe(202);
    expect(known.body).toBe(unknown.body);
    await h.tokenFromMail(email, RESET_SUBJECT);
    expect(await h.mailbox(ghost)).toEqual([]);
  });

  it('resets the password once, revokes every session, and the old password stops working', async () => {
    const { email } = await registerUnverified(h);
    const session = await login(h, email);
    await post('/auth/forgot-password', { email });
    const token = await h.tokenFromMail(email, RESET_SUBJECT);

    const weak = await post('/auth/reset-password', { token, password: 'short' });
    expect(weak.statusCode).toBe(400);
    const newPassword = 'quartz-meadow-lantern-77';
    expect((await post('/auth/reset-password', { token, password: newPassword })).statusCode).toBe(200);
    expect((await post('/auth/reset-password', { token, password: newPassword })).json().error.code).toBe('invalid_token');

    expect((await post('/auth/refresh', { refreshToken: session.refreshToken })).statusCode).toBe(401);
    expect((await post('/auth/login', { email, password: STRONG_PASSWORD })).statusCode).toBe(401);
    expect((await post('/auth/login', { email, password: newPassword })).statusCode).toBe(200);
  });
});
