// A retried POST /messages/bulk never starts a second campaign: the campaign id derives from the
// Idempotency-Key, the workflow start finds the run already started, and nothing after the start
// turns the request into a 5xx (which would free the key for a retry that starts another).
import { randomUUID } from 'node:crypto';
import { ServiceError, type Client } from '@temporalio/client';
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { campaigns, idempotencyKeys, platformConnections } from '../../db/schema.js';
import { createLogger } from '../../lib/logger.js';
import { apiCalls, bearer, login, register, startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

let h: Harness;
let lossy: FastifyInstance;
beforeAll(async () => {
  h = await startHarness();
  lossy = await buildApp({
    config: h.config,
    db: h.db,
    temporal: losingFirstStart(h.temporal),
    stripe: h.stripe,
    logger: createLogger(h.config, 'test'),
  });
});
afterAll(async () => {
  await lossy?.close();
  await h?.close();
});

/** The client whose first workflow start reaches Temporal but whose answer is lost on the way back. */
function losingFirstStart(client: Client): Client {
  let lost = false;
  const workflow = new Proxy(client.workflow, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (prop !== 'start') return value.bind(target);
      return async (...args: unknown[]) => {
        const handle = await value.apply(target, args);
        if (!lost) {
          lost = true;
          throw new ServiceError('the answer to the start was lost');
        }
        return handle;
      };
    },
  });
  return new Proxy(client, { get: (target, prop) => (prop === 'workflow' ? workflow : Reflect.get(target, prop, target)) });
}

const { ok } = apiCalls(() => h);
async function creator() {
  const { userId, email } = await register(h);
  const auth = bearer((await login(h, email)).accessToken);
  await ok(auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'sandbox', rateLimit: { messages: 1000, perSeconds: 1 } }, 201);
  await ok(auth, 'POST', '/crm/fans', { handle: 'once' }, 201);
  return { userId, auth };
}
const body = { campaignName: 'once', content: 'hello', segment: { minValueCents: 0 } };

async function runWorkflowIds(creatorId: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of h.temporal.workflow.list({ query: `WorkflowType = 'campaignRunWorkflow' AND CreatorId = '${creatorId}'` }))
    ids.push(w.workflowId);
  return ids;
}

describe('POST /messages/bulk retried with the same Idempotency-Key', () => {
  it('starts one campaign when the answer to the first workflow start was lost', async () => {
    const c = await creator();
    const headers = { ...c.auth, 'idempotency-key': randomUUID() };
    const send = () => lossy.inject({ method: 'POST', url: '/api/v1/messages/bulk', headers, payload: body });
    expect((await send()).statusCode).toBe(503);
    const retried = await send();
    expect(retried.statusCode).toBe(202);
    const { campaignId } = retried.json();
    const rows = await h.db.select({ id: campaigns.id }).from(campaigns).where(eq(campaigns.creatorId, c.userId));
    expect(rows).toEqual([{ id: campaignId }]);
    await waitFor(async () => (await runWorkflowIds(c.userId)).includes(`campaign:${campaignId}:1`), 'the run listed');
    expect(await runWorkflowIds(c.userId)).toEqual([`campaign:${campaignId}:1`]);
  });

  it('answers 202 when the estimate after the start fails, so the key is not freed for a second campaign', async () => {
    const c = await creator();
    // A rate limit of zero messages makes the estimate's division fail in Postgres.
    await h.db.update(platformConnections).set({ rateLimitMessages: 0 }).where(eq(platformConnections.creatorId, c.userId));
    const headers = { ...c.auth, 'idempotency-key': randomUUID() };
    const send = () => h.app.inject({ method: 'POST', url: '/api/v1/messages/bulk', headers, payload: body });
    const first = await send();
    const second = await send();
    expect([first.statusCode, second.statusCode]).toEqual([202, 202]);
    expect(second.json().campaignId).toBe(first.json().campaignId);
    expect(await h.db.select({ id: campaigns.id }).from(campaigns).where(eq(campaigns.creatorId, c.userId))).toHaveLength(1);
    await h.db.update(platformConnections).set({ rateLimitMessages: 1000 }).where(eq(platformConnections.creatorId, c.userId));
  });

  it('refuses a key reused for another campaign after the idempotency record expired', async () => {
    const c = await creator();
    const key = randomUUID();
    const headers = { ...c.auth, 'idempotency-key': key };
    const send = (payload: object) => h.app.inject({ method: 'POST', url: '/api/v1/messages/bulk', headers, payload });
    const first = await send(body);
    expect(first.statusCode).toBe(202);
    // Past its 24 h the idempotency layer no longer holds the key; the campaign row still does.
    const expire = () => h.db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.scope, c.userId), eq(idempotencyKeys.key, key)));
    for (const other of [
      { ...body, segment: { minValueCents: 1 } },
      { ...body, priceCents: 500 },
      { ...body, mediaUrls: ['https://media.example/a.jpg'] },
      { ...body, sendAt: new Date(Date.now() + 3_600_000).toISOString() },
    ]) {
      await expire();
      const res = await send(other);
      expect(res.statusCode, JSON.stringify(other)).toBe(422);
      expect(res.json().error.code).toBe('idempotency_key_reused');
    }
    await expire();
    // The same request again names the same campaign.
    const again = await send({ ...body, segment: { ...body.segment } });
    expect(again.statusCode).toBe(202);
    expect(again.json().campaignId).toBe(first.json().campaignId);
  });
});
