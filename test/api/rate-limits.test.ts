// Durable rate limits (SPEC §1, issue 10 item 4): authenticated requests per user and per IP, and the
// expensive public routes (register, forgot-password) per IP and per target email, counted in
// Postgres, so they hold across API instances: here two apps share one database.
import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { users } from '../../db/schema.js';
import { createLogger } from '../../lib/logger.js';
import { bearer, STRONG_PASSWORD, startHarness, uniqueEmail, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

let h: Harness;
let other: FastifyInstance;
beforeAll(async () => {
  h = await startHarness({
    workers: false,
    env: {
      USER_RATE_LIMIT_PER_MINUTE: '5',
      USER_IP_RATE_LIMIT_PER_MINUTE: '8',
      REGISTER_LIMIT_PER_IP_PER_HOUR: '3',
      REGISTER_LIMIT_PER_EMAIL_PER_HOUR: '2',
      FORGOT_PASSWORD_LIMIT_PER_IP_PER_HOUR: '3',
      FORGOT_PASSWORD_LIMIT_PER_EMAIL_PER_HOUR: '2',
    },
  });
  // A second API instance on the same database.
  other = await buildApp({ config: h.config, db: h.db, temporal: h.temporal, stripe: h.stripe, logger: createLogger(h.config, 'test') });
});
afterAll(async () => {
  await other?.close();
  await h?.close();
});

let ipCounter = 0;
/** A client address of its own (RFC 5737 test range), so tests do not share per-IP windows. */
const freshIp = () => `192.0.2.${++ipCounter}`;

/** Waits (rarely) until the current fixed window has at least 10 s left, so a test never straddles two. */
async function windowWithRoom(windowSeconds: number) {
  await waitFor(
    async () => {
      const [row] = await h.db.execute<{ left: number }>(
        sql`select ${windowSeconds} - mod(extract(epoch from now())::numeric, ${windowSeconds})::float8 as left`,
      );
      return row!.left > 10;
    },
    'a fresh rate-limit window',
    20_000,
    500,
  );
}

const registerAt = (app: FastifyInstance, ip: string, email = uniqueEmail()) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/register', remoteAddress: ip, payload: { email, password: STRONG_PASSWORD } });
const forgotAt = (app: FastifyInstance, ip: string, email: string) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/forgot-password', remoteAddress: ip, payload: { email } });

/** A verified creator, registered and logged in from `ip`; returns its bearer header. */
async function creatorAt(ip: string) {
  const email = uniqueEmail();
  const res = await registerAt(h.app, ip, email);
  expect(res.statusCode, res.body).toBe(201);
  await h.db.update(users).set({ emailVerifiedAt: sql`now()` }).where(eq(users.id, res.json().userId));
  const login = await h.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    remoteAddress: ip,
    payload: { email, password: STRONG_PASSWORD },
  });
  return bearer(login.json().accessToken);
}

const get = (app: FastifyInstance, auth: Record<string, string>, ip: string, url: string) =>
  app.inject({ method: 'GET', url: `/api/v1${url}`, headers: auth, remoteAddress: ip });

function expectThrottled(res: { statusCode: number; body: string; headers: Record<string, unknown>; json: () => any }, maxSeconds: number) {
  expect(res.statusCode, res.body).toBe(429);
  expect(res.json().error.code).toBe('throttled');
  const retryAfter = Number(res.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(maxSeconds);
}

describe('per-user limit on authenticated routes', () => {
  it('counts a user’s requests on every API instance and answers 429 with Retry-After past the limit', async () => {
    const ip = freshIp();
    const auth = await creatorAt(ip);
    const bystander = await creatorAt(freshIp());
    await windowWithRoom(60);
    for (let i = 0; i < 3; i++) expect((await get(h.app, auth, ip, '/crm/fans?limit=1')).statusCode).toBe(200);
    for (let i = 0; i < 2; i++) expect((await get(other, auth, ip, '/auth/me')).statusCode).toBe(200);
    expectThrottled(await get(h.app, auth, ip, '/crm/fans?limit=1'), 60);
    expectThrottled(await get(other, auth, ip, '/analytics/overview'), 60);
    // Another user is not held back.
    expect((await get(other, bystander, '198.51.100.7', '/crm/fans?limit=1')).statusCode).toBe(200);
  });

  it('limits authenticated requests per client IP too, whoever makes them', async () => {
    const ip = freshIp();
    const first = await creatorAt(ip);
    const second = await creatorAt(ip);
    await windowWithRoom(60);
    for (let i = 0; i < 5; i++) expect((await get(h.app, first, ip, '/crm/fans?limit=1')).statusCode).toBe(200);
    for (let i = 0; i < 3; i++) expect((await get(other, second, ip, '/crm/fans?limit=1')).statusCode).toBe(200);
    // The second user has made 3 of their 5; the address has made its 8.
    expectThrottled(await get(h.app, second, ip, '/crm/fans?limit=1'), 60);
    // The same user from another address is fine.
    expect((await get(h.app, second, freshIp(), '/crm/fans?limit=1')).statusCode).toBe(200);
  });
});

describe('durable limits on register and forgot-password', () => {
  it('limits registrations per IP across instances', async () => {
    const ip = freshIp();
    await windowWithRoom(3600);
    expect((await registerAt(h.app, ip)).statusCode).toBe(201);
    expect((await registerAt(other, ip)).statusCode).toBe(201);
    expect((await registerAt(h.app, ip)).statusCode).toBe(201);
    expectThrottled(await registerAt(other, ip), 3600);
  });

  it('limits registrations per target email, whatever the address they come from', async () => {
    const email = uniqueEmail();
    await windowWithRoom(3600);
    expect((await registerAt(h.app, freshIp(), email)).statusCode).toBe(201);
    expect((await registerAt(other, freshIp(), email)).statusCode).toBe(409);
    // Without the limit this would be a third argon2 hash for the same address.
    expectThrottled(await registerAt(h.app, freshIp(), email), 3600);
  });

  it('limits forgot-password per target email, the same way whether or not the account exists', async () => {
    const existing = uniqueEmail();
    expect((await registerAt(h.app, freshIp(), existing)).statusCode).toBe(201);
    const unknown = `nobody-${randomUUID()}@example.com`;
    await windowWithRoom(3600);
    const answers: Record<string, Array<[number, string]>> = {};
    for (const email of [existing, unknown]) {
      answers[email] = [];
      for (const app of [h.app, other, h.app]) {
        const res = await forgotAt(app, freshIp(), email);
        answers[email]!.push([res.statusCode, res.statusCode === 429 ? res.json().error.code : res.body]);
      }
    }
    expect(answers[existing]).toEqual([
      [202, '{"accepted":true}'],
      [202, '{"accepted":true}'],
      [429, 'throttled'],
    ]);
    expect(answers[unknown]).toEqual(answers[existing]);
  });

  it('limits forgot-password per IP across instances', async () => {
    const ip = freshIp();
    await windowWithRoom(3600);
    for (const app of [h.app, other, h.app]) expect((await forgotAt(app, ip, uniqueEmail())).statusCode).toBe(202);
    expectThrottled(await forgotAt(other, ip, uniqueEmail()), 3600);
  });
});
