// Messaging through the API with real workers, the real send-queue workflow and the sandbox
// platform: 1:1 sends, threads and the inbox, inbound events (signed, replay-safe), PPV purchases,
// dead-letter and retry, transient failures, the manual and bridge adapters, and tenant isolation.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fans, revenueEvents } from '../../db/schema.js';
import { SIGNATURE_HEADER, signPayload, verifySignature } from '../../integrations/platforms/signature.js';
import { apiCalls, bearer, login, register, startHarness, type Harness, type Method } from '../support/harness.js';
import { sandboxOf } from '../support/sandbox.js';
import { waitFor } from '../support/wait.js';

let h: Harness;
let platform: ReturnType<typeof sandboxOf>;
beforeAll(async () => {
  h = await startHarness({ env: { SEND_RETRY_BASE_SECONDS: '0.3' } });
  platform = sandboxOf(h);
});
afterAll(() => h?.close());

const { call, ok } = apiCalls(() => h);

async function creator() {
  const { userId, email } = await register(h);
  return { userId, auth: bearer((await login(h, email)).accessToken) };
}
type Creator = Awaited<ReturnType<typeof creator>>;
/** A sandbox connection whose limit (100 per second) does not pace a test's few messages. */
const fastLane = (c: Creator) =>
  ok(c.auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'sandbox', rateLimit: { messages: 100, perSeconds: 1 } }, 201);
const addFan = (c: Creator, handle: string, extra: object = {}) =>
  ok(c.auth, 'POST', '/crm/fans', { handle, ...extra }, 201) as Promise<{ id: string }>;
const send = (c: Creator, fanId: string, body: object = {}) =>
  ok(c.auth, 'POST', '/onlyfans/messages/send', { recipientId: fanId, content: 'hello there', ...body }, 202);
const messageOf = (c: Creator, id: string) => ok(c.auth, 'GET', `/messages/${id}`);
const settled = (c: Creator, id: string, status: string, timeoutMs = 20_000) =>
  waitFor(
    async () => {
      const m = await messageOf(c, id);
      return m.status === status ? m : undefined;
    },
    `message ${id} ${status}`,
    timeoutMs,
  );

const connection = (c: Creator) => platform.connection(c.userId);
const deliveries = (c: Creator) => platform.deliveries(c.userId);
const fanEvent = (c: Creator, type: string, data: object) => platform.fanEvent(c.userId, type, data);

describe('1:1 messages through the send queue', () => {
  it('queues (202 with an estimate), sends once through the sandbox, and shows up in the thread and inbox', async () => {
    const c = await creator();
    const fan = await addFan(c, 'thread_fan', { name: 'Thea' });
    const queued = await send(c, fan.id, { content: 'first!', mediaUrls: ['https://cdn.example.com/a.jpg'] });
    expect(queued).toMatchObject({ status: 'queued', messageId: expect.any(String) });
    expect(Date.parse(queued.estimatedSendTime)).toBeGreaterThanOrEqual(Date.parse(queued.queuedAt));

    const sent = await settled(c, queued.messageId, 'sent');
    expect(sent).toMatchObject({
      direction: 'out',
      text: 'first!',
      attachments: ['https://cdn.example.com/a.jpg'],
      attempts: 1,
      priority: 'normal',
    });
    const { deliveries: delivered } = await deliveries(c);
    expect(delivered).toEqual([expect.objectContaining({ idempotencyKey: queued.messageId, requests: 1 })]);

    const inbox = await ok(c.auth, 'GET', '/crm/conversations');
    expect(inbox.items).toEqual([
      expect.objectContaining({
        fanId: fan.id,
        platform: 'onlyfans',
        unreadCount: 0,
        fan: { id: fan.id, name: 'Thea', handle: 'thread_fan', avatar: null },
      }),
    ]);
    const thread = await ok(c.auth, 'GET', `/crm/conversations/${inbox.items[0].id}/messages`);
    expect(thread.items.map((m: { id: string }) => m.id)).toEqual([queued.messageId]);

    const status = await ok(c.auth, 'GET', '/onlyfans/messages/status');
    expect(status).toMatchObject({
      queueDepth: 0,
      messagesInFlight: 0,
      dlqCount: 0,
      metrics: { messagesQueuedToday: 1, messagesProcessedToday: 1, failureRate: 0 },
    });
    expect(status.lastProcessedAt).toBe(sent.sentAt);
  });

  it('records fan replies as unread, marks them read, and ignores a replayed event', async () => {
    const c = await creator();
    const fan = await addFan(c, 'chatty_fan');
    await settled(c, (await send(c, fan.id)).messageId, 'sent');
    const conversationId = (await ok(c.auth, 'GET', '/crm/conversations')).items[0].id;

    expect(await fanEvent(c, 'message.received', { fanHandle: 'chatty_fan', text: 'hi back' })).toMatchObject({ delivered: true });
    const unread = await ok(c.auth, 'GET', '/crm/conversations?unread=true');
    expect(unread.items).toEqual([expect.objectContaining({ id: conversationId, unreadCount: 1 })]);
    const thread = await ok(c.auth, 'GET', `/crm/conversations/${conversationId}/messages`);
    expect(thread.items[0]).toMatchObject({ direction: 'in', status: 'received', text: 'hi back', readAt: null });

    // The same event delivered again (a platform retry) changes nothing.
    const conn = await connection(c);
    const event = JSON.stringify({
      id: 'evt_replayed',
      type: 'message.received',
      createdAt: new Date().toISOString(),
      data: { fanHandle: 'chatty_fan', text: 'again', messageId: 'msg_replayed', sentAt: new Date().toISOString() },
    });
    const post = (body: string, signature = signPayload(conn.webhookSecret, body)) =>
      h.app.inject({
        method: 'POST',
        url: `/api/v1/platforms/onlyfans/webhook?connectionId=${conn.id}`,
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature },
        payload: body,
      });
    expect((await post(event)).json()).toEqual({ received: true, duplicate: false, ignored: false });
    expect((await post(event)).json()).toEqual({ received: true, duplicate: true, ignored: false });
    expect((await ok(c.auth, 'GET', '/crm/conversations')).items[0].unreadCount).toBe(2);

    // Forged, stale or misrouted deliveries are refused without revealing anything.
    expect((await post(event.replace('again', 'forged'), signPayload('whsec_wrong', event))).json().error.code).toBe('invalid_signature');
    expect((await post(event, signPayload(conn.webhookSecret, event, Math.floor(Date.now() / 1000) - 3600))).statusCode).toBe(400);
    const misrouted = await h.app.inject({
      method: 'POST',
      url: `/api/v1/platforms/fansly/webhook?connectionId=${conn.id}`,
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signPayload(conn.webhookSecret, event) },
      payload: event,
    });
    expect(misrouted.json().error.code).toBe('invalid_signature');
    const bad = JSON.stringify({ id: 'evt_bad', type: 'purchase.created', data: { fanHandle: 'chatty_fan', amountCents: -5 } });
    expect((await post(bad)).json().error.code).toBe('invalid_event');
    const unknown = JSON.stringify({ id: 'evt_unknown', type: 'story.viewed', data: {} });
    expect((await post(unknown)).json()).toEqual({ received: true, duplicate: false, ignored: true });
    // Signed but hostile: prototype keys as types, NUL in text, instants Postgres cannot hold, no body.
    expect((await post(JSON.stringify({ id: 'evt_proto', type: 'constructor', data: {} }))).json()).toEqual({
      received: true,
      duplicate: false,
      ignored: true,
    });
    const nul = JSON.stringify({
      id: 'evt_nul',
      type: 'message.received',
      data: { fanHandle: 'chatty_fan', text: 'a\u0000b', messageId: 'm_nul', sentAt: new Date().toISOString() },
    });
    expect((await post(nul)).json().error.code).toBe('invalid_event');
    const ancient = JSON.stringify({
      id: 'evt_old',
      type: 'message.received',
      data: { fanHandle: 'chatty_fan', text: 'x', messageId: 'm_old', sentAt: '0000-01-01T00:00:00Z' },
    });
    expect((await post(ancient)).json().error.code).toBe('invalid_event');
    const empty = await h.app.inject({
      method: 'POST',
      url: `/api/v1/platforms/onlyfans/webhook?connectionId=${conn.id}`,
      headers: { [SIGNATURE_HEADER]: signPayload(conn.webhookSecret, '') },
    });
    expect(empty.statusCode).toBe(400);

    expect(await ok(c.auth, 'POST', `/crm/conversations/${conversationId}/read`)).toEqual({ id: conversationId, unreadCount: 0 });
    expect((await ok(c.auth, 'GET', '/crm/conversations?unread=true')).items).toEqual([]);
    const read = await ok(c.auth, 'GET', `/crm/conversations/${conversationId}/messages`);
    expect(
      read.items.filter((m: { direction: string }) => m.direction === 'in').every((m: { readAt: string | null }) => m.readAt !== null),
    ).toBe(true);
  });

  it('credits a PPV purchase to the fan and the message, and a subscription to the fan', async () => {
    const c = await creator();
    const fan = await addFan(c, 'buyer_fan', { valueCents: 1000 });
    const { messageId } = await send(c, fan.id, { content: 'exclusive set', priceCents: 1500 });
    const sent = await settled(c, messageId, 'sent');
    expect(sent.priceCents).toBe(1500);
    const platformMessageId = (await deliveries(c)).deliveries[0]!.messageId;

    await fanEvent(c, 'purchase.created', { fanHandle: 'buyer_fan', amountCents: 1500, messageId: platformMessageId });
    await fanEvent(c, 'subscription.created', { fanHandle: 'buyer_fan', tier: 'gold', amountCents: 999 });
    expect(await ok(c.auth, 'GET', `/crm/fans/${fan.id}`)).toMatchObject({ valueCents: 1000 + 1500 + 999, subscriptionTier: 'gold' });
    const ledger = await h.db.select().from(revenueEvents).where(eq(revenueEvents.fanId, fan.id));
    expect(ledger.map((r) => [r.kind, r.amountCents, r.messageId])).toEqual(
      expect.arrayContaining([
        ['purchase', 1500, messageId],
        ['subscription', 999, null],
      ]),
    );

    // A new fan who subscribes appears in the CRM.
    await fanEvent(c, 'subscription.created', { fanHandle: 'brand_new_fan', fanName: 'Newt', amountCents: 500 });
    const created = await h.db.query.fans.findFirst({ where: and(eq(fans.creatorId, c.userId), eq(fans.handle, 'brand_new_fan')) });
    expect(created).toMatchObject({ name: 'Newt', valueCents: 500 });
  });
});

describe('failures', () => {
  it('parks a permanent failure in dead-letter; a retry sends it exactly once', async () => {
    const c = await creator();
    await fastLane(c);
    const fan = await addFan(c, 'blocking_fan');
    await settled(c, (await send(c, fan.id, { content: 'warm-up' })).messageId, 'sent');
    await platform.block(c.userId, 'blocking_fan');

    const { messageId } = await send(c, fan.id, { content: 'will bounce' });
    const dead = await settled(c, messageId, 'dead');
    expect(dead.lastError).toMatch(/fan_blocked/);
    expect((await ok(c.auth, 'GET', '/messages?status=dead')).items.map((m: { id: string }) => m.id)).toEqual([messageId]);
    expect((await ok(c.auth, 'GET', '/onlyfans/messages/status')).dlqCount).toBe(1);
    expect((await call(c.auth, 'POST', `/messages/${(await deliveries(c)).deliveries[0]!.idempotencyKey}/retry`)).json().error.code).toBe(
      'not_dead',
    );

    await platform.unblock(c.userId, 'blocking_fan');
    expect(await ok(c.auth, 'POST', `/messages/${messageId}/retry`, undefined, 202)).toMatchObject({ status: 'queued', attempts: 0 });
    await settled(c, messageId, 'sent');
    const again = (await deliveries(c)).deliveries.filter((d) => d.idempotencyKey === messageId);
    expect(again).toEqual([expect.objectContaining({ requests: 1 })]);
    expect((await ok(c.auth, 'GET', '/onlyfans/messages/status')).dlqCount).toBe(0);
  });

  it('retries a transient failure with backoff until the platform is back', async () => {
    const c = await creator();
    await fastLane(c);
    const fan = await addFan(c, 'patient_fan');
    await settled(c, (await send(c, fan.id, { content: 'warm-up' })).messageId, 'sent');
    await platform.outage(c.userId, 1);
    const { messageId } = await send(c, fan.id, { content: 'during the outage' });
    const sent = await settled(c, messageId, 'sent');
    expect(sent.attempts).toBeGreaterThan(1);
    expect((await deliveries(c)).deliveries.filter((d) => d.idempotencyKey === messageId)).toHaveLength(1);
  });

  it('does not send to a fan deleted or opted out after queueing', async () => {
    const c = await creator();
    const fan = await addFan(c, 'leaving_fan');
    await ok(c.auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'sandbox', rateLimit: { messages: 1, perSeconds: 60 } }, 201);
    await settled(c, (await send(c, fan.id, { content: 'uses the minute' })).messageId, 'sent');
    const { messageId } = await send(c, fan.id, { content: 'never sent' });
    await ok(c.auth, 'DELETE', `/crm/fans/${fan.id}`, undefined, 204);
    // Lifting the limit wakes the queue, which looks at the message now rather than in a minute.
    await ok(c.auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'sandbox', rateLimit: { messages: 100, perSeconds: 1 } });
    expect((await settled(c, messageId, 'cancelled')).lastError).toMatch(/deleted/);
    expect((await deliveries(c)).deliveries.map((d) => d.idempotencyKey)).not.toContain(messageId);

    const optedOut = await addFan(c, 'opted_out_fan', { optedOut: true });
    expect((await call(c.auth, 'POST', '/onlyfans/messages/send', { recipientId: optedOut.id, content: 'x' })).json().error.code).toBe(
      'fan_opted_out',
    );
  });
});

describe('adapters', () => {
  it('manual: each message becomes an operator task that a person completes', async () => {
    const c = await creator();
    const created = await ok(c.auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'manual' }, 201);
    expect(created).toMatchObject({
      adapter: 'manual',
      rateLimit: { messages: 10, perSeconds: 60 },
      webhookSecret: expect.stringMatching(/^whsec_/),
    });
    expect((await ok(c.auth, 'GET', '/platforms/connections')).items[0].webhookSecret).toBeUndefined();
    const fan = await addFan(c, 'manual_fan');
    const { messageId } = await send(c, fan.id);
    await settled(c, messageId, 'awaiting_operator');
    expect((await ok(c.auth, 'GET', '/messages?status=awaiting_operator')).items.map((m: { id: string }) => m.id)).toEqual([messageId]);
    expect(await ok(c.auth, 'POST', `/messages/${messageId}/complete`, { outcome: 'sent', platformMessageId: 'of_123' })).toMatchObject({
      status: 'sent',
    });
    expect((await call(c.auth, 'POST', `/messages/${messageId}/complete`, { outcome: 'sent' })).statusCode).toBe(409);
    const second = await send(c, fan.id, { content: 'second' });
    await settled(c, second.messageId, 'awaiting_operator');
    const taken = await call(c.auth, 'POST', `/messages/${second.messageId}/complete`, { outcome: 'sent', platformMessageId: 'of_123' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().error.code).toBe('platform_message_id_taken');
  });

  it('bridge: signs each request, trusts only signed answers, and dead-letters a forged one', async () => {
    const c = await creator();
    const received: { key: string; body: Record<string, unknown>; verified: boolean }[] = [];
    let secret = '';
    let forge = false;
    const bridge: Server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        received.push({
          key: String(req.headers['idempotency-key']),
          body: JSON.parse(raw),
          verified: verifySignature(secret, raw, req.headers[SIGNATURE_HEADER] as string),
        });
        const answer = JSON.stringify({ messageId: `bridge_${received.length}`, sentAt: new Date().toISOString() });
        res
          .writeHead(201, {
            'content-type': 'application/json',
            [SIGNATURE_HEADER]: signPayload(forge ? 'not-the-secret' : secret, answer),
          })
          .end(answer);
      });
    });
    await new Promise<void>((r) => bridge.listen(0, '127.0.0.1', r));
    try {
      const bridgeUrl = `http://127.0.0.1:${(bridge.address() as AddressInfo).port}`;
      const conn = await ok(
        c.auth,
        'PUT',
        '/platforms/onlyfans/connection',
        { adapter: 'bridge', bridgeUrl, rateLimit: { messages: 100, perSeconds: 1 } },
        201,
      );
      secret = conn.webhookSecret;
      const fan = await addFan(c, 'bridged_fan');
      const { messageId } = await send(c, fan.id, { content: 'via bridge', priceCents: 500 });
      await settled(c, messageId, 'sent');
      expect(received).toEqual([
        {
          key: messageId,
          verified: true,
          body: expect.objectContaining({ fanHandle: 'bridged_fan', text: 'via bridge', priceCents: 500 }),
        },
      ]);

      forge = true;
      const forged = await send(c, fan.id, { content: 'answer forged' });
      expect((await settled(c, forged.messageId, 'dead')).lastError).toMatch(/not signed/);
    } finally {
      await new Promise((r) => bridge.close(r));
    }
  });

  it('validates connections: bridge needs its URL and only it', async () => {
    const c = await creator();
    expect((await call(c.auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'bridge' })).statusCode).toBe(400);
    expect((await call(c.auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'manual', bridgeUrl: 'https://x.io' })).statusCode).toBe(
      400,
    );
    expect((await call(c.auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'carrier-pigeon' })).statusCode).toBe(400);
    expect(
      (await call(c.auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'manual', rateLimit: { messages: 0, perSeconds: 60 } }))
        .statusCode,
    ).toBe(400);
  });
});

describe('tenancy and validation', () => {
  it('answers 404 for another creator’s fan, conversation and message on every route', async () => {
    const alice = await creator();
    const bob = await creator();
    const fan = await addFan(alice, 'alice_only');
    const { messageId } = await send(alice, fan.id);
    await settled(alice, messageId, 'sent');
    const conversationId = (await ok(alice.auth, 'GET', '/crm/conversations')).items[0].id;
    const { suggestionId } = await ok(alice.auth, 'POST', `/crm/conversations/${conversationId}/suggestions`, undefined, 202);
    const attempts: [Method, string, object?][] = [
      ['POST', '/onlyfans/messages/send', { recipientId: fan.id, content: 'x' }],
      ['GET', `/crm/conversations/${conversationId}/messages`],
      ['POST', `/crm/conversations/${conversationId}/messages`, { text: 'x' }],
      ['POST', `/crm/conversations/${conversationId}/read`],
      ['GET', `/crm/conversations/${conversationId}/suggestions`],
      ['POST', `/crm/conversations/${conversationId}/suggestions`],
      ['POST', `/ai/suggestions/${suggestionId}/approve`, { text: 'x' }],
      ['POST', `/ai/suggestions/${suggestionId}/reject`],
      ['GET', `/messages/${messageId}`],
      ['POST', `/messages/${messageId}/retry`],
      ['POST', `/messages/${messageId}/complete`, { outcome: 'sent' }],
    ];
    for (const [method, url, payload] of attempts) {
      const res = await call(bob.auth, method, url, payload);
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.json().error.code).toBe('not_found');
    }
    // Bob decided nothing on Alice's suggestion, nor drafted one on her conversation.
    expect((await ok(alice.auth, 'GET', `/crm/conversations/${conversationId}/suggestions`)).items).toEqual([
      expect.objectContaining({ id: suggestionId, decidedBy: null, trigger: 'person' }),
    ]);
    expect((await ok(bob.auth, 'GET', '/crm/conversations')).items).toEqual([]);
    expect((await ok(bob.auth, 'GET', '/messages?status=sent')).items).toEqual([]);
    expect(await ok(bob.auth, 'GET', '/onlyfans/messages/status')).toMatchObject({ queueDepth: 0, metrics: { messagesQueuedToday: 0 } });
  });

  it('rejects bad input with 400 and no session with 401', async () => {
    const c = await creator();
    const fan = await addFan(c, 'strict_fan');
    for (const body of [
      {},
      { recipientId: fan.id },
      { recipientId: fan.id, content: '' },
      { recipientId: 'nope', content: 'x' },
      { recipientId: fan.id, content: 'x', priority: 'urgent' },
      { recipientId: fan.id, content: 'x', priceCents: -1 },
      { recipientId: fan.id, content: 'x', extra: 1 },
      { recipientId: fan.id, content: 'x', mediaUrls: ['ftp://x'] },
    ]) {
      const res = await call(c.auth, 'POST', '/onlyfans/messages/send', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
    }
    expect((await call(c.auth, 'GET', '/messages?status=lost')).statusCode).toBe(400);
    expect((await call({}, 'GET', '/onlyfans/messages/status')).statusCode).toBe(401);
    expect((await call(c.auth, 'GET', '/crm/conversations?cursor=garbage')).json().error.code).toBe('invalid_cursor');
    // A cursor from another list, an id in a form Postgres rejects, a platform named like a prototype key.
    const valueCursor = Buffer.from(JSON.stringify(['12345', fan.id])).toString('base64url');
    expect((await call(c.auth, 'GET', `/crm/conversations?cursor=${valueCursor}`)).json().error.code).toBe('invalid_cursor');
    expect((await call(c.auth, 'GET', `/messages?status=dead&cursor=${valueCursor}`)).json().error.code).toBe('invalid_cursor');
    expect((await call(c.auth, 'GET', `/crm/fans?sort=created&cursor=${valueCursor}`)).json().error.code).toBe('invalid_cursor');
    expect((await call(c.auth, 'GET', `/messages/urn:uuid:${fan.id}`)).statusCode).toBe(400);
    expect((await call(c.auth, 'PUT', '/platforms/constructor/connection', { adapter: 'manual' })).statusCode).toBe(400);
  });

  it('replays the first answer to a repeated Idempotency-Key instead of queueing twice', async () => {
    const c = await creator();
    const fan = await addFan(c, 'idem_fan');
    const headers = { ...c.auth, 'idempotency-key': 'send-once-1' };
    const first = await call(headers, 'POST', '/onlyfans/messages/send', { recipientId: fan.id, content: 'once' });
    const second = await call(headers, 'POST', '/onlyfans/messages/send', { recipientId: fan.id, content: 'once' });
    expect(second.statusCode).toBe(202);
    expect(second.json().messageId).toBe(first.json().messageId);
    expect(second.headers['idempotent-replayed']).toBe('true');
  });

  it('re-running a send whose answer was never recorded (API killed after the commit) finds the message it queued', async () => {
    const c = await creator();
    const fan = await addFan(c, 'idem_crash_fan');
    const headers = { ...c.auth, 'idempotency-key': 'send-crash-1' };
    const first = await call(headers, 'POST', '/onlyfans/messages/send', { recipientId: fan.id, content: 'once' });
    expect(first.statusCode).toBe(202);
    // What a SIGKILL between the commit and recording the answer leaves once the key is abandoned:
    // the message, and no idempotency record (the next request claims the key and runs again).
    await h.sql`delete from idempotency_keys where key = 'send-crash-1'`;
    const again = await call(headers, 'POST', '/onlyfans/messages/send', { recipientId: fan.id, content: 'once' });
    expect(again.statusCode).toBe(202);
    expect(again.json().messageId).toBe(first.json().messageId);
    const rows = await h.sql`select id from messages where creator_id = ${c.userId} and direction = 'out'`;
    expect(rows).toHaveLength(1);
  });

  it('a key whose first request is still unanswered is a 409, and over a minute later (its process died) it is claimed again', async () => {
    const c = await creator();
    const fan = await addFan(c, 'idem_abandoned_fan');
    const headers = { ...c.auth, 'idempotency-key': 'send-abandoned-1' };
    const first = await call(headers, 'POST', '/onlyfans/messages/send', { recipientId: fan.id, content: 'once' });
    expect(first.statusCode).toBe(202);
    // What a first request still running (or killed before answering) leaves: the key, no answer.
    await h.sql`update idempotency_keys set status_code = null, response_body = null where key = 'send-abandoned-1'`;
    const running = await call(headers, 'POST', '/onlyfans/messages/send', { recipientId: fan.id, content: 'once' });
    expect(running.statusCode).toBe(409);
    await h.sql`update idempotency_keys set created_at = now() - interval '2 minutes' where key = 'send-abandoned-1'`;
    const again = await call(headers, 'POST', '/onlyfans/messages/send', { recipientId: fan.id, content: 'once' });
    expect(again.statusCode).toBe(202);
    expect(again.json().messageId).toBe(first.json().messageId);
  });

  it('the same holds for a reply in a conversation, and a key reused for another message once its record is gone is a 422', async () => {
    const c = await creator();
    const fan = await addFan(c, 'idem_reply_fan');
    await send(c, fan.id, { content: 'opening line' });
    const [conversation] = await h.sql<{ id: string }[]>`select id from conversations where creator_id = ${c.userId}`;
    const conversationId = conversation!.id;
    const headers = { ...c.auth, 'idempotency-key': 'reply-crash-1' };
    const reply = () => call(headers, 'POST', `/crm/conversations/${conversationId}/messages`, { text: 'reply once' });
    const first = await reply();
    expect(first.statusCode).toBe(202);
    await h.sql`delete from idempotency_keys where key = 'reply-crash-1'`;
    const again = await reply();
    expect(again.statusCode).toBe(202);
    expect(again.json().messageId).toBe(first.json().messageId);
    // The same key on the other send route is another request: a message of its own.
    const viaSend = await call(headers, 'POST', '/onlyfans/messages/send', { recipientId: fan.id, content: 'reply once' });
    expect(viaSend.statusCode).toBe(202);
    expect(viaSend.json().messageId).not.toBe(first.json().messageId);

    await h.sql`delete from idempotency_keys where key = 'reply-crash-1'`;
    const reused = await call(headers, 'POST', `/crm/conversations/${conversationId}/messages`, { text: 'something else' });
    expect(reused.statusCode).toBe(422);
    expect(reused.json().error.code).toBe('idempotency_key_reused');
    const rows = await h.sql`select text from messages where creator_id = ${c.userId} and direction = 'out' order by created_at`;
    expect(rows.map((r) => r.text)).toEqual(['opening line', 'reply once', 'reply once']);
  });
});

describe('sends to a draining queue', () => {
  /** Signals the creator's send-queue workflow received (one run: these tests are far from a continue-as-new). */
  async function signalsReceived(creatorId: string): Promise<number> {
    const history = await h.temporal.workflow.getHandle(`send-queue:${creatorId}`).fetchHistory();
    return (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length;
  }

  it('make no Temporal call while the queue has due messages for the platform, and signal again once it drained', async () => {
    const c = await creator();
    // Paced at one message every 0.5 s: the first five are still due while the next five are sent.
    await ok(c.auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'sandbox', rateLimit: { messages: 2, perSeconds: 1 } }, 201);
    const fan = await addFan(c, 'draining_fan');
    const first = [];
    for (let i = 0; i < 5; i++) first.push(await send(c, fan.id, { content: `first ${i}` }));
    // The first batch has run (so the queue recorded itself awake with the rest still due).
    await settled(c, first[0].messageId, 'sent');
    await waitFor(
      async () => (await h.sql`select 1 from send_queue_awake where creator_id = ${c.userId} and awake_until > now()`).length > 0,
      'queue awake',
    );
    const before = await signalsReceived(c.userId);
    const more = [];
    for (let i = 0; i < 5; i++) more.push(await send(c, fan.id, { content: `more ${i}` }));
    for (const m of [...first, ...more]) await settled(c, m.messageId, 'sent');
    expect((await deliveries(c)).deliveries).toHaveLength(10);
    // Counted once the queue has moved on: a signal that reaches a workflow mid-task is buffered,
    // and only shows in its history when that task completes.
    expect(await signalsReceived(c.userId)).toBe(before);

    // Drained: the next send signals, and goes out.
    await waitFor(
      async () => (await h.sql`select 1 from send_queue_awake where creator_id = ${c.userId} and awake_until > now()`).length === 0,
      'queue asleep',
    );
    const last = await send(c, fan.id, { content: 'after the drain' });
    await settled(c, last.messageId, 'sent');
    expect(await signalsReceived(c.userId)).toBe(before + 1);
  });
});
