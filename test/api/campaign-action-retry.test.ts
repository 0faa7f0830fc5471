// A campaign action retried with its Idempotency-Key after a 503 whose Update was in fact accepted
// (the answer was lost on the way back) gets the first outcome, not a 409 from the state the first
// attempt moved the run to: the Update id derives from the key, so Temporal answers the retry with
// the outcome it recorded.
import { randomUUID } from 'node:crypto';
import { WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { createLogger } from '../../lib/logger.js';
import { apiCalls, bearer, login, register, startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

let h: Harness;
let lossy: FastifyInstance;
let loseNext = false;
beforeAll(async () => {
  h = await startHarness();
  lossy = await buildApp({
    config: h.config,
    db: h.db,
    temporal: losingAnswers(h.temporal),
    stripe: h.stripe,
    logger: createLogger(h.config, 'test'),
  });
});
afterAll(async () => {
  await lossy?.close();
  await h?.close();
});

const lost = () => new WorkflowUpdateRPCTimeoutOrCancelledError('the answer to the update was lost', { cause: new Error('lost') });
/** Calls an Update for real; when `loseNext` is set, throws as if its answer never came back. */
const losing =
  <F extends (...args: never[]) => Promise<unknown>>(f: F) =>
  async (...args: Parameters<F>) => {
    const result = await f(...args);
    if (loseNext) {
      loseNext = false;
      throw lost();
    }
    return result;
  };

function losingAnswers(client: Client): Client {
  const workflow = new Proxy(client.workflow, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (prop === 'executeUpdateWithStart') return losing(value.bind(target));
      if (prop !== 'getHandle') return value.bind(target);
      return (...args: unknown[]) => {
        const handle = value.apply(target, args);
        return new Proxy(handle, {
          get: (t, p) => (p === 'executeUpdate' ? losing(t.executeUpdate.bind(t)) : Reflect.get(t, p, t)),
        });
      };
    },
  });
  return new Proxy(client, { get: (target, prop) => (prop === 'workflow' ? workflow : Reflect.get(target, prop, target)) });
}

const { ok } = apiCalls(() => h);

describe('campaign actions retried with an Idempotency-Key', () => {
  it('answers the retry of an accepted pause, resume and cancel with the first outcome', async () => {
    const { email } = await register(h);
    const auth = bearer((await login(h, email)).accessToken);
    await ok(auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'sandbox', rateLimit: { messages: 1, perSeconds: 1 } }, 201);
    for (let i = 0; i < 10; i++) await ok(auth, 'POST', '/crm/fans', { handle: `retry_${i}`, tags: ['retry'] }, 201);
    const { campaignId } = await ok(
      auth,
      'POST',
      '/messages/bulk',
      { campaignName: 'r', content: 'hi', segment: { tags: ['retry'] } },
      202,
    );
    await waitFor(async () => (await ok(auth, 'GET', `/campaigns/${campaignId}`)).status === 'running', 'running');
    for (const action of ['pause', 'resume', 'cancel']) {
      const headers = { ...auth, 'idempotency-key': randomUUID() };
      const send = () => lossy.inject({ method: 'POST', url: `/api/v1/campaigns/${campaignId}/${action}`, headers });
      loseNext = true;
      expect((await send()).statusCode, `${action} first`).toBe(503);
      // The cancelled run closes: the retry finds no running execution to deliver its Update to.
      if (action === 'cancel')
        await waitFor(
          async () => (await h.temporal.workflow.getHandle(`campaign:${campaignId}:1`).describe()).status.name === 'COMPLETED',
          'closed',
        );
      const retried = await send();
      expect(retried.statusCode, `${action} retried: ${retried.body}`).toBe(202);
      // A new key is a new action: the run's state decides it.
      if (action !== 'resume')
        expect((await lossy.inject({ method: 'POST', url: `/api/v1/campaigns/${campaignId}/${action}`, headers: auth })).statusCode).toBe(
          409,
        );
    }
  });

  it('treats one key on two campaigns as two requests, not a replay of the first', async () => {
    const { email } = await register(h);
    const auth = bearer((await login(h, email)).accessToken);
    await ok(auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'sandbox', rateLimit: { messages: 1, perSeconds: 1 } }, 201);
    for (let i = 0; i < 4; i++) await ok(auth, 'POST', '/crm/fans', { handle: `two_${i}`, tags: ['two'] }, 201);
    const ids: string[] = [];
    for (const name of ['a', 'b'])
      ids.push(
        (await ok(auth, 'POST', '/messages/bulk', { campaignName: name, content: 'hi', segment: { tags: ['two'] } }, 202)).campaignId,
      );
    for (const id of ids) await waitFor(async () => (await ok(auth, 'GET', `/campaigns/${id}`)).status === 'running', 'running');
    const headers = { ...auth, 'idempotency-key': randomUUID() };
    const pause = (id: string) => h.app.inject({ method: 'POST', url: `/api/v1/campaigns/${id}/pause`, headers });
    expect((await pause(ids[0]!)).statusCode).toBe(202);
    const other = await pause(ids[1]!);
    expect(other.statusCode, other.body).toBe(202);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    await waitFor(async () => (await ok(auth, 'GET', `/campaigns/${ids[1]}`)).status === 'paused', 'the second campaign paused');
    expect((await pause(ids[0]!)).headers['idempotent-replayed']).toBe('true');
  });

  it('documents the Idempotency-Key header on the action routes', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const op = Object.entries(doc.paths as Record<string, { post?: { parameters?: { name: string; in: string }[] } }>).find(([p]) =>
      p.endsWith('/campaigns/{id}/pause'),
    )?.[1].post;
    expect(op?.parameters?.some((p) => p.in === 'header' && p.name === 'idempotency-key')).toBe(true);
  });
});
