// The sandbox's wire rules: errors answered as `{error: {code, message}}`, and the validation of
// JSON bodies and path segments.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../http.js';
import type { PlatformEventType, RateLimit } from './types.js';

const MAX_BODY_BYTES = 1024 * 1024;

export const newId = (prefix: string) => prefix + randomBytes(12).toString('hex');

/** An error answered as `{error: {code, message}}`. */
export class PlatformError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const invalidRequest = (message: string) => new PlatformError(400, 'invalid_request', message);
// The connection is closed after a 413: the rest of an oversized body is not worth reading.
export const tooLarge = (message: string) => new PlatformError(413, 'payload_too_large', message, { connection: 'close' });

export type Json = Record<string, unknown>;

export function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The body as a JSON object (an empty body counts as `{}`), with no fields beyond `allowed`. */
export async function readObject(req: IncomingMessage, allowed: readonly string[], what = 'body'): Promise<Json> {
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
export function object(value: unknown, allowed: readonly string[], what: string): Json {
  if (!isRecord(value)) throw invalidRequest(`${what} must be a JSON object`);
  for (const key of Object.keys(value)) if (!allowed.includes(key)) throw invalidRequest(`Unknown field ${what}.${key}`);
  return value;
}

export function requiredString(body: Json, field: string, { nonEmpty = true } = {}): string {
  const value = body[field];
  if (typeof value !== 'string' || (nonEmpty && value === ''))
    throw invalidRequest(`${field} must be a ${nonEmpty ? 'non-empty ' : ''}string`);
  return value;
}

export function optionalString(body: Json, field: string): string | undefined {
  return body[field] === undefined ? undefined : requiredString(body, field);
}

export function integer(body: Json, field: string, min: number): number {
  const value = body[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    throw invalidRequest(`${field} must be an integer >= ${min}`);
  return value;
}

/** An ISO timestamp, normalised; now when absent. */
export function timestamp(body: Json, field: string): string {
  const value = optionalString(body, field);
  if (value === undefined) return new Date().toISOString();
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw invalidRequest(`${field} must be an ISO 8601 timestamp`);
  return new Date(ms).toISOString();
}

export function parseRateLimit(value: unknown): RateLimit {
  const limit = object(value, ['messages', 'perSeconds'], 'rateLimit');
  return { messages: integer(limit, 'messages', 1), perSeconds: integer(limit, 'perSeconds', 1) };
}

export function parseWebhookUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidRequest('webhookUrl must be an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalidRequest('webhookUrl must be http(s)');
  return value;
}

export function parseMessage(body: Json) {
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
export function parseEventData(type: unknown, value: unknown): { type: PlatformEventType; data: Json } {
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

export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalidRequest(`Malformed percent-encoding in ${segment}`);
  }
}

export function noContent(res: ServerResponse) {
  res.writeHead(204);
  res.end();
}
