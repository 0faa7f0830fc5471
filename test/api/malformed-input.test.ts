// Table-driven: every route in the OpenAPI document gets every kind of hostile input and must
// answer with a 4xx in the SPEC's error shape (or a normal success), never a 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, login, register, startHarness, type Harness } from '../support/harness.js';

let h: Harness;
let auth: Record<string, string>;
let routes: { method: string; url: string; hasBody: boolean; secured: boolean }[];

beforeAll(async () => {
  h = await startHarness({ env: { BODY_LIMIT_BYTES: '65536', BULK_BODY_LIMIT_BYTES: '65536', LOGIN_IP_MAX_FAILURES_PER_15MIN: '100000' } });
  auth = bearer((await login(h, (await register(h)).email)).accessToken);
  await h.app.ready();
  const doc = h.app.swagger() as { paths: Record<string, Record<string, { requestBody?: unknown; security?: unknown }>> };
  routes = Object.entries(doc.paths).flatMap(([url, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      url: url.replace(/\{(\w+)\}/g, 'x'),
      hasBody: op.requestBody !== undefined,
      secured: op.security !== undefined,
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
          else if (c.expect && (route.hasBody || c.expect.status === 413)) {
            expect(res.statusCode, label).toBe(c.expect.status);
            expect(res.json().error.code, label).toBe(c.expect.code);
          }
          // Anonymous calls to protected routes stop at 401 before the body is read.
          if (c.name === 'unknown fields' && route.hasBody) expect(withAuth ? [400] : [400, 401], label).toContain(res.statusCode);
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
