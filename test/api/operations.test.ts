import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workers: false, env: { CORS_ORIGINS: 'https://app.example.com' } });
});
afterAll(() => h?.close());

describe('operations endpoints', () => {
  it('health and readiness, at the root and under /api/v1', async () => {
    for (const prefix of ['', '/api/v1']) {
      expect((await h.app.inject({ url: `${prefix}/health` })).json()).toEqual({ status: 'ok' });
      const ready = await h.app.inject({ url: `${prefix}/ready` });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', temporal: 'ok' } });
    }
  });

  it('metrics count requests by route and status', async () => {
    await h.app.inject({ url: '/api/v1/auth/me' });
    const text = (await h.app.inject({ url: '/metrics' })).body;
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/auth\/me",status="401"\} [1-9]/);
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('serves the OpenAPI document and its UI', async () => {
    const doc = (await h.app.inject({ url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/auth/register', '/api/v1/auth/verify-email', '/api/v1/onboarding/status']),
    );
    expect(doc.paths['/api/v1/auth/me'].get.security).toEqual([{ bearerAuth: [] }]);
    expect((await h.app.inject({ url: '/docs' })).statusCode).toBeLessThan(400);
  });

  it('carries the caller’s request id, or mints one', async () => {
    const given = await h.app.inject({ url: '/health', headers: { 'x-request-id': 'req-abc.123' } });
    expect(given.headers['x-request-id']).toBe('req-abc.123');
    const minted = await h.app.inject({ url: '/health', headers: { 'x-request-id': 'bad id with spaces' } });
    expect(minted.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers CORS only for configured origins and sets security headers', async () => {
    const allowed = await h.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/auth/login',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    });
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example.com');
    const denied = await h.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/auth/login',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(denied.headers['access-control-allow-origin']).toBeUndefined();
    const res = await h.app.inject({ url: '/health' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toBeDefined();
  });

  it('mailbox is a dev route, and the mail stand-in being down is a 503 in the error shape', async () => {
    const down = await startHarness({ workers: false, env: { SES_STANDIN_PORT: '1' } });
    try {
      const res = await down.app.inject({ url: '/api/v1/dev/mailbox?to=a@example.com' });
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe('dependency_unavailable');
    } finally {
      await down.close();
    }
    const prod = await startHarness({ workers: false, env: { ENABLE_DEV_ROUTES: 'false' } });
    try {
      expect((await prod.app.inject({ url: '/api/v1/dev/mailbox?to=a@example.com' })).statusCode).toBe(404);
    } finally {
      await prod.close();
    }
  });

  it('limits the public routes per client IP with 429, Retry-After and the error shape', async () => {
    const limited = await startHarness({ workers: false, env: { PUBLIC_ROUTE_LIMIT_PER_MINUTE: '2' } });
    try {
      const verify = () => limited.app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token: 'not-a-real-token' } });
      expect((await verify()).statusCode).toBe(400);
      expect((await verify()).statusCode).toBe(400);
      const third = await verify();
      expect(third.statusCode).toBe(429);
      expect(third.json().error.code).toBe('throttled');
      expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
      // Authenticated and operations routes are not under this limit.
      expect((await limited.app.inject({ url: '/health' })).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('reports not ready with 503 when Temporal is unreachable', async () => {
    const broken = await startHarness({ workers: false });
    try {
      await broken.temporal.connection.close();
      const res = await broken.app.inject({ url: '/ready' });
      expect(res.statusCode).toBe(503);
      expect(res.json().checks).toEqual({ database: 'ok', temporal: 'down' });
    } finally {
      await broken.close().catch(() => {});
    }
  });
});
