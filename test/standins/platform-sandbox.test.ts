// Drives the fan-platform sandbox over plain HTTP, with a small local server receiving its webhooks.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SIGNATURE_HEADER, verifySignature } from '../../integrations/platforms/signature.js';
import { startPlatformSandbox, type Delivery, type PlatformEvent, type PlatformSandbox } from '../../standins/platform-sandbox/index.js';
import { waitFor } from '../support/wait.js';

const SECRET = 'whsec_sandbox_test_secret';
const KEY = 'sk_sandbox_creator_key';
const ACCOUNT = 'creator_1';

interface Attempt {
  body: string;
  signature: string | undefined;
  contentType: string | undefined;
  /** What the receiver answered. */
  status: number;
}

interface Receiver {
  url: string;
  attempts: Attempt[];
  /** The next `failures` attempts are answered with 500. */
  failures: number;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = receiver.failures > 0 ? 500 : 200;
      if (status === 500) receiver.failures -= 1;
      receiver.attempts.push({
        body: Buffer.concat(chunks).toString('utf8'),
        signature: req.headers[SIGNATURE_HEADER] as string | undefined,
        contentType: req.headers['content-type'],
        status,
      });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const receiver: Receiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/sandbox`,
    attempts: [],
    failures: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return receiver;
}

let receiver: Receiver;
let sandbox: PlatformSandbox;
const running = new Set<PlatformSandbox>();

async function start(overrides: Partial<Parameters<typeof startPlatformSandbox>[0]> = {}) {
  const s = await startPlatformSandbox({ port: 0, webhookRetryDelaysMs: [50, 100, 200], ...overrides });
  running.add(s);
  return s;
}

interface ErrorBody {
  error: { code: string; message: string };
}
interface SendBody {
  id: string;
  fanHandle: string;
  deliveredAt: string;
}

async function api<T = ErrorBody>(
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string; key?: string | null; idempotencyKey?: string; on?: PlatformSandbox } = {},
) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.key !== null) headers.authorization = `Bearer ${opts.key ?? KEY}`;
  if (opts.idempotencyKey !== undefined) headers['idempotency-key'] = opts.idempotencyKey;
  const res = await fetch(`${(opts.on ?? sandbox).url}${path}`, {
    method,
    headers,
    body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
}

const putAccount = (
  body: unknown = { webhookUrl: receiver.url, webhookSecret: SECRET },
  opts: { key?: string | null; id?: string; on?: PlatformSandbox } = {},
) =>
  api<{ id: string; webhookUrl: string | null; rateLimit: { messages: number; perSeconds: number } }>(
    'PUT',
    `/v1/accounts/${opts.id ?? ACCOUNT}`,
    { body, ...opts },
  );

const send = (
  idempotencyKey: string | undefined,
  body: unknown = { fanHandle: 'fan_a', text: 'hi' },
  opts: { key?: string; on?: PlatformSandbox } = {},
) => api<SendBody & ErrorBody>('POST', `/v1/accounts/${ACCOUNT}/messages`, { body, idempotencyKey, ...opts });

const control = (method: string, path: string, body?: unknown, on?: PlatformSandbox) =>
  api<ErrorBody & { eventId: string; delivered: boolean }>(method, `/_sandbox/accounts/${ACCOUNT}${path}`, { body, key: null, on });

async function deliveries(on?: PlatformSandbox) {
  const res = await api<{ deliveries: Delivery[]; rejectedForRate: number }>('GET', `/_sandbox/accounts/${ACCOUNT}/deliveries`, {
    key: null,
    on,
  });
  expect(res.status).toBe(200);
  return res.body;
}

/** The events that reached the receiver with a valid signature and a 2xx answer. */
const received = () =>
  receiver.attempts
    .filter((a) => a.status === 200 && verifySignature(SECRET, a.body, a.signature))
    .map((a) => JSON.parse(a.body) as PlatformEvent);

const eventually = <T>(check: () => Promise<T> | T, what: string, timeoutMs = 5_000) => waitFor(check, what, timeoutMs, 20);

beforeEach(async () => {
  receiver = await startReceiver();
  sandbox = await start();
});
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await Promise.all([...running].map((s) => s.close()));
  running.clear();
  await receiver.close();
});

describe('platform sandbox: routing and accounts', () => {
  it('reports health, and answers unknown paths, wrong methods and bad input with JSON errors', async () => {
    expect(await api('GET', '/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await api('GET', '/v2/nothing')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    const wrongMethod = await api('GET', `/v1/accounts/${ACCOUNT}`);
    expect(wrongMethod).toMatchObject({ status: 405, body: { error: { code: 'method_not_allowed' } } });
    expect(wrongMethod.headers.get('allow')).toBe('PUT');
    expect((await api('PUT', '/v1/accounts/bad%20id', { body: {} })).status).toBe(400);
    expect((await api('PUT', `/v1/accounts/${'a'.repeat(101)}`, { body: {} })).status).toBe(400);
    expect((await api('PUT', '/v1/accounts/%E0%A4%A', { body: {} })).status).toBe(400);

    const huge = await api('PUT', `/v1/accounts/${ACCOUNT}`, { raw: JSON.stringify({ webhookSecret: 'x'.repeat(1024 * 1024) }) });
    expect(huge).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large' } } });
    // None of that harmed the server or created anything.
    expect((await api('GET', '/health')).status).toBe(200);
    expect(await api('GET', `/_sandbox/accounts/${ACCOUNT}/deliveries`)).toMatchObject({
      status: 404,
      body: { error: { code: 'account_not_found' } },
    });
  });

  it('creates an account on the first PUT, then updates it only for the same API key', async () => {
    expect(await putAccount({}, { key: null })).toMatchObject({ status: 401, body: { error: { code: 'invalid_api_key' } } });

    const created = await putAccount({ webhookUrl: receiver.url, webhookSecret: SECRET });
    expect(created.status).toBe(200);
    expect(created.body).toEqual({ id: ACCOUNT, webhookUrl: receiver.url, rateLimit: { messages: 10, perSeconds: 60 } });

    expect(await putAccount({ rateLimit: { messages: 1, perSeconds: 1 } }, { key: 'sk_someone_else' })).toMatchObject({
      status: 401,
      body: { error: { code: 'invalid_api_key' } },
    });
    const updated = await putAccount({ rateLimit: { messages: 3, perSeconds: 5 } });
    expect(updated.body).toEqual({ id: ACCOUNT, webhookUrl: receiver.url, rateLimit: { messages: 3, perSeconds: 5 } });

    const invalid: unknown[] = [
      { rateLimit: { messages: 0, perSeconds: 1 } },
      { rateLimit: { messages: 1.5, perSeconds: 1 } },
      { rateLimit: { messages: 1 } },
      { webhookUrl: 'not a url' },
      { webhookUrl: 'ftp://example.com/hook' },
      { webhookSecret: '' },
      { webhookUrl: receiver.url, extra: true },
      [],
    ];
    for (const body of invalid)
      expect(await putAccount(body), JSON.stringify(body)).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } });
    expect((await putAccount(undefined, { key: KEY })).body.rateLimit).toEqual({ messages: 3, perSeconds: 5 });
    // An endpoint nobody could verify is refused.
    expect((await putAccount({ webhookUrl: receiver.url }, { id: 'no_secret' })).status).toBe(400);
  });

  it('needs an existing account and its API key for sends', async () => {
    expect(await send('k1')).toMatchObject({ status: 404, body: { error: { code: 'account_not_found' } } });
    await putAccount();
    expect(await send('k1', undefined, { key: 'sk_wrong' })).toMatchObject({ status: 401, body: { error: { code: 'invalid_api_key' } } });
    const noKey = await api('POST', `/v1/accounts/${ACCOUNT}/messages`, {
      key: null,
      idempotencyKey: 'k1',
      body: { fanHandle: 'f', text: 't' },
    });
    expect(noKey.status).toBe(401);
    expect((await deliveries()).deliveries).toHaveLength(0);
  });
});

describe('platform sandbox: sending', () => {
  beforeEach(async () => {
    expect((await putAccount()).status).toBe(200);
  });

  it('delivers a message once per idempotency key and replays the first answer', async () => {
    const first = await send('key-1', {
      fanHandle: 'fan_a',
      text: 'new set 🔥',
      priceCents: 1500,
      mediaUrls: ['https://cdn.example/1.jpg'],
    });
    expect(first.status).toBe(201);
    expect(first.body.id).toMatch(/^msg_[0-9a-f]+$/);
    expect(first.body.fanHandle).toBe('fan_a');
    expect(Date.parse(first.body.deliveredAt)).not.toBeNaN();
    expect(first.headers.get('idempotent-replayed')).toBeNull();

    const replay = await send('key-1', {
      fanHandle: 'fan_a',
      text: 'new set 🔥',
      priceCents: 1500,
      mediaUrls: ['https://cdn.example/1.jpg'],
    });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');

    const other = await send('key-2', { fanHandle: 'fan_b', text: 'hello' });
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(first.body.id);

    const { deliveries: all } = await deliveries();
    expect(all).toEqual([
      {
        idempotencyKey: 'key-1',
        messageId: first.body.id,
        fanHandle: 'fan_a',
        text: 'new set 🔥',
        priceCents: 1500,
        mediaUrls: ['https://cdn.example/1.jpg'],
        deliveredAt: first.body.deliveredAt,
        requests: 2,
      },
      {
        idempotencyKey: 'key-2',
        messageId: other.body.id,
        fanHandle: 'fan_b',
        text: 'hello',
        priceCents: 0,
        mediaUrls: [],
        deliveredAt: other.body.deliveredAt,
        requests: 1,
      },
    ]);
  });

  it('delivers once when the same key is sent concurrently', async () => {
    const answers = await Promise.all(Array.from({ length: 5 }, () => send('same-key')));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    const { deliveries: all } = await deliveries();
    expect(all).toHaveLength(1);
    expect(all[0]!.requests).toBe(5);
  });

  it('requires an Idempotency-Key and a valid body', async () => {
    expect(await send(undefined)).toMatchObject({ status: 400, body: { error: { code: 'idempotency_key_required' } } });
    expect(await send('')).toMatchObject({ status: 400, body: { error: { code: 'idempotency_key_required' } } });
    expect((await send('k'.repeat(256))).body.error.code).toBe('idempotency_key_required');
    expect((await send('k'.repeat(255))).status).toBe(201);

    const invalid: unknown[] = [
      {},
      { fanHandle: '', text: 'hi' },
      { fanHandle: 'fan_a' },
      { fanHandle: 'fan_a', text: 'hi', priceCents: -1 },
      { fanHandle: 'fan_a', text: 'hi', priceCents: 9.99 },
      { fanHandle: 'fan_a', text: 'hi', priceCents: '100' },
      { fanHandle: 'fan_a', text: 'hi', mediaUrls: 'https://cdn.example/1.jpg' },
      { fanHandle: 'fan_a', text: 'hi', mediaUrls: [1] },
      { fanHandle: 'fan_a', text: 'hi', price: 100 },
      'just a string',
    ];
    for (const [i, body] of invalid.entries())
      expect(await send(`bad-${i}`, body), JSON.stringify(body)).toMatchObject({
        status: 400,
        body: { error: { code: 'invalid_request' } },
      });
    const notJson = await api('POST', `/v1/accounts/${ACCOUNT}/messages`, { raw: '{"fanHandle":', idempotencyKey: 'bad-json' });
    expect(notJson).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } });
    // Refused sends leave no trace, so their keys are still free.
    expect((await deliveries()).deliveries).toHaveLength(1);
    expect((await send('bad-0')).status).toBe(201);
  });

  it('rate-limits each account over a sliding window, with Retry-After until a slot frees', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = new Date('2030-01-01T00:00:00Z').getTime();
    vi.setSystemTime(t0);
    await putAccount({ rateLimit: { messages: 2, perSeconds: 60 } });
    // Another account's traffic does not count against this one.
    await putAccount({}, { id: 'creator_2' });
    expect((await send('a')).status).toBe(201);
    vi.setSystemTime(t0 + 10_000);
    expect((await send('b')).status).toBe(201);
    expect(
      (await api('POST', '/v1/accounts/creator_2/messages', { idempotencyKey: 'x', body: { fanHandle: 'f', text: 't' } })).status,
    ).toBe(201);

    vi.setSystemTime(t0 + 20_000);
    const limited = await send('c');
    expect(limited).toMatchObject({ status: 429, body: { error: { code: 'rate_limited' } } });
    // The oldest delivery (t0) leaves the 60 s window at t0 + 60 s.
    expect(limited.headers.get('retry-after')).toBe('40');
    // Replays of delivered keys are answered and cost nothing.
    expect((await send('a')).status).toBe(200);

    vi.setSystemTime(t0 + 59_500);
    expect((await send('c')).headers.get('retry-after')).toBe('1');
    vi.setSystemTime(t0 + 60_000);
    expect((await send('c')).status).toBe(201);
    // Now b (t0 + 10 s) is the oldest in the window.
    vi.setSystemTime(t0 + 61_000);
    expect((await send('d')).headers.get('retry-after')).toBe('9');

    // Lowering the limit below what the window holds: a slot frees only when the newest
    // delivery that must go (c, at t0 + 60 s) leaves, not the oldest.
    await putAccount({ rateLimit: { messages: 1, perSeconds: 60 } });
    expect((await send('d')).headers.get('retry-after')).toBe('59');

    const state = await deliveries();
    expect(state.deliveries.map((d) => d.idempotencyKey)).toEqual(['a', 'b', 'c']);
    expect(state.rejectedForRate).toBe(4);
  });

  it('refuses sends to a fan who blocked the account, until unblocked', async () => {
    expect((await send('before-block', { fanHandle: 'fan_a', text: 'hi' })).status).toBe(201);
    expect((await control('POST', '/blocks', { fanHandle: 'fan_a' })).status).toBe(204);

    expect(await send('blocked', { fanHandle: 'fan_a', text: 'hi again' })).toMatchObject({
      status: 403,
      body: { error: { code: 'fan_blocked' } },
    });
    expect((await send('other-fan', { fanHandle: 'fan_b', text: 'hi' })).status).toBe(201);
    // Already delivered before the block: still answered as delivered.
    expect((await send('before-block', { fanHandle: 'fan_a', text: 'hi' })).status).toBe(200);

    expect((await control('DELETE', '/blocks/fan_a')).status).toBe(204);
    expect((await send('blocked', { fanHandle: 'fan_a', text: 'hi again' })).status).toBe(201);
    expect((await control('POST', '/blocks', {})).status).toBe(400);

    const state = await deliveries();
    expect(state.deliveries.map((d) => d.idempotencyKey)).toEqual(['before-block', 'other-fan', 'blocked']);
    expect(state.rejectedForRate).toBe(0);
  });

  it('answers 503 with Retry-After during an outage, and delivers again after it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = new Date('2030-01-01T00:00:00Z').getTime();
    vi.setSystemTime(t0);
    expect((await send('before')).status).toBe(201);
    expect((await control('POST', '/outage', { seconds: 30 })).status).toBe(204);

    const down = await send('during');
    expect(down).toMatchObject({ status: 503, body: { error: { code: 'platform_unavailable' } } });
    expect(down.headers.get('retry-after')).toBe('30');
    expect((await send('before')).status).toBe(200);
    vi.setSystemTime(t0 + 29_900);
    expect((await send('during')).headers.get('retry-after')).toBe('1');
    vi.setSystemTime(t0 + 30_000);
    expect((await send('during')).status).toBe(201);

    for (const seconds of [0, -5, 'soon', null]) expect((await control('POST', '/outage', { seconds })).status).toBe(400);
    expect((await deliveries()).deliveries).toHaveLength(2);
  });
});

describe('platform sandbox: webhooks', () => {
  beforeEach(async () => {
    expect((await putAccount()).status).toBe(200);
  });

  it('delivers injected events signed with the account secret', async () => {
    const res = await control('POST', '/events', {
      type: 'message.received',
      data: { fanHandle: 'fan_a', fanName: 'Alex', text: 'hey you' },
    });
    expect(res.status).toBe(200);
    expect(res.body.delivered).toBe(true);
    expect(res.body.eventId).toMatch(/^evt_[0-9a-f]+$/);

    expect(receiver.attempts).toHaveLength(1);
    const [attempt] = receiver.attempts;
    expect(attempt!.contentType).toBe('application/json');
    expect(verifySignature(SECRET, attempt!.body, attempt!.signature)).toBe(true);
    expect(verifySignature('another_secret', attempt!.body, attempt!.signature)).toBe(false);
    expect(verifySignature(SECRET, `${attempt!.body} `, attempt!.signature)).toBe(false);

    const event = JSON.parse(attempt!.body) as PlatformEvent;
    expect(event).toMatchObject({
      id: res.body.eventId,
      type: 'message.received',
      data: { fanHandle: 'fan_a', fanName: 'Alex', text: 'hey you' },
    });
    expect(Date.parse(event.createdAt)).not.toBeNaN();
    expect(event.data.messageId).toMatch(/^msg_/);
    expect(Date.parse(event.data.sentAt as string)).not.toBeNaN();

    await control('POST', '/events', {
      type: 'purchase.created',
      data: { fanHandle: 'fan_a', amountCents: 999, messageId: 'msg_ppv', purchasedAt: '2030-01-01T12:00:00Z' },
    });
    await control('POST', '/events', {
      type: 'subscription.created',
      data: { fanHandle: 'fan_c', tier: 'vip', amountCents: 0 },
    });
    const [, purchase, subscription] = received();
    expect(purchase).toMatchObject({
      type: 'purchase.created',
      data: { fanHandle: 'fan_a', amountCents: 999, messageId: 'msg_ppv', purchasedAt: '2030-01-01T12:00:00.000Z' },
    });
    expect(subscription).toMatchObject({ type: 'subscription.created', data: { fanHandle: 'fan_c', tier: 'vip', amountCents: 0 } });
    expect(Date.parse(subscription!.data.subscribedAt as string)).not.toBeNaN();
  });

  it('refuses malformed injected events', async () => {
    const invalid: unknown[] = [
      { type: 'message.deleted', data: { fanHandle: 'f', text: 't' } },
      { type: 'message.received', data: { text: 't' } },
      { type: 'message.received', data: { fanHandle: 'f', text: 't', sentAt: 'yesterday' } },
      { type: 'purchase.created', data: { fanHandle: 'f', amountCents: 0 } },
      { type: 'purchase.created', data: { fanHandle: 'f', amountCents: 5.5 } },
      { type: 'subscription.created', data: { fanHandle: 'f' } },
      { type: 'subscription.created', data: { fanHandle: 'f', amountCents: 100, bogus: 1 } },
      { type: 'message.received' },
    ];
    for (const body of invalid) expect((await control('POST', '/events', body)).status, JSON.stringify(body)).toBe(400);
    expect(receiver.attempts).toHaveLength(0);
    expect(
      (
        await api('POST', '/_sandbox/accounts/nobody/events', {
          key: null,
          body: { type: 'message.received', data: { fanHandle: 'f', text: 't' } },
        })
      ).status,
    ).toBe(404);
  });

  it('retries a failed webhook with the same event until it gets a 2xx', async () => {
    receiver.failures = 2;
    const res = await control('POST', '/events', { type: 'subscription.created', data: { fanHandle: 'fan_a', amountCents: 1200 } });
    expect(res.body.delivered).toBe(false);

    await eventually(() => receiver.attempts.length === 3, 'two retries');
    expect(receiver.attempts.map((a) => a.status)).toEqual([500, 500, 200]);
    // Same event, same body, each attempt validly signed.
    expect(new Set(receiver.attempts.map((a) => a.body)).size).toBe(1);
    for (const a of receiver.attempts) expect(verifySignature(SECRET, a.body, a.signature)).toBe(true);
    expect((JSON.parse(receiver.attempts[0]!.body) as PlatformEvent).id).toBe(res.body.eventId);

    // Nothing more once it got through.
    await new Promise((r) => setTimeout(r, 400));
    expect(receiver.attempts).toHaveLength(3);
  });

  it('gives up after the last retry delay', async () => {
    receiver.failures = 100;
    await control('POST', '/events', { type: 'message.received', data: { fanHandle: 'fan_a', text: 'hi' } });
    // The first attempt plus one per retry delay (50, 100, 200 ms).
    await eventually(() => receiver.attempts.length === 4, 'all attempts');
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.attempts).toHaveLength(4);
  });

  it('cancels pending retries and fan activity on close()', async () => {
    const lively = await start({ webhookRetryDelaysMs: [60_000], replyProbability: 1 });
    await putAccount(undefined, { on: lively });
    receiver.failures = 1;
    // Only setTimeout is faked, and time never advances: the count shows what is still scheduled.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    await control('POST', '/events', { type: 'message.received', data: { fanHandle: 'fan_a', text: 'hi' } }, lively);
    await send('k', undefined, { on: lively });
    const pending = vi.getTimerCount();
    running.delete(lively);
    await lively.close();
    // The retry and the fan's reply are gone; what remains is fetch's own.
    expect(vi.getTimerCount()).toBe(pending - 2);
    expect(receiver.attempts).toHaveLength(1);
  });

  it('reports an event as undelivered when the account has no webhook', async () => {
    await putAccount({}, { id: 'no_hook' });
    const res = await api<{ delivered: boolean }>('POST', '/_sandbox/accounts/no_hook/events', {
      key: null,
      body: { type: 'message.received', data: { fanHandle: 'f', text: 't' } },
    });
    expect(res).toMatchObject({ status: 200, body: { delivered: false } });
    expect(receiver.attempts).toHaveLength(0);
  });

  it('has fans reply to and buy priced messages at the configured probabilities', async () => {
    // Random draws of 0: every chance taken, and the shortest (1 s) delay.
    vi.spyOn(Math, 'random').mockReturnValue(0);

    const lively = await start({ replyProbability: 1, purchaseProbability: 1 });
    await putAccount(undefined, { on: lively });
    const ppv = await send('ppv', { fanHandle: 'fan_a', text: 'unlock me', priceCents: 2500 }, { on: lively });
    await send('free', { fanHandle: 'fan_b', text: 'hello' }, { on: lively });
    // The default sandbox has both chances at 0.
    await send('quiet', { fanHandle: 'fan_c', text: 'hello', priceCents: 500 });

    const events = await eventually(() => received().length >= 3 && received(), 'fan activity');
    await new Promise((r) => setTimeout(r, 300));
    expect(received()).toHaveLength(3);
    const replies = events.filter((e) => e.type === 'message.received');
    expect(replies.map((e) => e.data.fanHandle).sort()).toEqual(['fan_a', 'fan_b']);
    for (const reply of replies) {
      expect(reply.data.text).toEqual(expect.any(String));
      expect(reply.data.messageId).toMatch(/^msg_/);
      expect(reply.data.messageId).not.toBe(ppv.body.id);
    }
    const purchases = events.filter((e) => e.type === 'purchase.created');
    expect(purchases).toHaveLength(1);
    expect(purchases[0]!.data).toMatchObject({ fanHandle: 'fan_a', amountCents: 2500, messageId: ppv.body.id });
  });
});
