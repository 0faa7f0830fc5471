// Local stand-in for Stripe Connect (Express accounts), for dev and tests. It speaks
// Stripe's v1 wire protocol as the official `stripe` SDK sends it (Bearer auth,
// form-encoded bodies with bracketed keys, Idempotency-Key, Stripe-Account) and
// answers errors in Stripe's JSON shape so the SDK raises its typed errors.
// It also plays Stripe's hosted onboarding page (/connect/onboarding/<link>) and
// sends signed webhooks (account.updated, capability.updated,
// account.application.deauthorized). State is a JSON snapshot so restarts keep it.
// Dev/test control endpoints live under /_standin/ (no auth).
import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import Stripe from 'stripe';
import type { Logger } from '../lib/logger.js';
import { listen, readBody, sendJson } from './http.js';

export interface StripeStandinOptions {
  /** 0 picks a free port; the returned url has the actual one. */
  port: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** JSON snapshot of all state, rewritten (atomically) after every change and reloaded on start. */
  stateFile?: string;
  /** Where webhook events are POSTed; without it events are only recorded. */
  webhookUrl?: string;
  /** Signs webhooks exactly as Stripe does (Stripe-Signature: t=…,v1=HMAC-SHA256). */
  webhookSecret: string;
  /** Base of the onboarding/dashboard URLs handed out; defaults to the stand-in's own url. */
  publicUrl?: string;
  /** Waits between webhook delivery attempts; one more attempt than entries. */
  webhookRetryDelaysMs?: number[];
  logger?: Logger;
}

export interface StripeStandin {
  url: string;
  close(): Promise<void>;
  /** Finishes KYC: all three flags true, nothing due, capabilities active; sends account.updated. */
  complete(accountId: string): Promise<void>;
  /** Disables charges and payouts with requirements.disabled_reason = reason; sends account.updated. */
  restrict(accountId: string, reason: string): Promise<void>;
  /** The account revokes the platform's access; sends account.application.deauthorized. */
  deauthorize(accountId: string): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;
const LINK_TTL_SECONDS = 300; // Stripe's account links expire after five minutes
const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000; // Stripe keeps keys for 24 hours
const DEFAULT_RETRY_DELAYS_MS = [500, 2_000, 5_000, 15_000];
const WEBHOOK_TIMEOUT_MS = 10_000;
const API_VERSION = Stripe.API_VERSION;

// ---------------------------------------------------------------- errors

/** An error answered as Stripe's `{error: {type, code, message, param}}`; the SDK picks its class from status and type. */
class StripeApiError extends Error {
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

const invalidRequest = (message: string, param?: string, code?: string) =>
  new StripeApiError(400, 'invalid_request_error', message, code, param);
const missingParam = (param: string) => invalidRequest(`Missing required param: ${param}.`, param, 'parameter_missing');
const unknownParam = (param: string) => invalidRequest(`Received unknown parameter: ${param}`, param, 'parameter_unknown');

/** Stripe shows keys as sk_test_****abcd in errors. */
const redactKey = (key: string) => `${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`;

const noAccess = (key: string, accountId: string) =>
  new StripeApiError(
    403,
    'invalid_request_error',
    `The provided key '${redactKey(key)}' does not have access to account '${accountId}' (or that account does not exist). Application access may have been revoked.`,
    'account_invalid',
  );

// ---------------------------------------------------------------- form bodies

type FormValue = string | FormValue[] | FormParams;
interface FormParams {
  [key: string]: FormValue;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Parses `a[b][0]=x&c=y` into nested objects/arrays, the encoding the Stripe SDK (and qs) produce. */
function parseForm(body: string): FormParams {
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
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value ?? null);
}

function isParams(value: FormValue | undefined): value is FormParams {
  return typeof value === 'object' && !Array.isArray(value);
}

function optionalString(params: FormParams, name: string): string | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidRequest(`Invalid string: ${name} must be a string`, name);
  return value;
}

function rejectUnknown(params: FormParams, allowed: readonly string[]) {
  for (const key of Object.keys(params)) if (!allowed.includes(key)) throw unknownParam(key);
}

function validUrl(params: FormParams, name: string): string {
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

// ---------------------------------------------------------------- state

interface StoredAccount {
  account: Stripe.Account;
  /** The account revoked the platform's access: API calls for it fail from then on. */
  deauthorized: boolean;
}

interface StoredLink {
  id: string;
  account: string;
  type: string;
  returnUrl: string;
  refreshUrl: string;
  created: number;
  expiresAt: number;
  /** Links are single use: the first visit consumes them. */
  visited: boolean;
  /** Ties the form post to the visit that rendered it. */
  session?: string;
  submitted: boolean;
}

interface IdempotencyRecord {
  method: string;
  path: string;
  fingerprint: string;
  body: unknown;
  requestId: string;
  createdAt: number;
}

export interface StandinEvent {
  id: string;
  object: 'event';
  account: string;
  api_version: string;
  created: number;
  data: { object: unknown; previous_attributes?: Record<string, unknown> };
  livemode: false;
  pending_webhooks: number;
  request: { id: null; idempotency_key: null };
  type: string;
}

export interface EventDelivery {
  status: 'pending' | 'delivered' | 'failed' | 'no_endpoint';
  attempts: number;
  lastStatus?: number;
  lastError?: string;
  deliveredAt?: number;
}

interface State {
  version: 1;
  /** The platform's Connect application, as named in deauthorization events. */
  applicationId: string;
  /** Successful POST /v1/accounts (idempotent replays excluded). */
  accountCreations: number;
  accounts: Record<string, StoredAccount>;
  links: Record<string, StoredLink>;
  idempotency: Record<string, IdempotencyRecord>;
  events: { event: StandinEvent; delivery: EventDelivery }[];
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function randomId(prefix: string, length = 16): string {
  return prefix + [...randomBytes(length)].map((b) => BASE62[b % 62]).join('');
}
const now = () => Math.floor(Date.now() / 1000);

function freshState(): State {
  return {
    version: 1,
    applicationId: randomId('ca_', 24),
    accountCreations: 0,
    accounts: {},
    links: {},
    idempotency: {},
    events: [],
  };
}

async function loadState(file: string, logger?: Logger): Promise<State> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return freshState();
    throw err;
  }
  try {
    const state = JSON.parse(raw) as State;
    if (state.version !== 1) throw new Error(`unsupported version ${String(state.version)}`);
    const cutoff = Date.now() - IDEMPOTENCY_TTL_MS;
    for (const [key, record] of Object.entries(state.idempotency)) if (record.createdAt < cutoff) delete state.idempotency[key];
    return state;
  } catch (err) {
    // Writes are atomic (rename), so this is a hand-edited file: keep it aside rather than lose it.
    const aside = `${file}.unreadable-${Date.now()}`;
    await rename(file, aside);
    logger?.warn({ err, file, aside }, 'Stripe stand-in state unreadable; starting empty');
    return freshState();
  }
}

// ---------------------------------------------------------------- accounts

const DEFAULT_CURRENCY: Record<string, string> = { US: 'usd', GB: 'gbp', CA: 'cad', AU: 'aud', CH: 'chf', JP: 'jpy' };
const EUR_COUNTRIES = new Set(['AT', 'BE', 'DE', 'ES', 'FI', 'FR', 'IE', 'IT', 'LU', 'NL', 'PT']);
const BUSINESS_TYPES = ['company', 'government_entity', 'individual', 'non_profit'];
const KNOWN_CAPABILITIES = ['card_payments', 'transfers', 'tax_reporting_us_1099_k', 'tax_reporting_us_1099_misc'];
const ACCOUNT_CREATE_PARAMS = [
  'account_token',
  'business_profile',
  'business_type',
  'capabilities',
  'company',
  'controller',
  'country',
  'default_currency',
  'documents',
  'email',
  'expand',
  'external_account',
  'groups',
  'individual',
  'metadata',
  'settings',
  'tos_acceptance',
  'type',
];

/** What Stripe's hosted onboarding still has to collect for a new Express account. */
function onboardingFields(businessType: string | null, profile: Stripe.Account.BusinessProfile, country: string) {
  const person =
    businessType === 'individual'
      ? [
          'individual.address.city',
          'individual.address.line1',
          'individual.address.postal_code',
          ...(country === 'US' ? ['individual.address.state'] : []),
          'individual.dob.day',
          'individual.dob.month',
          'individual.dob.year',
          'individual.email',
          'individual.first_name',
          'individual.last_name',
          'individual.phone',
          ...(country === 'US' ? ['individual.ssn_last_4'] : []),
        ]
      : ['representative.first_name', 'representative.last_name'];
  return [
    ...(profile.mcc ? [] : ['business_profile.mcc']),
    ...(profile.url || profile.product_description ? [] : ['business_profile.url']),
    ...(businessType ? [] : ['business_type']),
    'external_account',
    ...person,
    'tos_acceptance.date',
    'tos_acceptance.ip',
  ].sort();
}

function emptyRequirements(): Stripe.Account.Requirements {
  return {
    alternatives: [],
    current_deadline: null,
    currently_due: [],
    disabled_reason: null,
    errors: [],
    eventually_due: [],
    past_due: [],
    pending_verification: [],
  };
}

function parseMetadata(value: FormValue | undefined): Record<string, string> {
  if (value === undefined || value === '') return {};
  if (!isParams(value)) throw invalidRequest('Invalid object', 'metadata');
  const entries = Object.entries(value);
  if (entries.length > 50) throw invalidRequest('Metadata can have at most 50 keys', 'metadata');
  for (const [key, v] of entries) {
    if (typeof v !== 'string') throw invalidRequest(`Invalid string: metadata[${key}]`, `metadata[${key}]`);
    if (key.length > 40) throw invalidRequest('Metadata keys can be at most 40 characters', `metadata[${key}]`);
    if (v.length > 500) throw invalidRequest('Metadata values can be at most 500 characters', `metadata[${key}]`);
  }
  return Object.fromEntries(entries.filter(([, v]) => v !== '')) as Record<string, string>;
}

function parseCapabilities(value: FormValue | undefined): Record<string, 'inactive'> {
  if (value === undefined) return {};
  if (!isParams(value)) throw invalidRequest('Invalid object', 'capabilities');
  const result: Record<string, 'inactive'> = {};
  for (const [name, spec] of Object.entries(value)) {
    if (!KNOWN_CAPABILITIES.includes(name) && !name.endsWith('_payments')) throw unknownParam(`capabilities[${name}]`);
    const param = `capabilities[${name}][requested]`;
    if (!isParams(spec) || spec.requested === undefined) throw missingParam(param);
    if (spec.requested !== 'true' && spec.requested !== 'false') throw invalidRequest(`Invalid boolean: ${String(spec.requested)}`, param);
    // A requested capability starts inactive until onboarding satisfies its requirements.
    if (spec.requested === 'true') result[name] = 'inactive';
  }
  return result;
}

function buildAccount(params: FormParams): Stripe.Account {
  rejectUnknown(params, ACCOUNT_CREATE_PARAMS);
  const dashboard =
    isParams(params.controller) && isParams(params.controller.stripe_dashboard) ? params.controller.stripe_dashboard.type : undefined;
  const type = optionalString(params, 'type') ?? (dashboard === 'express' ? 'express' : undefined);
  if (type === undefined) throw missingParam('type');
  if (!['custom', 'express', 'standard'].includes(type))
    throw invalidRequest('Invalid type: must be one of custom, express, or standard', 'type');
  if (type !== 'express') throw invalidRequest('The Stripe stand-in only supports Express accounts (type=express).', 'type');

  const country = (optionalString(params, 'country') ?? 'US').toUpperCase();
  if (!/^[A-Z]{2}$/.test(country))
    throw invalidRequest(
      `Country '${country}' is unknown. Try using a 2-character alphanumeric country code instead, such as 'US', 'EG', or 'GB'.`,
      'country',
      'country_unsupported',
    );
  const email = optionalString(params, 'email') ?? null;
  if (email !== null && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email))
    throw invalidRequest(`Invalid email address: ${email}`, 'email', 'email_invalid');
  const businessType = optionalString(params, 'business_type') ?? null;
  if (businessType !== null && !BUSINESS_TYPES.includes(businessType))
    throw invalidRequest(`Invalid business_type: must be one of ${BUSINESS_TYPES.join(', ')}`, 'business_type');
  const profileIn = isParams(params.business_profile) ? params.business_profile : {};
  const profileField = (name: string) => (typeof profileIn[name] === 'string' ? (profileIn[name] as string) : null);
  const capabilities = parseCapabilities(params.capabilities);
  const metadata = parseMetadata(params.metadata);

  const id = randomId('acct_');
  const profile: Stripe.Account.BusinessProfile = {
    mcc: profileField('mcc'),
    minority_owned_business_designation: null,
    name: profileField('name'),
    product_description: profileField('product_description'),
    specified_commercial_transactions_act_url: null,
    support_address: null,
    support_email: profileField('support_email'),
    support_phone: profileField('support_phone'),
    support_url: profileField('support_url'),
    url: profileField('url'),
  };
  const due = onboardingFields(businessType, profile, country);
  return {
    id,
    object: 'account',
    business_profile: profile,
    business_type: businessType as Stripe.Account.BusinessType | null,
    capabilities: capabilities as Stripe.Account.Capabilities,
    charges_enabled: false,
    controller: {
      fees: { payer: 'application' },
      is_controller: true,
      losses: { payments: 'application' },
      requirement_collection: 'stripe',
      stripe_dashboard: { type: 'express' },
      type: 'application',
    },
    country,
    created: now(),
    default_currency: DEFAULT_CURRENCY[country] ?? (EUR_COUNTRIES.has(country) ? 'eur' : 'usd'),
    details_submitted: false,
    email,
    external_accounts: { object: 'list', data: [], has_more: false, url: `/v1/accounts/${id}/external_accounts` },
    future_requirements: emptyRequirements(),
    metadata,
    payouts_enabled: false,
    // A fresh Express account is disabled until onboarding collects what is past due.
    requirements: {
      ...emptyRequirements(),
      currently_due: due,
      eventually_due: due,
      past_due: due,
      disabled_reason: 'requirements.past_due',
    },
    tos_acceptance: { date: null, ip: null, user_agent: null },
    type: 'express',
  };
}

// ---------------------------------------------------------------- HTTP helpers

function redirect(res: ServerResponse, status: 302 | 303, location: string) {
  res.writeHead(status, { location, 'content-length': 0 });
  res.end();
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function sendHtml(res: ServerResponse, status: number, title: string, body: string) {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1a1f36}
button{font-size:1rem;padding:.6rem 1.2rem;margin:.3rem .3rem 0 0;border-radius:6px;border:1px solid #635bff;cursor:pointer}
button.primary{background:#635bff;color:#fff}.note{color:#697386;font-size:.9rem}</style></head>
<body><p class="note">Stripe stand-in (test mode)</p><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
  res.end(html);
}

/** The secret key from `Authorization: Bearer …` (or Basic with the key as user), else Stripe's 401. */
function authenticate(req: IncomingMessage): string {
  const header = req.headers.authorization ?? '';
  const [scheme, credentials = ''] = header.split(' ', 2);
  let key: string | undefined;
  if (scheme?.toLowerCase() === 'bearer') key = credentials.trim();
  else if (scheme?.toLowerCase() === 'basic') key = Buffer.from(credentials, 'base64').toString('utf8').split(':')[0];
  if (!key)
    throw new StripeApiError(
      401,
      'invalid_request_error',
      "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
    );
  // The stand-in is test mode only: live or malformed keys are refused like an unknown key.
  if (!/^(sk|rk)_test_[A-Za-z0-9_]{8,}$/.test(key))
    throw new StripeApiError(401, 'invalid_request_error', `Invalid API Key provided: ${redactKey(key)}`, 'api_key_invalid');
  return key;
}

function signatureHeader(payload: string, secret: string, timestamp = now()): string {
  const signature = createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${signature}`;
}

// ---------------------------------------------------------------- the server

interface ApiContext {
  params: FormParams;
  apiKey: string;
  stripeAccount: string | undefined;
  match: RegExpExecArray;
}

export async function startStripeStandin(opts: StripeStandinOptions): Promise<StripeStandin> {
  const { stateFile, logger, webhookUrl, webhookSecret } = opts;
  const host = opts.host ?? '127.0.0.1';
  const retryDelays = opts.webhookRetryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  if (stateFile) await mkdir(path.dirname(stateFile), { recursive: true });
  const state = stateFile ? await loadState(stateFile, logger) : freshState();

  // Snapshot writes are chained; each writes the state as it is when its turn comes.
  let writes: Promise<void> = Promise.resolve();
  function persist(): Promise<void> {
    if (!stateFile) return Promise.resolve();
    const write = writes.then(async () => {
      const tmp = `${stateFile}.tmp`;
      await writeFile(tmp, JSON.stringify(state));
      await rename(tmp, stateFile); // atomic: a crash never leaves half a file
    });
    writes = write.catch(() => undefined);
    return write;
  }

  // ------------------------------------------------ webhooks

  let closing = false;
  const stopDeliveries = new AbortController();
  const retryTimers = new Set<NodeJS.Timeout>();
  const inFlight = new Set<Promise<void>>();

  function scheduleDelivery(entry: State['events'][number], delayMs: number) {
    if (closing) return;
    const timer = setTimeout(() => {
      retryTimers.delete(timer);
      const attempt = deliver(entry).finally(() => inFlight.delete(attempt));
      inFlight.add(attempt);
    }, delayMs);
    retryTimers.add(timer);
  }

  async function deliver(entry: State['events'][number]) {
    if (!webhookUrl) return;
    const { event, delivery } = entry;
    const payload = JSON.stringify(event, null, 2);
    try {
      // Signed per attempt, as Stripe does, so the timestamp stays within the receiver's tolerance.
      const response = await fetch(webhookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'stripe-signature': signatureHeader(payload, webhookSecret),
        },
        body: payload,
        signal: AbortSignal.any([stopDeliveries.signal, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS)]),
      });
      await response.arrayBuffer().catch(() => undefined);
      delivery.attempts += 1;
      delivery.lastStatus = response.status;
      if (response.ok) {
        delivery.status = 'delivered';
        delivery.deliveredAt = now();
        delete delivery.lastError;
      } else {
        delivery.lastError = `HTTP ${response.status}`;
      }
    } catch (err) {
      if (closing) return; // interrupted by close(): still pending, resumed on the next start
      delivery.attempts += 1;
      const cause = (err as { cause?: { code?: string } }).cause;
      delivery.lastError = cause?.code ?? (err as Error).message;
    }
    if (delivery.status === 'pending') {
      const delay = retryDelays[delivery.attempts - 1];
      if (delay === undefined) delivery.status = 'failed';
      else scheduleDelivery(entry, delay);
      logger?.warn(
        { eventId: event.id, type: event.type, attempts: delivery.attempts, error: delivery.lastError },
        'webhook delivery failed',
      );
    } else {
      logger?.info({ eventId: event.id, type: event.type, account: event.account }, 'webhook delivered');
    }
    await persist().catch((err: unknown) => logger?.error({ err }, 'Stripe stand-in failed to save state'));
  }

  function recordEvent(type: string, account: string, object: unknown, previous?: Record<string, unknown>) {
    const event: StandinEvent = {
      id: randomId('evt_', 24),
      object: 'event',
      account,
      api_version: API_VERSION,
      created: now(),
      data: previous ? { object, previous_attributes: previous } : { object },
      livemode: false,
      pending_webhooks: webhookUrl ? 1 : 0,
      request: { id: null, idempotency_key: null },
      type,
    };
    const entry = { event, delivery: { status: webhookUrl ? 'pending' : 'no_endpoint', attempts: 0 } as EventDelivery };
    state.events.push(entry);
    return entry;
  }

  // ------------------------------------------------ account transitions

  function findAccount(id: string): StoredAccount {
    const stored = state.accounts[id];
    if (!stored) throw new Error(`No such account: ${id}`);
    if (stored.deauthorized) throw new Error(`Account ${id} has deauthorized the platform`);
    return stored;
  }

  /** Applies `change` and records account.updated (+ capability.updated) if anything changed. */
  async function transition(id: string, change: (account: Stripe.Account) => void) {
    const { account } = findAccount(id);
    const before = structuredClone(account);
    change(account);
    const previous: Record<string, unknown> = {};
    for (const key of [
      'charges_enabled',
      'payouts_enabled',
      'details_submitted',
      'requirements',
      'capabilities',
      'tos_acceptance',
    ] as const)
      if (canonical(before[key]) !== canonical(account[key])) previous[key] = before[key];
    if (Object.keys(previous).length === 0) return;
    const entries = [recordEvent('account.updated', id, structuredClone(account), previous)];
    const caps = (account.capabilities ?? {}) as Record<string, string>;
    const oldCaps = (before.capabilities ?? {}) as Record<string, string>;
    for (const [name, status] of Object.entries(caps)) {
      if (oldCaps[name] === status) continue;
      const capability = {
        id: name,
        object: 'capability',
        account: id,
        future_requirements: emptyRequirements(),
        requested: true,
        requested_at: account.created,
        requirements: { ...account.requirements },
        status,
      };
      entries.push(recordEvent('capability.updated', id, capability, { status: oldCaps[name] }));
    }
    await persist();
    for (const entry of entries) scheduleDelivery(entry, 0);
  }

  async function complete(id: string) {
    await transition(id, (account) => {
      account.details_submitted = true;
      account.charges_enabled = true;
      account.payouts_enabled = true;
      account.business_type ??= 'individual';
      account.requirements = emptyRequirements();
      account.capabilities = Object.fromEntries(
        Object.keys(account.capabilities ?? {}).map((name) => [name, 'active']),
      ) as Stripe.Account.Capabilities;
      if (!account.tos_acceptance?.date) account.tos_acceptance = { date: now(), ip: '127.0.0.1', user_agent: 'Stripe stand-in' };
    });
    logger?.info({ accountId: id }, 'Stripe stand-in account completed onboarding');
  }

  async function restrict(id: string, reason: string) {
    if (!reason) throw new Error('restrict needs a reason (a requirements.disabled_reason value)');
    await transition(id, (account) => {
      account.charges_enabled = false;
      account.payouts_enabled = false;
      // Requirement-driven restrictions come with something to collect again.
      const due = reason.startsWith('requirements.') ? ['individual.verification.document'] : [];
      account.requirements = {
        ...emptyRequirements(),
        currently_due: due,
        eventually_due: due,
        past_due: reason === 'requirements.past_due' ? due : [],
        pending_verification: reason === 'requirements.pending_verification' ? ['individual.verification.document'] : [],
        disabled_reason: reason as Stripe.Account.Requirements.DisabledReason,
      };
      account.capabilities = Object.fromEntries(
        Object.keys(account.capabilities ?? {}).map((name) => [name, 'inactive']),
      ) as Stripe.Account.Capabilities;
    });
    logger?.info({ accountId: id, reason }, 'Stripe stand-in account restricted');
  }

  async function deauthorize(id: string) {
    const stored = findAccount(id);
    stored.deauthorized = true;
    const entry = recordEvent('account.application.deauthorized', id, {
      id: state.applicationId,
      object: 'application',
      name: 'OFM Social OS',
    });
    await persist();
    scheduleDelivery(entry, 0);
    logger?.info({ accountId: id }, 'Stripe stand-in account deauthorized the platform');
  }

  // ------------------------------------------------ Stripe API (v1)

  function accessibleAccount(id: string, apiKey: string): StoredAccount {
    const stored = state.accounts[id];
    if (!stored || stored.deauthorized) throw noAccess(apiKey, id);
    return stored;
  }

  function retrieveAccount({ match, apiKey, stripeAccount }: ApiContext) {
    const id = decodeURIComponent(match[1]!);
    // Under Stripe-Account the request acts as that connected account, which sees only itself.
    if (stripeAccount && stripeAccount !== id)
      throw new StripeApiError(
        403,
        'invalid_request_error',
        `The account '${stripeAccount}' (Stripe-Account header) does not have access to account '${id}'.`,
        'account_invalid',
      );
    return accessibleAccount(id, apiKey).account;
  }

  function retrieveCurrentAccount({ stripeAccount }: ApiContext) {
    if (stripeAccount) return state.accounts[stripeAccount]!.account; // checked in handleApi
    // The platform's own account.
    return {
      id: 'acct_standinplatform0',
      object: 'account',
      type: 'standard',
      country: 'US',
      email: null,
      details_submitted: true,
      charges_enabled: true,
      payouts_enabled: true,
    };
  }

  function createAccount({ params }: ApiContext) {
    const account = buildAccount(params);
    state.accounts[account.id] = { account, deauthorized: false };
    state.accountCreations += 1;
    logger?.info({ accountId: account.id, email: account.email }, 'Stripe stand-in created Express account');
    return account;
  }

  function createAccountLink({ params, apiKey }: ApiContext) {
    rejectUnknown(params, ['account', 'collect', 'collection_options', 'expand', 'refresh_url', 'return_url', 'type']);
    const accountId = optionalString(params, 'account');
    if (!accountId) throw missingParam('account');
    const type = optionalString(params, 'type');
    if (!type) throw missingParam('type');
    if (type !== 'account_onboarding' && type !== 'account_update')
      throw invalidRequest('Invalid type: must be one of account_onboarding or account_update', 'type');
    const refreshUrl = validUrl(params, 'refresh_url');
    const returnUrl = validUrl(params, 'return_url');
    const { account } = accessibleAccount(accountId, apiKey);
    if (type === 'account_update' && account.type === 'express')
      throw invalidRequest('Account Links of type account_update are not supported for Express accounts.', 'type');
    const link: StoredLink = {
      id: randomId('', 24),
      account: accountId,
      type,
      returnUrl,
      refreshUrl,
      created: now(),
      expiresAt: now() + LINK_TTL_SECONDS,
      visited: false,
      submitted: false,
    };
    state.links[link.id] = link;
    return {
      object: 'account_link',
      created: link.created,
      expires_at: link.expiresAt,
      url: `${publicUrl}/connect/onboarding/${link.id}`,
    };
  }

  function createLoginLink({ params, match, apiKey }: ApiContext) {
    rejectUnknown(params, ['expand']);
    const { account } = accessibleAccount(decodeURIComponent(match[1]!), apiKey);
    // Stripe only opens the Express dashboard once onboarding has been completed.
    if (!account.details_submitted)
      throw invalidRequest('Cannot create a login link for an account that has not completed onboarding.', 'account');
    return {
      object: 'login_link',
      created: now(),
      url: `${publicUrl}/express/${account.id}/${randomId('', 24)}`,
    };
  }

  const apiRoutes: [string, RegExp, (ctx: ApiContext) => unknown][] = [
    ['POST', /^\/v1\/accounts$/, createAccount],
    ['GET', /^\/v1\/accounts\/([^/]+)$/, retrieveAccount],
    ['GET', /^\/v1\/account$/, retrieveCurrentAccount],
    ['POST', /^\/v1\/account_links$/, createAccountLink],
    ['POST', /^\/v1\/accounts\/([^/]+)\/login_links$/, createLoginLink],
  ];

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL, requestId: string) {
    const method = req.method ?? 'GET';
    const apiKey = authenticate(req);
    const route = apiRoutes
      .map(([m, pattern, handler]) => ({ m, match: pattern.exec(url.pathname), handler }))
      .find((r) => r.m === method && r.match);
    if (!route)
      throw new StripeApiError(
        404,
        'invalid_request_error',
        `Unrecognized request URL (${method}: ${url.pathname}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
      );
    const stripeAccount = req.headers['stripe-account'] as string | undefined;
    if (stripeAccount) accessibleAccount(stripeAccount, apiKey);

    const raw = await readBody(req, MAX_BODY_BYTES, invalidRequest);
    const contentType = req.headers['content-type'] ?? '';
    if (raw !== '' && !contentType.startsWith('application/x-www-form-urlencoded'))
      throw invalidRequest(
        `Invalid request: unsupported Content-Type ${contentType}. If error persists and you need assistance, please contact support@stripe.com.`,
      );
    const params = parseForm(method === 'GET' ? url.search.slice(1) : raw);
    const headers: Record<string, string> = {};
    if (stripeAccount) headers['stripe-account'] = stripeAccount;

    // Keys are scoped per account context, like Stripe's.
    const idempotencyKey = method === 'POST' ? (req.headers['idempotency-key'] as string | undefined) : undefined;
    const scope = `${stripeAccount ?? 'platform'} ${idempotencyKey}`;
    const fingerprint = canonical(params);
    if (idempotencyKey) {
      headers['idempotency-key'] = idempotencyKey;
      if (idempotencyKey.length > 255) throw invalidRequest('Idempotency-Key must be at most 255 characters long.');
      const prior = state.idempotency[scope];
      if (prior) {
        if (prior.method !== method || prior.path !== url.pathname || prior.fingerprint !== fingerprint)
          throw new StripeApiError(
            400,
            'idempotency_error',
            `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          );
        logger?.debug({ idempotencyKey, path: url.pathname }, 'Stripe stand-in replayed idempotent request');
        return sendJson(res, 200, prior.body, { ...headers, 'idempotent-replayed': 'true', 'original-request': prior.requestId });
      }
    }

    // Handlers validate before mutating, and run synchronously: no other request interleaves.
    const body = route.handler({ params, apiKey, stripeAccount, match: route.match! });
    // Only executed requests are remembered; validation errors are not (as with Stripe).
    if (idempotencyKey) state.idempotency[scope] = { method, path: url.pathname, fingerprint, body, requestId, createdAt: Date.now() };
    if (method === 'POST') await persist();
    sendJson(res, 200, body, headers);
  }

  // ------------------------------------------------ hosted pages

  async function onboardingPage(req: IncomingMessage, res: ServerResponse, linkId: string) {
    const link = state.links[linkId];
    if (!link) return sendHtml(res, 404, 'Link not found', '<p>This onboarding link does not exist.</p>');

    if (req.method === 'GET') {
      // Single use, like Stripe's: a second visit or an expired link goes to refresh_url,
      // where the platform is expected to create a fresh link.
      if (link.visited || now() >= link.expiresAt) return redirect(res, 302, link.refreshUrl);
      link.visited = true;
      link.session = randomId('', 24);
      await persist();
      const { account } = state.accounts[link.account]!;
      return sendHtml(
        res,
        200,
        'Set up payouts',
        `<p>Account <code>${escapeHtml(account.id)}</code>${account.email ? ` (${escapeHtml(account.email)})` : ''}</p>
<p>In real Stripe this is where identity, bank account and terms are collected.</p>
<form method="post" action="/connect/onboarding/${escapeHtml(link.id)}">
<input type="hidden" name="session" value="${escapeHtml(link.session)}">
<button class="primary" type="submit" name="action" value="complete">Complete verification</button>
<button type="submit" name="action" value="exit">Save and return later</button>
</form>`,
      );
    }

    const form = new URLSearchParams(await readBody(req, MAX_BODY_BYTES, invalidRequest));
    if (link.submitted || !link.session || form.get('session') !== link.session) return redirect(res, 303, link.refreshUrl);
    link.submitted = true;
    if (form.get('action') === 'exit') {
      // Leaving early still lands on return_url: the platform must check the account itself.
      await persist();
    } else {
      const stored = state.accounts[link.account];
      if (!stored || stored.deauthorized) return redirect(res, 303, link.refreshUrl);
      await complete(link.account);
    }
    redirect(res, 303, link.returnUrl);
  }

  function dashboardPage(res: ServerResponse, accountId: string) {
    const stored = state.accounts[accountId];
    if (!stored || stored.deauthorized) return sendHtml(res, 404, 'Not found', '<p>Unknown account.</p>');
    const a = stored.account;
    sendHtml(
      res,
      200,
      'Express dashboard',
      `<p>Account <code>${escapeHtml(a.id)}</code></p><ul>
<li>Charges: ${a.charges_enabled ? 'enabled' : 'disabled'}</li>
<li>Payouts: ${a.payouts_enabled ? 'enabled' : 'disabled'}</li>
<li>Restriction: ${escapeHtml(a.requirements?.disabled_reason ?? 'none')}</li></ul>`,
    );
  }

  // ------------------------------------------------ control endpoints

  async function control(req: IncomingMessage, res: ServerResponse, url: URL) {
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /_standin/health')
      return sendJson(res, 200, {
        status: 'ok',
        accounts: Object.keys(state.accounts).length,
        accountCreations: state.accountCreations,
        events: state.events.length,
      });
    if (route === 'GET /_standin/accounts')
      return sendJson(res, 200, {
        accountCreations: state.accountCreations,
        accounts: Object.values(state.accounts),
      });
    if (route === 'GET /_standin/events') {
      const type = url.searchParams.get('type');
      const account = url.searchParams.get('account');
      const events = state.events.filter((e) => (!type || e.event.type === type) && (!account || e.event.account === account));
      return sendJson(res, 200, { events });
    }
    const m = /^POST \/_standin\/accounts\/([^/]+)\/(complete|restrict|deauthorize)$/.exec(route);
    if (!m) return sendJson(res, 404, { error: { type: 'invalid_request_error', message: `No stand-in route for ${route}` } });
    const id = decodeURIComponent(m[1]!);
    if (!state.accounts[id]) return sendJson(res, 404, { error: { type: 'invalid_request_error', message: `No such account: '${id}'` } });
    if (state.accounts[id].deauthorized)
      return sendJson(res, 409, { error: { type: 'invalid_request_error', message: `Account '${id}' has deauthorized the platform` } });
    if (m[2] === 'restrict') {
      let reason: unknown;
      try {
        reason = (JSON.parse((await readBody(req, MAX_BODY_BYTES, invalidRequest)) || '{}') as { reason?: unknown }).reason;
      } catch {
        reason = undefined;
      }
      if (typeof reason !== 'string' || reason === '')
        return sendJson(res, 400, {
          error: { type: 'invalid_request_error', message: 'Body must be JSON {"reason": "<disabled_reason>"}', param: 'reason' },
        });
      await restrict(id, reason);
    } else if (m[2] === 'complete') await complete(id);
    else await deauthorize(id);
    sendJson(res, 200, state.accounts[id]);
  }

  // ------------------------------------------------ server

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const requestId = randomId('req_', 14);
    res.setHeader('request-id', requestId);
    res.setHeader('stripe-version', (req.headers['stripe-version'] as string | undefined) ?? API_VERSION);
    const handle = async () => {
      if (url.pathname.startsWith('/_standin/')) return control(req, res, url);
      const link = /^\/connect\/onboarding\/([A-Za-z0-9]+)$/.exec(url.pathname);
      if (link && (req.method === 'GET' || req.method === 'POST')) return onboardingPage(req, res, link[1]!);
      const dashboard = /^\/express\/([^/]+)\/[A-Za-z0-9]+$/.exec(url.pathname);
      if (dashboard && req.method === 'GET') return dashboardPage(res, decodeURIComponent(dashboard[1]!));
      return handleApi(req, res, url, requestId);
    };
    handle().catch((err: unknown) => {
      const error =
        err instanceof StripeApiError ? err : new StripeApiError(500, 'api_error', 'An unknown error occurred in the Stripe stand-in.');
      if (error.status >= 500) logger?.error({ err }, 'Stripe stand-in failed');
      else logger?.warn({ path: url.pathname, type: error.type, message: error.message }, 'Stripe stand-in rejected request');
      if (res.headersSent) return res.destroy();
      sendJson(res, error.status, error);
    });
  });

  const url = await listen(server, opts.port, host);
  const publicUrl = (opts.publicUrl ?? url).replace(/\/+$/, '');

  // Events a previous run had not managed to deliver go out again.
  for (const entry of state.events) if (entry.delivery.status === 'pending' && webhookUrl) scheduleDelivery(entry, 0);

  return {
    url,
    complete,
    restrict,
    deauthorize,
    async close() {
      closing = true;
      for (const timer of retryTimers) clearTimeout(timer);
      retryTimers.clear();
      stopDeliveries.abort();
      await Promise.allSettled([...inFlight]);
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // The SDK keeps connections alive; drop the idle ones so close() doesn't wait on them.
        server.closeIdleConnections();
      });
      await writes;
    },
  };
}
