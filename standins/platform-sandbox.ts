// Local stand-in for a fan platform (an OnlyFans-like "sandbox"), for dev and tests. Creators'
// accounts are registered with PUT /v1/accounts/:id (Bearer API key); messages are sent with
// POST /v1/accounts/:id/messages under an Idempotency-Key, with the platform's failure modes
// played for real: a per-account sliding-window rate limit (429 + Retry-After), fans who blocked
// the creator (403) and outages (503 + Retry-After). Fans answer back through signed webhooks
// (message.received, purchase.created, subscription.created), retried until a 2xx. Dev/test
// control endpoints live under /_sandbox/ (no auth). State is in memory only.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { safeEqual } from '../lib/crypto.js';
import type { Logger } from '../lib/logger.js';
import { SIGNATURE_HEADER, signPayload } from '../integrations/platforms/signature.js';
import { listen, readBody, sendJson } from './http.js';

export interface RateLimit {
  messages: number;
  perSeconds: number;
}

export interface PlatformSandboxOptions {
  /** 0 picks a free port; the returned url has the actual one. */
  port: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  logger?: Logger;
  /** An account's limit until its PUT sets one; defaults to 10 messages per 60 seconds. */
  defaultRateLimit?: RateLimit;
  /** Chance that a fan replies (message.received) 1–5 s after a delivery; defaults to 0. */
  replyProbability?: number;
  /** Chance that a fan buys a priced (PPV) message (purchase.created) 1–5 s after delivery; defaults to 0. */
  purchaseProbability?: number;
  /** Waits before each webhook retry; one more attempt than entries. Defaults to [1000, 5000, 30000]. */
  webhookRetryDelaysMs?: number[];
}

export interface PlatformSandbox {
  url: string;
  close(): Promise<void>;
}

/** One delivered message, as GET /_sandbox/accounts/:id/deliveries shows it. */
export interface Delivery {
  idempotencyKey: string;
  messageId: string;
  fanHandle: string;
  text: string;
  priceCents: number;
  mediaUrls: string[];
  deliveredAt: string;
  /** Sends with this idempotency key: the delivery plus its replays. */
  requests: number;
}

export type PlatformEventType = 'message.received' | 'purchase.created' | 'subscription.created';

export interface PlatformEvent {
  id: string;
  type: PlatformEventType;
  createdAt: string;
  data: Record<string, unknown>;
}

const MAX_BODY_BYTES = 1024 * 1024;
const DEFAULT_RATE_LIMIT: RateLimit = { messages: 10, perSeconds: 60 };
const DEFAULT_RETRY_DELAYS_MS = [1_000, 5_000, 30_000];
const WEBHOOK_TIMEOUT_MS = 10_000;
const ACCOUNT_ID = /^[A-Za-z0-9_-]{1,100}$/;
const FAN_REPLIES = ['thanks!', 'love it', 'omg yes 😍', 'you made my day', 'more please!', 'so cute'];

const newId = (prefix: string) => prefix + randomBytes(12).toString('hex');

// ---------------------------------------------------------------- errors

/** An error answered as `{error: {code, message}}`. */
class PlatformError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const invalidRequest = (message: string) => new PlatformError(400, 'invalid_request', message);
// The connection is closed after a 413: the rest of an oversized body is not worth reading.
const tooLarge = (message: string) => new PlatformError(413, 'payload_too_large', message, { connection: 'close' });

// ---------------------------------------------------------------- validation

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The body as a JSON object (an empty body counts as `{}`), with no fields beyond `allowed`. */
async function readObject(req: IncomingMessage, allowed: readonly string[], what = 'body'): Promise<Json> {
  const raw = await readBody(req, MAX_BODY_BYTES, tooLarge);
  let body: unknown;
  try {
    body = raw.trim() === '' ? {} : JSON.parse(raw);
  } catch {
    throw invalidRequest('Request body is not valid JSON');
  }
  return object(body, allowed, what);
}

/** Unknown fields are refused rather than ignored, so a misspelt field fails loudly. */
function object(value: unknown, allowed: readonly string[], what: string): Json {
  if (!isRecord(value)) throw invalidRequest(`${what} must be a JSON object`);
  for (const key of Object.keys(value)) if (!allowed.includes(key)) throw invalidRequest(`Unknown field ${what}.${key}`);
  return value;
}

function requiredString(body: Json, field: string, { nonEmpty = true } = {}): string {
  const value = body[field];
  if (typeof value !== 'string' || (nonEmpty && value === ''))
    throw invalidRequest(`${field} must be a ${nonEmpty ? 'non-empty ' : ''}string`);
  return value;
}

function optionalString(body: Json, field: string): string | undefined {
  return body[field] === undefined ? undefined : requiredString(body, field);
}

function integer(body: Json, field: string, min: number): number {
  const value = body[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    throw invalidRequest(`${field} must be an integer >= ${min}`);
  return value;
}

/** An ISO timestamp, normalised; now when absent. */
function timestamp(body: Json, field: string): string {
  const value = optionalString(body, field);
  if (value === undefined) return new Date().toISOString();
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw invalidRequest(`${field} must be an ISO 8601 timestamp`);
  return new Date(ms).toISOString();
}

function parseRateLimit(value: unknown): RateLimit {
  const limit = object(value, ['messages', 'perSeconds'], 'rateLimit');
  return { messages: integer(limit, 'messages', 1), perSeconds: integer(limit, 'perSeconds', 1) };
}

function parseWebhookUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidRequest('webhookUrl must be an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalidRequest('webhookUrl must be http(s)');
  return value;
}

function parseMessage(body: Json) {
  const mediaUrls = body.mediaUrls ?? [];
  if (!Array.isArray(mediaUrls) || !mediaUrls.every((u) => typeof u === 'string'))
    throw invalidRequest('mediaUrls must be an array of strings');
  return {
    fanHandle: requiredString(body, 'fanHandle'),
    text: requiredString(body, 'text', { nonEmpty: false }),
    priceCents: body.priceCents === undefined ? 0 : integer(body, 'priceCents', 0),
    mediaUrls: mediaUrls as string[],
  };
}

/** The `data` of an injected event; the generated fields (message id, timestamps) may be given. */
function parseEventData(type: unknown, value: unknown): { type: PlatformEventType; data: Json } {
  switch (type) {
    case 'message.received': {
      const data = object(value, ['fanHandle', 'fanName', 'text', 'messageId', 'sentAt'], 'data');
      return {
        type,
        data: {
          fanHandle: requiredString(data, 'fanHandle'),
          fanName: optionalString(data, 'fanName'),
          text: requiredString(data, 'text', { nonEmpty: false }),
          messageId: optionalString(data, 'messageId') ?? newId('msg_'),
          sentAt: timestamp(data, 'sentAt'),
        },
      };
    }
    case 'purchase.created': {
      const data = object(value, ['fanHandle', 'amountCents', 'messageId', 'purchasedAt'], 'data');
      return {
        type,
        data: {
          fanHandle: requiredString(data, 'fanHandle'),
          amountCents: integer(data, 'amountCents', 1),
          messageId: optionalString(data, 'messageId'),
          purchasedAt: timestamp(data, 'purchasedAt'),
        },
      };
    }
    case 'subscription.created': {
      const data = object(value, ['fanHandle', 'fanName', 'tier', 'amountCents', 'subscribedAt'], 'data');
      return {
        type,
        data: {
          fanHandle: requiredString(data, 'fanHandle'),
          fanName: optionalString(data, 'fanName'),
          tier: optionalString(data, 'tier'),
          // Free subscriptions are a thing on fan platforms.
          amountCents: integer(data, 'amountCents', 0),
          subscribedAt: timestamp(data, 'subscribedAt'),
        },
      };
    }
    default:
      throw invalidRequest('type must be one of message.received, purchase.created, subscription.created');
  }
}

// ---------------------------------------------------------------- state

interface Account {
  id: string;
  apiKey: string;
  webhookUrl?: string;
  webhookSecret?: string;
  rateLimit: RateLimit;
  /** Oldest first; the rate-limit window is read off its tail. */
  deliveries: Delivery[];
  byIdempotencyKey: Map<string, Delivery>;
  rejectedForRate: number;
  blockedFans: Set<string>;
  /** Epoch ms until which sends answer 503; 0 when up. */
  outageUntil: number;
}

/** Whole seconds until `untilMs`, at least 1 (Retry-After: 0 would invite a hot loop). */
const secondsUntil = (untilMs: number) => String(Math.max(1, Math.ceil((untilMs - Date.now()) / 1000)));

/** Epoch ms at which a send would fit the account's window again, or undefined when it fits now. */
function rateLimitedUntil(account: Account): number | undefined {
  const { messages, perSeconds } = account.rateLimit;
  const windowMs = perSeconds * 1000;
  const since = Date.now() - windowMs;
  const inWindow: number[] = []; // newest first
  for (let i = account.deliveries.length - 1; i >= 0; i--) {
    const at = Date.parse(account.deliveries[i]!.deliveredAt);
    if (at <= since) break;
    inWindow.push(at);
  }
  if (inWindow.length < messages) return undefined;
  // A send fits once only messages-1 deliveries remain in the window, i.e. when the messages-th
  // newest leaves it. That is the oldest one unless a PUT lowered the limit below what was sent.
  return inWindow[messages - 1]! + windowMs;
}

/** The 201 body of a delivery, which its replays repeat. */
const sendResult = (d: Delivery) => ({ id: d.messageId, fanHandle: d.fanHandle, deliveredAt: d.deliveredAt });

// ---------------------------------------------------------------- the server

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[]) => Promise<void> | void;

export async function startPlatformSandbox(opts: PlatformSandboxOptions): Promise<PlatformSandbox> {
  const { logger } = opts;
  const host = opts.host ?? '127.0.0.1';
  const defaultRateLimit = opts.defaultRateLimit ?? DEFAULT_RATE_LIMIT;
  const replyProbability = opts.replyProbability ?? 0;
  const purchaseProbability = opts.purchaseProbability ?? 0;
  const retryDelays = opts.webhookRetryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const accounts = new Map<string, Account>();

  // ------------------------------------------------ background work

  let closing = false;
  const stopWebhooks = new AbortController();
  const timers = new Set<NodeJS.Timeout>();
  const inFlight = new Set<Promise<unknown>>();

  /** Runs `task` after `delayMs` unless close() comes first; close() waits for it once started. */
  function later(delayMs: number, task: () => Promise<unknown>) {
    if (closing) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const running = task()
        .catch((err: unknown) => logger?.error({ err }, 'platform sandbox background task failed'))
        .finally(() => inFlight.delete(running));
      inFlight.add(running);
    }, delayMs);
    timers.add(timer);
  }

  /**
   * POSTs `event` to the account's webhook and resolves with whether that first attempt got a 2xx;
   * failures are retried in the background after each of the retry delays. Every attempt carries the
   * same body and is signed afresh, so its timestamp stays within the receiver's tolerance.
   */
  function emit(account: Account, type: PlatformEventType, data: Json): { eventId: string; delivered: Promise<boolean> } {
    const event: PlatformEvent = { id: newId('evt_'), type, createdAt: new Date().toISOString(), data };
    const body = JSON.stringify(event);
    const log = { accountId: account.id, eventId: event.id, type };

    const attempt = async (retries: number): Promise<boolean> => {
      // Read at each attempt: a PUT may have moved the endpoint or rotated the secret meanwhile.
      const { webhookUrl, webhookSecret } = account;
      if (!webhookUrl || !webhookSecret) {
        logger?.debug(log, 'platform sandbox has no webhook for the account; event dropped');
        return false;
      }
      let failure: string;
      try {
        const response = await fetch(webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signPayload(webhookSecret, body) },
          body,
          signal: AbortSignal.any([stopWebhooks.signal, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS)]),
        });
        await response.arrayBuffer().catch(() => undefined);
        if (response.ok) {
          logger?.info({ ...log, retries }, 'platform sandbox delivered webhook');
          return true;
        }
        failure = `HTTP ${response.status}`;
      } catch (err) {
        if (closing) return false;
        failure = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      }
      const delay = retryDelays[retries];
      if (delay === undefined) {
        logger?.warn({ ...log, failure, retries }, 'platform sandbox gave up on webhook');
      } else {
        logger?.warn({ ...log, failure, retries, retryInMs: delay }, 'platform sandbox webhook failed; will retry');
        later(delay, () => attempt(retries + 1));
      }
      return false;
    };
    return { eventId: event.id, delivered: attempt(0) };
  }

  /** Fans react to a delivery now and then, as they would on the real platform. */
  function simulateFans(account: Account, delivery: Delivery) {
    const fanDelay = () => 1_000 + Math.random() * 4_000;
    if (Math.random() < replyProbability) {
      later(
        fanDelay(),
        () =>
          emit(account, 'message.received', {
            fanHandle: delivery.fanHandle,
            text: FAN_REPLIES[Math.floor(Math.random() * FAN_REPLIES.length)]!,
            messageId: newId('msg_'),
            sentAt: new Date().toISOString(),
          }).delivered,
      );
    }
    if (delivery.priceCents > 0 && Math.random() < purchaseProbability) {
      later(
        fanDelay(),
        () =>
          emit(account, 'purchase.created', {
            fanHandle: delivery.fanHandle,
            amountCents: delivery.priceCents,
            messageId: delivery.messageId,
            purchasedAt: new Date().toISOString(),
          }).delivered,
      );
    }
  }

  // ------------------------------------------------ accounts and auth

  function accountId(raw: string): string {
    if (!ACCOUNT_ID.test(raw)) throw invalidRequest('Account ids are 1-100 characters of A-Z, a-z, 0-9, _ and -');
    return raw;
  }

  function existingAccount(rawId: string): Account {
    const id = accountId(rawId);
    const account = accounts.get(id);
    if (!account) throw new PlatformError(404, 'account_not_found', `No account ${id}`);
    return account;
  }

  function bearerKey(req: IncomingMessage): string {
    const key = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!key) throw new PlatformError(401, 'invalid_api_key', 'Authorization: Bearer <api key> is required');
    return key;
  }

  function checkKey(account: Account, key: string) {
    if (!safeEqual(key, account.apiKey))
      throw new PlatformError(401, 'invalid_api_key', `The API key is not the one account ${account.id} was created with`);
  }

  function authorizedAccount(req: IncomingMessage, rawId: string): Account {
    const account = existingAccount(rawId);
    checkKey(account, bearerKey(req));
    return account;
  }

  // ------------------------------------------------ API (v1)

  async function putAccount(req: IncomingMessage, res: ServerResponse, [rawId]: string[]) {
    const id = accountId(rawId!);
    const key = bearerKey(req);
    const body = await readObject(req, ['webhookUrl', 'webhookSecret', 'rateLimit']);
    const webhookUrl = body.webhookUrl === undefined ? undefined : parseWebhookUrl(requiredString(body, 'webhookUrl'));
    const webhookSecret = optionalString(body, 'webhookSecret');
    const rateLimit = body.rateLimit === undefined ? undefined : parseRateLimit(body.rateLimit);

    // Looked up only after the body is read: nothing awaits from here, so two concurrent first
    // PUTs cannot both create the account.
    let account = accounts.get(id);
    if (account) checkKey(account, key);
    // Webhooks are always signed, so an endpoint without a secret would be unusable.
    if ((webhookUrl ?? account?.webhookUrl) && !(webhookSecret ?? account?.webhookSecret))
      throw invalidRequest('webhookSecret is required with webhookUrl');
    if (!account) {
      account = {
        id,
        apiKey: key,
        rateLimit: { ...defaultRateLimit },
        deliveries: [],
        byIdempotencyKey: new Map(),
        rejectedForRate: 0,
        blockedFans: new Set(),
        outageUntil: 0,
      };
      accounts.set(id, account);
      logger?.info({ accountId: id }, 'platform sandbox created account');
    }
    if (webhookUrl !== undefined) account.webhookUrl = webhookUrl;
    if (webhookSecret !== undefined) account.webhookSecret = webhookSecret;
    if (rateLimit) account.rateLimit = rateLimit;
    sendJson(res, 200, { id, webhookUrl: account.webhookUrl ?? null, rateLimit: account.rateLimit });
  }

  async function sendMessage(req: IncomingMessage, res: ServerResponse, [rawId]: string[]) {
    const account = authorizedAccount(req, rawId!);
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || key.length < 1 || key.length > 255)
      throw new PlatformError(400, 'idempotency_key_required', 'An Idempotency-Key header of 1-255 characters is required');
    const message = parseMessage(await readObject(req, ['fanHandle', 'text', 'priceCents', 'mediaUrls']));

    // Nothing below awaits, so concurrent sends with one key cannot both deliver.
    const prior = account.byIdempotencyKey.get(key);
    if (prior) {
      // Already delivered: answered whatever the platform's state now, and free of the rate limit.
      prior.requests += 1;
      logger?.debug({ accountId: account.id, idempotencyKey: key }, 'platform sandbox replayed send');
      return sendJson(res, 200, sendResult(prior), { 'idempotent-replayed': 'true' });
    }
    if (Date.now() < account.outageUntil)
      throw new PlatformError(503, 'platform_unavailable', 'The platform is temporarily unavailable', {
        'retry-after': secondsUntil(account.outageUntil),
      });
    if (account.blockedFans.has(message.fanHandle))
      throw new PlatformError(403, 'fan_blocked', `${message.fanHandle} has blocked this account`);
    const limitedUntil = rateLimitedUntil(account);
    if (limitedUntil !== undefined) {
      account.rejectedForRate += 1;
      const { messages, perSeconds } = account.rateLimit;
      throw new PlatformError(429, 'rate_limited', `At most ${messages} messages per ${perSeconds} s`, {
        'retry-after': secondsUntil(limitedUntil),
      });
    }

    const delivery: Delivery = {
      idempotencyKey: key,
      messageId: newId('msg_'),
      ...message,
      deliveredAt: new Date().toISOString(),
      requests: 1,
    };
    account.deliveries.push(delivery);
    account.byIdempotencyKey.set(key, delivery);
    logger?.info(
      { accountId: account.id, messageId: delivery.messageId, fanHandle: delivery.fanHandle },
      'platform sandbox delivered message',
    );
    sendJson(res, 201, sendResult(delivery));
    simulateFans(account, delivery);
  }

  // ------------------------------------------------ control endpoints

  async function injectEvent(req: IncomingMessage, res: ServerResponse, [rawId]: string[]) {
    const account = existingAccount(rawId!);
    const body = await readObject(req, ['type', 'data']);
    const { type, data } = parseEventData(body.type, body.data);
    const { eventId, delivered } = emit(account, type, data);
    sendJson(res, 200, { eventId, delivered: await delivered });
  }

  async function block(req: IncomingMessage, res: ServerResponse, [rawId]: string[]) {
    const account = existingAccount(rawId!);
    const fanHandle = requiredString(await readObject(req, ['fanHandle']), 'fanHandle');
    account.blockedFans.add(fanHandle);
    noContent(res);
  }

  function unblock(_req: IncomingMessage, res: ServerResponse, [rawId, fanHandle]: string[]) {
    existingAccount(rawId!).blockedFans.delete(fanHandle!);
    noContent(res);
  }

  async function outage(req: IncomingMessage, res: ServerResponse, [rawId]: string[]) {
    const account = existingAccount(rawId!);
    const { seconds } = await readObject(req, ['seconds']);
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) throw invalidRequest('seconds must be a number > 0');
    account.outageUntil = Date.now() + seconds * 1000;
    noContent(res);
  }

  function deliveries(_req: IncomingMessage, res: ServerResponse, [rawId]: string[]) {
    const account = existingAccount(rawId!);
    sendJson(res, 200, { deliveries: account.deliveries, rejectedForRate: account.rejectedForRate });
  }

  // ------------------------------------------------ routing

  const routes: [RegExp, Record<string, Handler>][] = [
    [/^\/health$/, { GET: (_req, res) => sendJson(res, 200, { status: 'ok' }) }],
    [/^\/v1\/accounts\/([^/]+)$/, { PUT: putAccount }],
    [/^\/v1\/accounts\/([^/]+)\/messages$/, { POST: sendMessage }],
    [/^\/_sandbox\/accounts\/([^/]+)\/events$/, { POST: injectEvent }],
    [/^\/_sandbox\/accounts\/([^/]+)\/blocks$/, { POST: block }],
    [/^\/_sandbox\/accounts\/([^/]+)\/blocks\/([^/]+)$/, { DELETE: unblock }],
    [/^\/_sandbox\/accounts\/([^/]+)\/outage$/, { POST: outage }],
    [/^\/_sandbox\/accounts\/([^/]+)\/deliveries$/, { GET: deliveries }],
  ];

  function route(req: IncomingMessage, res: ServerResponse) {
    // The raw path, not new URL(): a malformed request target must not throw outside the handler.
    const path = (req.url ?? '/').split('?', 1)[0]!;
    for (const [pattern, methods] of routes) {
      const match = pattern.exec(path);
      if (!match) continue;
      const handler = methods[req.method ?? ''];
      if (!handler)
        throw new PlatformError(405, 'method_not_allowed', `${req.method} is not allowed on ${path}`, {
          allow: Object.keys(methods).join(', '),
        });
      return handler(req, res, match.slice(1).map(decodeSegment));
    }
    throw new PlatformError(404, 'not_found', `No route for ${req.method} ${path}`);
  }

  const server = createServer((req, res) => {
    Promise.resolve()
      .then(() => route(req, res))
      .catch((err: unknown) => {
        const error = err instanceof PlatformError ? err : new PlatformError(500, 'internal_error', 'The platform sandbox failed');
        if (!(err instanceof PlatformError)) logger?.error({ err }, 'platform sandbox failed');
        else logger?.debug({ url: req.url, code: error.code, message: error.message }, 'platform sandbox rejected request');
        if (res.headersSent) return res.destroy();
        sendJson(res, error.status, { error: { code: error.code, message: error.message } }, error.headers);
      });
  });

  const url = await listen(server, opts.port, host);

  return {
    url,
    async close() {
      closing = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      stopWebhooks.abort();
      await Promise.allSettled([...inFlight]);
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Clients keep connections alive; drop the idle ones so close() doesn't wait on them.
        server.closeIdleConnections();
      });
    },
  };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalidRequest(`Malformed percent-encoding in ${segment}`);
  }
}

function noContent(res: ServerResponse) {
  res.writeHead(204);
  res.end();
}
