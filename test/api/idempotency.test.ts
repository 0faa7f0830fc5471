import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { users } from '../../db/schema.js';
import { bearer, login, registerUnverified, startHarness, STRONG_PASSWORD, uniqueEmail, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { RESEND_VERIFICATION_MIN_INTERVAL_SECONDS: '0' } });
});
afterAll(() => h?.close());

const post = (url: string, payload: object | undefined, headers: Record<string, string>) =>
  h.app.inject({ method: 'POST', url: `/api/v1${url}`, payload, headers });

describe('Idempotency-Key', () => {
  it('replays register with the same key and body, and creates one account', async () => {
    const key = randomUUID();
    const body = { email: uniqueEmail(), password: STRONG_PASSWORD };
    const first = await post('/auth/register', body, { 'idempotency-key': key });
    const second = await post('/auth/register', body, { 'idempotency-key': key });
    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(201);
    expect(second.json()).toEqual(first.json());
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(await h.db.select().from(users).where(eq(users.email, body.email))).toHaveLength(1);
    // Without a key the second attempt is the ordinary conflict.
    expect((await post('/auth/register', body, {})).statusCode).toBe(409);
  });

  it('refuses the same key with a different body, and malformed keys', async () => {
    const key = randomUUID();
    await post('/auth/register', { email: uniqueEmail(), password: STRONG_PASSWORD }, { 'idempotency-key': key });
    const reused = await post('/auth/register', { email: uniqueEmail(), password: STRONG_PASSWORD }, { 'idempotency-key': key });
    expect(reused.statusCode).toBe(422);
    expect(reused.json().error.code).toBe('idempotency_key_reused');
    for (const bad of ['x'.repeat(300), 'has space']) {
      const res = await post('/auth/register', { email: uniqueEmail(), password: STRONG_PASSWORD }, { 'idempotency-key': bad });
      expect(res.statusCode, bad).toBe(400);
    }
  });

  it('scopes keys to the caller: the same key from two users sends two emails', async () => {
    const key = randomUUID();
    const a = await registerUnverified(h);
    const b = await registerUnverified(h);
    for (const u of [a, b]) {
      await waitFor(async () => (await h.mailbox(u.email)).length === 1, 'first mail');
      const { accessToken } = await login(h, u.email);
      expect((await post('/auth/resend-verification', undefined, { ...bearer(accessToken), 'idempotency-key': key })).statusCode).toBe(202);
      const replay = await post('/auth/resend-verification', undefined, { ...bearer(accessToken), 'idempotency-key': key });
      expect(replay.statusCode).toBe(202);
      expect(replay.headers['idempotent-replayed']).toBe('true');
    }
    // Each user's own first resend went through (the other user's key did not shadow it).
    for (const u of [a, b]) await waitFor(async () => (await h.mailbox(u.email)).length === 2, 'one resend each');
  });
});
