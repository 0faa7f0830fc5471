// Message state through the API with real workers and the real send-queue and campaign workflows:
// a paused campaign's message that failed transiently leaves the send queue asleep (its history
// does not grow) until the campaign resumes, and an operator's outcome updates the conversation
// exactly as the worker's would.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER, signPayload } from '../../integrations/platforms/signature.js';
import { apiCalls, bearer, login, register, startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const { ok } = apiCalls(() => h);

async function creator() {
  const { userId, email } = await register(h);
  return { userId, auth: bearer((await login(h, email)).accessToken) };
}
type Creator = Awaited<ReturnType<typeof creator>>;

/** A bridge that holds each send until the test answers it: delivered (signed) or unavailable (503). */
function heldBridge() {
  let secret = '';
  const held: { key: string; res: ServerResponse }[] = [];
  const delivered = new Set<string>();
  let autoDeliver = false;
  const deliver = (key: string, res: ServerResponse) => {
    delivered.add(key);
    const answer = JSON.stringify({ messageId: `bridge_${key}`, sentAt: new Date().toISOString() });
    res.writeHead(201, { 'content-type': 'application/json', [SIGNATURE_HEADER]: signPayload(secret, answer) }).end(answer);
  };
  const server: Server = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on('end', () => {
      const key = String(req.headers['idempotency-key']);
      if (autoDeliver) deliver(key, res);
      else held.push({ key, res });
    });
  });
  return {
    server,
    delivered,
    held,
    setSecret: (s: string) => void (secret = s),
    url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Answers every held request 503 (a transient failure) with Retry-After. */
    failHeld(retryAfterSeconds: number) {
      for (const { res } of held.splice(0))
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': String(retryAfterSeconds) }).end('{}');
    },
    deliverAll() {
      autoDeliver = true;
      for (const { key, res } of held.splice(0)) deliver(key, res);
    },
  };
}

const historyLength = async (c: Creator) => (await h.temporal.workflow.getHandle(`send-queue:${c.userId}`).describe()).historyLength;

describe('send queue and paused campaigns', () => {
  it('sleeps while a paused campaign’s transiently failed message waits, and sends it after resume', { timeout: 90_000 }, async () => {
    const c = await creator();
    const bridge = heldBridge();
    await new Promise<void>((r) => bridge.server.listen(0, '127.0.0.1', r));
    try {
      // One request a second: the first batch claims one message, the second stays queued.
      const conn = await ok(
        c.auth,
        'PUT',
        '/platforms/onlyfans/connection',
        { adapter: 'bridge', bridgeUrl: bridge.url(), rateLimit: { messages: 1, perSeconds: 1 } },
        201,
      );
      bridge.setSecret(conn.webhookSecret);
      for (const handle of ['paused_a', 'paused_b']) await ok(c.auth, 'POST', '/crm/fans', { handle, tags: ['p'] }, 201);
      const { campaignId } = await ok(
        c.auth,
        'POST',
        '/messages/bulk',
        { campaignName: 'p', content: 'hi', segment: { tags: ['p'] } },
        202,
      );

      // The first message is with the platform when the campaign pauses: it cannot be withdrawn.
      await waitFor(() => bridge.held.length === 1, 'first send held by the bridge');
      await ok(c.auth, 'POST', `/campaigns/${campaignId}/pause`, undefined, 202);
      await waitFor(async () => (await ok(c.auth, 'GET', `/campaigns/${campaignId}`)).status === 'paused', 'campaign paused');
      // Then the platform fails it transiently: it waits for a retry in a second, in a paused campaign.
      const { key } = bridge.held[0]!;
      bridge.failHeld(1);
      const [row] = await h.sql<{ id: string }[]>`select id from messages where idempotency_key = ${key}`;
      const messageId = row!.id;
      await waitFor(async () => (await ok(c.auth, 'GET', `/messages/${messageId}`)).status === 'failed', 'message failed transiently');

      // Past its retry time the message is not due (its campaign is paused): the queue sleeps.
      await new Promise((r) => setTimeout(r, 2_500));
      const before = await historyLength(c);
      await new Promise((r) => setTimeout(r, 3_000));
      expect(await historyLength(c)).toBe(before);
      expect(bridge.held).toHaveLength(0);

      bridge.deliverAll();
      await ok(c.auth, 'POST', `/campaigns/${campaignId}/resume`, undefined, 202);
      const done = await waitFor(
        async () => {
          const got = await ok(c.auth, 'GET', `/campaigns/${campaignId}`);
          return got.status === 'completed' ? got : undefined;
        },
        'campaign completed',
        60_000,
      );
      expect(done.totals).toMatchObject({ recipients: 2, sent: 2 });
      expect(bridge.delivered).toContain(key);
      expect(bridge.delivered.size).toBe(2);
    } finally {
      bridge.deliverAll();
      await new Promise((r) => bridge.server.close(r));
    }
  });
});

describe('operator outcomes', () => {
  it('a message the operator marks sent moves its conversation’s lastMessageAt, as a worker send does', async () => {
    const c = await creator();
    await ok(c.auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'manual' }, 201);
    const fan = await ok(c.auth, 'POST', '/crm/fans', { handle: 'operated_fan' }, 201);
    const { messageId } = await ok(c.auth, 'POST', '/onlyfans/messages/send', { recipientId: fan.id, content: 'by hand' }, 202);
    await waitFor(async () => (await ok(c.auth, 'GET', `/messages/${messageId}`)).status === 'awaiting_operator', 'operator task');
    const before = (await ok(c.auth, 'GET', '/crm/conversations')).items[0];

    const sent = await ok(c.auth, 'POST', `/messages/${messageId}/complete`, { outcome: 'sent', platformMessageId: 'of_by_hand' });
    expect(sent).toMatchObject({ status: 'sent', sentAt: expect.any(String) });
    const after = (await ok(c.auth, 'GET', '/crm/conversations')).items[0];
    expect(Date.parse(sent.sentAt)).toBeGreaterThan(Date.parse(before.lastMessageAt));
    expect(after).toMatchObject({ id: before.id, lastMessageAt: sent.sentAt });
  });
});
