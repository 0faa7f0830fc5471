// The Stripe v1 wire protocol as the stand-in speaks it: errors in Stripe's JSON shape (so the SDK
// raises its typed errors), form-encoded bodies with bracketed keys, API keys, webhook signatures.
import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type Stripe from 'stripe';
import { now, type State } from './state.js';

/** An error answered as Stripe's `{error: {type, code, message, param}}`; the SDK picks its class from status and type. */
export class StripeApiError extends Error {
  /**
   * Raised after the endpoint started executing (balance_insufficient, say) rather than by validation:
   * Stripe saves such an answer under the request's Idempotency-Key and replays it to retries.
   */
  executed = false;

  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
  }

  toJSON() {
    const docUrl = this.code ? `https://stripe.com/docs/error-codes/${this.code.replaceAll('_', '-')}` : undefined;
    return {
      error: { type: this.type, code: this.code, doc_url: docUrl, message: this.message, param: this.param },
    };
  }
}

export const invalidRequest = (message: string, param?: string, code?: string) =>
  new StripeApiError(400, 'invalid_request_error', message, code, param);
export const missingParam = (param: string) => invalidRequest(`Missing required param: ${param}.`, param, 'parameter_missing');
export const unknownParam = (param: string) => invalidRequest(`Received unknown parameter: ${param}`, param, 'parameter_unknown');
/** A referenced object that does not exist: 400 for a parameter, 404 for the object in the path (param `id`). */
export const noSuch = (noun: string, id: string, param = 'id') =>
  new StripeApiError(param === 'id' ? 404 : 400, 'invalid_request_error', `No such ${noun}: '${id}'`, 'resource_missing', param);

export interface ApiContext {
  params: FormParams;
  apiKey: string;
  /** The Stripe-Account header (already checked): the request acts as that connected account. */
  stripeAccount: string | undefined;
  match: RegExpExecArray;
  requestId: string;
  idempotencyKey: string | undefined;
  /** Events the handler recorded, delivered once the change is saved. */
  deliver: State['events'];
}
export type ApiRoute = [method: string, pattern: RegExp, handler: (ctx: ApiContext) => unknown];

/** Stripe shows keys as sk_test_****abcd in errors. */
export const redactKey = (key: string) => `${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`;

export const noAccess = (key: string, accountId: string) =>
  new StripeApiError(
    403,
    'invalid_request_error',
    `The provided key '${redactKey(key)}' does not have access to account '${accountId}' (or that account does not exist). ` +
      'Application access may have been revoked.',
    'account_invalid',
  );

export type FormValue = string | FormValue[] | FormParams;
export interface FormParams {
  [key: string]: FormValue;
}

export const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Parses `a[b][0]=x&c=y` into nested objects/arrays, the encoding the Stripe SDK (and qs) produce. */
export function parseForm(body: string): FormParams {
  const root: FormParams = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(rawKey);
    if (!m) throw invalidRequest(`Invalid parameter name: ${rawKey}`, rawKey);
    const keys = [m[1]!, ...[...m[2]!.matchAll(/\[([^[\]]*)\]/g)].map((k) => k[1]!)];
    if (keys.some((k) => FORBIDDEN_KEYS.has(k))) throw unknownParam(rawKey);
    let node: Record<string, FormValue> = root;
    for (let i = 0; i < keys.length; i++) {
      let key = keys[i]!;
      if (Array.isArray(node)) {
        if (!/^\d*$/.test(key)) throw invalidRequest(`Invalid array parameter: ${rawKey}`, rawKey);
        if (key === '') key = String(node.length); // a[]=x appends
      }
      if (i === keys.length - 1) {
        node[key] = value;
        break;
      }
      // The next segment decides the container: a[0] / a[] make arrays, a[b] objects.
      const wantArray = /^\d*$/.test(keys[i + 1]!);
      const next = (node[key] ??= wantArray ? [] : {});
      if (typeof next === 'string' || Array.isArray(next) !== wantArray)
        throw invalidRequest(`Invalid parameter structure for ${rawKey}`, rawKey);
      node = next as Record<string, FormValue>;
    }
  }
  return root;
}

/** Order-independent fingerprint of parameters, for matching idempotent retries. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value ?? null);
}

export function isParams(value: FormValue | undefined): value is FormParams {
  return typeof value === 'object' && !Array.isArray(value);
}

export function optionalString(params: FormParams, name: string): string | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidRequest(`Invalid string: ${name} must be a string`, name);
  return value;
}

export function requiredString(params: FormParams, name: string): string {
  const value = optionalString(params, name);
  if (value === undefined || value === '') throw missingParam(name);
  return value;
}

/** An integer parameter within [min, max], with Stripe's messages. */
export function optionalInteger(params: FormParams, name: string, min: number, max: number): number | undefined {
  const value = optionalString(params, name);
  if (value === undefined) return undefined;
  if (!/^-?\d{1,16}$/.test(value)) throw invalidRequest(`Invalid integer: ${value}`, name);
  const n = Number(value);
  if (n < min) throw invalidRequest(`This value must be greater than or equal to ${min}.`, name);
  if (n > max) throw invalidRequest(`This value must be less than or equal to ${max}.`, name);
  return n;
}

/** A three-letter currency code, lowercased as Stripe answers it. */
export function requiredCurrency(params: FormParams, name = 'currency'): string {
  const value = requiredString(params, name).toLowerCase();
  if (!/^[a-z]{3}$/.test(value)) throw invalidRequest(`Invalid currency: ${value}.`, name);
  return value;
}

/**
 * One page of a Stripe list, `items` newest first: `limit` (1–100, default 10), cursors `starting_after`
 * (the next older page) and `ending_before` (the page just newer than that object).
 */
export function listPage<T extends { id: string }>(items: T[], params: FormParams, url: string, noun: string): Stripe.ApiList<T> {
  const limit = optionalInteger(params, 'limit', 1, 100) ?? 10;
  const after = optionalString(params, 'starting_after');
  const before = optionalString(params, 'ending_before');
  if (after && before) throw invalidRequest('You may only specify one of these parameters: ending_before, starting_after.');
  const cursor = after ?? before;
  const at = cursor === undefined ? -1 : items.findIndex((item) => item.id === cursor);
  if (cursor !== undefined && at < 0) throw noSuch(noun, cursor, after ? 'starting_after' : 'ending_before');
  if (before !== undefined) {
    const start = Math.max(0, at - limit);
    return { object: 'list', data: items.slice(start, at), has_more: start > 0, url };
  }
  const data = items.slice(at + 1, at + 1 + limit);
  return { object: 'list', data, has_more: at + 1 + limit < items.length, url };
}

/** `created` as Stripe takes it on lists: a timestamp, or a range with gt / gte / lt / lte. */
export function createdFilter(params: FormParams): (created: number) => boolean {
  const value = params.created;
  if (value === undefined) return () => true;
  const bound = (raw: unknown, name: string) => {
    if (typeof raw !== 'string' || !/^\d{1,12}$/.test(raw)) throw invalidRequest(`Invalid integer: ${String(raw)}`, name);
    return Number(raw);
  };
  if (!isParams(value)) {
    const at = bound(value, 'created');
    return (created) => created === at;
  }
  for (const op of Object.keys(value)) if (!['gt', 'gte', 'lt', 'lte'].includes(op)) throw unknownParam(`created[${op}]`);
  const limits = Object.entries(value).map(([op, raw]) => [op, bound(raw, `created[${op}]`)] as const);
  return (created) =>
    limits.every(([op, n]) => (op === 'gt' ? created > n : op === 'gte' ? created >= n : op === 'lt' ? created < n : created <= n));
}

export function rejectUnknown(params: FormParams, allowed: readonly string[]) {
  for (const key of Object.keys(params)) if (!allowed.includes(key)) throw unknownParam(key);
}

export function validUrl(params: FormParams, name: string): string {
  const value = optionalString(params, name);
  if (value === undefined || value === '') throw missingParam(name);
  let parsed: URL | undefined;
  try {
    parsed = new URL(value);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !['http:', 'https:'].includes(parsed.protocol)) throw invalidRequest('Not a valid URL', name, 'url_invalid');
  return value;
}

/** The secret key from `Authorization: Bearer …` (or Basic with the key as user), else Stripe's 401. */
export function authenticate(req: IncomingMessage): string {
  const header = req.headers.authorization ?? '';
  const [scheme, credentials = ''] = header.split(' ', 2);
  let key: string | undefined;
  if (scheme?.toLowerCase() === 'bearer') key = credentials.trim();
  else if (scheme?.toLowerCase() === 'basic') key = Buffer.from(credentials, 'base64').toString('utf8').split(':')[0];
  if (!key)
    throw new StripeApiError(
      401,
      'invalid_request_error',
      'You did not provide an API key. You need to provide your API key in the Authorization header, ' +
        "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
    );
  // The stand-in is test mode only: live or malformed keys are refused like an unknown key.
  if (!/^(sk|rk)_test_[A-Za-z0-9_]{8,}$/.test(key))
    throw new StripeApiError(401, 'invalid_request_error', `Invalid API Key provided: ${redactKey(key)}`, 'api_key_invalid');
  return key;
}

export function signatureHeader(payload: string, secret: string, timestamp = now()): string {
  const signature = createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${signature}`;
}
