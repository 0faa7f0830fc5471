// The Stripe v1 wire protocol as the stand-in speaks it: errors in Stripe's JSON shape (so the SDK
// raises its typed errors), form-encoded bodies with bracketed keys, API keys, webhook signatures.
import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { now } from './state.js';

/** An error answered as Stripe's `{error: {type, code, message, param}}`; the SDK picks its class from status and type. */
export class StripeApiError extends Error {
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
