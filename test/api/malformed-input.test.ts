// Table-driven: every route in the OpenAPI document gets every kind of hostile input and must
// answer with a 4xx in the SPEC's error shape (or a normal success), never a 500.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, login, register, startHarness, type Harness } from '../support/harness.js';

let h: Harness;
let auth: Record<string, string>;
let routes: { method: string; url: string; hasBody: boolean; secured: boolean; adminOnly: boolean }[];

beforeAll(async () => {
  h = await startHarness({ env: { BODY_LIMIT_BYTES: '65536', BULK_BODY_LIMIT_BYTES: '65536', LOGIN_IP_MAX_FAILURES_PER_15MIN: '100000' } });
  auth = bearer((await login(h, (await register(h)).email)).accessToken);
  await h.app.ready();
  const doc = h.app.swagger() as {
    paths: Record<string, Record<string, { requestBody?: unknown; security?: unknown; summary?: string }>>;
  };
  routes = Object.entries(doc.paths).flatMap(([url, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      url: url.replace(/\{(\w+)\}/g, 'x'),
      hasBody: op.requestBody !== undefined,
      secured: op.security !== undefined,
      // Admin routes refuse a creator (403) before they read the body.
      adminOnly: /^Admin:/.test(op.summary ?? ''),
    })),
  );
});
afterAll(() => h?.close());

const INJECTIONS = [
  "' OR '1'='1",
  '"; DROP TABLE users; --',
  '<script>alert(1)</script>',
  '${jndi:ldap://x}',
  '../../etc/passwd',
  '\u0000\u202e',
  '{{7*7}}',
  '%00',
];
const huge = 'a'.repeat(60_000);

type Case = { name: string; payload?: string; contentType?: string; expect?: { status: number; code: string } };
const bodyCases: Case[] = [
  { name: 'malformed JSON', payload: '{"email": ', contentType: 'application/json', expect: { status: 400, code: 'malformed_json' } },
  { name: 'JSON array', payload: '[1,2]', contentType: 'application/json' },
  { name: 'JSON scalar', payload: '42', contentType: 'application/json' },
  {
    name: 'wrong types',
    payload: JSON.stringify({ email: 42, password: ['x'], token: {}, refreshToken: true, name: 7, timezone: null }),
    contentType: 'application/json',
  },
  { name: 'unknown fields', payload: JSON.stringify({ unexpected: 'field', isAdmin: true }), contentType: 'application/json' },
  {
    name: 'prototype pollution',
    payload: '{"__proto__": {"role": "admin"}}',
    contentType: 'application/json',
    expect: { status: 400, code: 'malformed_json' },
  },
  {
    name: 'huge strings',
    payload: JSON.stringify({ email: `${huge}@x.io`, password: huge, token: huge, refreshToken: huge, name: huge, timezone: huge }),
    contentType: 'application/json',
  },
  {
    name: 'oversize body',
    payload: JSON.stringify({ pad: 'x'.repeat(70_000) }),
    contentType: 'application/json',
    expect: { status: 413, code: 'payload_too_large' },
  },
  {
    name: 'wrong content type',
    payload: 'email=a@b.co',
    contentType: 'application/x-www-form-urlencoded',
    expect: { status: 415, code: 'unsupported_media_type' },
  },
  { name: 'text/plain', payload: '{}', contentType: 'text/plain', expect: { status: 415, code: 'unsupported_media_type' } },
  ...INJECTIONS.map((s) => ({
    name: `injection ${JSON.stringify(s)}`,
    payload: JSON.stringify({
      email: `${s}@example.com`,
      password: s,
      token: s,
      refreshToken: s,
      name: s,
      niche: s,
      termsVersion: s,
      timezone: s,
    }),
    contentType: 'application/json',
  })),
];

function expectErrorShape(status: number, body: string, label: string) {
  expect(status, label).toBeLessThan(500);
  if (status >= 400) {
    const json = JSON.parse(body);
    expect(json, label).toEqual({
      error: {
        code: expect.stringMatching(/^[a-z_]+$/),
        message: expect.any(String),
        ...(json.error.details ? { details: expect.anything() } : {}),
      },
    });
    expect(body, label).not.toMatch(/at .*\.(ts|js):\d+/); // no stack traces
  }
}

describe('hostile input on every route', () => {
  it('covers the routes of the OpenAPI document', () => {
    expect(routes.length).toBeGreaterThanOrEqual(12);
  });

  for (const withAuth of [true, false]) {
    it(`bodies (${withAuth ? 'authenticated' : 'anonymous'})`, async () => {
      for (const route of routes.filter((r) => r.method !== 'GET')) {
        for (const c of bodyCases) {
          const res = await h.app.inject({
            method: route.method as 'POST',
            url: route.url,
            payload: c.payload,
            headers: { 'content-type': c.contentType ?? 'application/json', ...(withAuth ? auth : {}) },
          });
          const label = `${route.method} ${route.url} ${c.name} → ${res.statusCode} ${res.body.slice(0, 200)}`;
          expectErrorShape(res.statusCode, res.body, label);
          // Framework-level failures are the same for every route that takes a body; protected
          // routes authenticate first, so anonymous callers get 401 there.
          if (!withAuth && route.secured) expect(res.statusCode, label).toBe(401);
          else if (route.adminOnly) expect(res.statusCode, label).toBe(403);
          else if (c.expect && (route.hasBody || c.expect.status === 413)) {
            expect(res.statusCode, label).toBe(c.expect.status);
            expect(res.json().error.code, label).toBe(c.expect.code);
          }
          // Anonymous calls to protected routes stop at 401 before the body is read.
          if (c.name === 'unknown fields' && route.hasBody && !route.adminOnly)
            expect(withAuth ? [400] : [400, 401], label).toContain(res.statusCode);
        }
      }
    });
  }

  it('query strings and paths', async () => {
    const queries = [
      'to=not-an-email',
      `to=${encodeURIComponent(INJECTIONS[0]!)}`,
      `to=${'a'.repeat(5000)}@x.io`,
      'to[]=a&to[]=b',
      'unknown=1',
      '%zz=%zz',
    ];
    for (const route of routes.filter((r) => r.method === 'GET')) {
      for (const q of queries) {
        for (const headers of [auth, {}]) {
          const res = await h.app.inject({ method: 'GET', url: `${route.url}?${q}`, headers });
          expectErrorShape(res.statusCode, res.body, `GET ${route.url}?${q.slice(0, 40)} → ${res.statusCode} ${res.body.slice(0, 200)}`);
        }
      }
    }
    for (const url of ['/api/v1/does-not-exist', `/api/v1/${'x'.repeat(10_000)}`, '/api/v1/%E0%A4%A', "/api/v1/auth/login'--"]) {
      const res = await h.app.inject({ method: 'GET', url });
      expect([400, 404], url).toContain(res.statusCode);
      expectErrorShape(res.statusCode, res.body, url);
    }
  });

  it('text with NUL characters is a 400, not a failed database write', async () => {
    const register = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { email: 'nul@example.com', password: 'violet-tangent-harbour-42', name: 'a\u0000b' },
    });
    expect(register.statusCode).toBe(400);
    const profile = await h.app.inject({ method: 'PUT', url: '/api/v1/creator/profile', headers: auth, payload: { niche: 'yoga\u0000' } });
    expect(profile.statusCode).toBe(400);
    expect(profile.json().error.code).toBe('validation_failed');
  });

  it('unknown fields are rejected, not dropped', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/api/v1/auth/forgot-password', payload: { email: 'a@example.com', extra: 1 } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'validation_failed', details: [{ field: 'body.extra' }] });
  });
});

describe('hostile input on the AI routes (SPEC §5)', () => {
  // The sweep above reaches routes with an `x` id, which stops at the uuid check, and sends the
  // auth routes' fields; these rows reach the AI handlers with their own fields and real-looking ids.
  const nobody = randomUUID();
  const persona = { name: 'Mia', tone: 'warm', style: 'short', language: 'en', boundaries: [], emojis: true };
  const config = { persona, customResponses: [], autoReply: { enabled: false, maxPriceCents: 0 }, suggestOnInbound: false };
  const withPersona = (p: object) => ({ ...config, persona: { ...persona, ...p } });
  const storable = INJECTIONS.filter((i) => !i.includes('\u0000'));
  type Row = [method: 'GET' | 'PUT' | 'POST', url: string, payload: object | string | undefined, status: number];
  const rows: Row[] = [
    ['PUT', '/ai/budget', { dailyCapCents: '100', monthlyCapCents: '1000' }, 400],
    ['PUT', '/ai/budget', { dailyCapCents: -1, monthlyCapCents: 10 }, 400],
    ['PUT', '/ai/budget', { dailyCapCents: 1.5, monthlyCapCents: 10 }, 400],
    ['PUT', '/ai/budget', { dailyCapCents: 1e308, monthlyCapCents: 1e308 }, 400],
    ['PUT', '/ai/budget', { dailyCapCents: null, monthlyCapCents: [] }, 400],
    ['PUT', '/ai/budget', { dailyCapCents: 10, monthlyCapCents: 5 }, 400],
    ['PUT', '/ai/budget', { dailyCapCents: 1, monthlyCapCents: 1, constructor: { prototype: {} } }, 400],
    ['PUT', '/ai/budget', '{"dailyCapCents": 1, "monthlyCapCents": 1, "__proto__": {"isAdmin": true}}', 400],
    ['PUT', '/ai/config', withPersona({ language: INJECTIONS[0] }), 400],
    ['PUT', '/ai/config', withPersona({ language: 'en'.repeat(500) }), 400],
    ['PUT', '/ai/config', withPersona({ name: huge }), 400],
    ['PUT', '/ai/config', withPersona({ boundaries: ['no\u0000 meetups'] }), 400],
    ['PUT', '/ai/config', withPersona({ boundaries: Array.from({ length: 1_000 }, () => 'x') }), 400],
    ['PUT', '/ai/config', withPersona({ emojis: 'true' }), 400],
    ['PUT', '/ai/config', withPersona({ isAdmin: true }), 400],
    ['PUT', '/ai/config', { ...config, persona: null }, 400],
    ['PUT', '/ai/config', { ...config, customResponses: [{ text: 'x' }] }, 400],
    ['PUT', '/ai/config', { ...config, autoReply: { enabled: 'yes', maxPriceCents: 1e9 } }, 400],
    // Injection text in free-text fields is data: stored and returned verbatim.
    ['PUT', '/ai/config', withPersona({ name: INJECTIONS[1], tone: INJECTIONS[2], style: INJECTIONS[3], boundaries: storable }), 200],
    ['GET', '/ai/usage?from=2026-02-31', undefined, 400],
    ['GET', '/ai/usage?from=0000-01-01', undefined, 400],
    ['GET', '/ai/usage?from=2026-1-1', undefined, 400],
    ['GET', `/ai/usage?from=${encodeURIComponent(INJECTIONS[0]!)}`, undefined, 400],
    ['GET', '/ai/usage?from=2026-01-01&from=2026-02-01', undefined, 400],
    ['GET', '/ai/usage?from=0001-01-01&to=9999-12-31', undefined, 200],
    ['GET', `/crm/conversations/${nobody}/suggestions`, undefined, 404],
    ['GET', `/crm/conversations/${nobody}'--/suggestions`, undefined, 400],
    ['POST', `/crm/conversations/${nobody}/suggestions`, undefined, 404],
    ['POST', `/crm/conversations/${nobody}/suggestions`, '{"text": ', 400],
    ['POST', `/ai/suggestions/${nobody}/approve`, undefined, 404],
    ['POST', `/ai/suggestions/${nobody}/approve`, { text: INJECTIONS[0], priceCents: null }, 404],
    ['POST', `/ai/suggestions/${nobody}/approve`, { text: '' }, 400],
    ['POST', `/ai/suggestions/${nobody}/approve`, { text: huge }, 400],
    ['POST', `/ai/suggestions/${nobody}/approve`, { text: 'a\u0000b' }, 400],
    ['POST', `/ai/suggestions/${nobody}/approve`, { priceCents: -1 }, 400],
    ['POST', `/ai/suggestions/${nobody}/approve`, { priceCents: '500' }, 400],
    ['POST', `/ai/suggestions/${nobody}/approve`, { decidedBy: 'auto-reply' }, 400],
    ['POST', `/ai/suggestions/${nobody}/approve`, [1, 2], 400],
    ['POST', `/ai/suggestions/${nobody}/reject`, undefined, 404],
    ['POST', `/ai/suggestions/${nobody}/reject`, { decidedBy: 'someone else' }, 400],
    ['POST', '/ai/suggestions/constructor/reject', undefined, 400],
  ];

  it('are in the OpenAPI sweep', () => {
    const ai = routes.filter((r) => /\/ai\/|suggestions/.test(r.url)).map((r) => `${r.method} ${r.url}`);
    expect(ai.sort()).toEqual(
      [
        'GET /api/v1/ai/budget',
        'PUT /api/v1/ai/budget',
        'GET /api/v1/ai/usage',
        'GET /api/v1/ai/config',
        'PUT /api/v1/ai/config',
        'GET /api/v1/crm/conversations/x/suggestions',
        'POST /api/v1/crm/conversations/x/suggestions',
        'POST /api/v1/ai/suggestions/x/approve',
        'POST /api/v1/ai/suggestions/x/reject',
      ].sort(),
    );
  });

  it('answers each row with its status in the error shape, never a 500', async () => {
    for (const [method, url, payload, status] of rows) {
      const res = await h.app.inject({
        method,
        url: `/api/v1${url}`,
        headers: { ...auth, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
        payload: typeof payload === 'string' ? payload : payload === undefined ? undefined : JSON.stringify(payload),
      });
      const label = `${method} ${url.slice(0, 80)} ${JSON.stringify(payload)?.slice(0, 80)} → ${res.statusCode} ${res.body.slice(0, 200)}`;
      expectErrorShape(res.statusCode, res.body, label);
      expect(res.statusCode, label).toBe(status);
    }
    // The injection row was stored as sent, and nothing else changed the caller's budget.
    expect((await h.app.inject({ method: 'GET', url: '/api/v1/ai/config', headers: auth })).json().persona.boundaries).toEqual(storable);
    const budget = await h.app.inject({ method: 'GET', url: '/api/v1/ai/budget', headers: auth });
    expect(budget.json()).toEqual({ dailyCapCents: h.config.AI_DAILY_CAP_CENTS, monthlyCapCents: h.config.AI_MONTHLY_CAP_CENTS });
  });
});
