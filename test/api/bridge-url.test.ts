// PUT /platforms/:platform/connection vets a bridge URL before storing it (SPEC §3): outside
// production (as here) plain http goes only to loopback, no credentials, never a metadata address;
// the production rules are unit-tested in test/integrations/url-guard.test.ts. Rate limits have a ceiling.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCalls, bearer, login, register, startHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workers: false });
});
afterAll(() => h?.close());

const { call, ok } = apiCalls(() => h);

async function creator() {
  const { email } = await register(h);
  return bearer((await login(h, email)).accessToken);
}

const connect = (auth: Record<string, string>, body: object) => call(auth, 'PUT', '/platforms/onlyfans/connection', body);

describe('bridge URLs at connect time', () => {
  it.each([
    ['plain http to a public address', 'http://93.184.216.34/', /must be https/],
    ['plain http to a private address', 'http://10.0.0.5:8080/', /must be https/],
    ['credentials in the URL', 'https://user:secret@93.184.216.34/', /credentials/],
    ['credentials on loopback', 'http://user:secret@127.0.0.1:9/', /credentials/],
    ['the cloud metadata address', 'https://169.254.169.254/latest/meta-data/', /^bridge address not allowed/],
    ['the metadata address, IPv4-mapped', 'https://[::ffff:169.254.169.254]/', /^bridge address not allowed/],
    ['the AWS IPv6 metadata address', 'https://[fd00:ec2::254]/', /^bridge address not allowed/],
  ])('refuses %s with a 400', async (_name, bridgeUrl, message) => {
    const auth = await creator();
    const res = await connect(auth, { adapter: 'bridge', bridgeUrl });
    expect(res.statusCode).toBe(400);
    const { error } = res.json() as { error: { code: string; message: string } };
    expect(error.code).toBe('validation_failed');
    expect(error.message).toMatch(message);
    // Nothing was stored.
    expect((await ok(auth, 'GET', '/platforms/connections')).items).toEqual([]);
  });

  it('keeps refusing when an existing connection is switched to a forbidden bridge', async () => {
    const auth = await creator();
    await ok(auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'bridge', bridgeUrl: 'http://127.0.0.1:9/' }, 201);
    expect((await connect(auth, { adapter: 'bridge', bridgeUrl: 'http://10.0.0.5/' })).statusCode).toBe(400);
    const [stored] = (await ok(auth, 'GET', '/platforms/connections')).items;
    expect(stored.bridgeUrl).toBe('http://127.0.0.1:9/');
  });

  it('accepts plain http to loopback outside production (local bridges), by address or by name', async () => {
    const auth = await creator();
    await ok(auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'bridge', bridgeUrl: 'http://127.0.0.1:9/' }, 201);
    await ok(auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'bridge', bridgeUrl: 'http://[::1]:9/' }, 200);
    await ok(auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'bridge', bridgeUrl: 'http://localhost:9/' }, 200);
  });
});

describe('connection rate limits', () => {
  it('refuses a rate limit above the ceiling with a 400', async () => {
    const auth = await creator();
    for (const rateLimit of [
      { messages: 1_000_000, perSeconds: 60 },
      { messages: 100_000, perSeconds: 1 },
      { messages: 2_000, perSeconds: 1 },
    ]) {
      const res = await connect(auth, { adapter: 'manual', rateLimit });
      expect(res.statusCode, JSON.stringify(rateLimit)).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
    }
    expect((await ok(auth, 'GET', '/platforms/connections')).items).toEqual([]);
    // At the ceiling: accepted.
    await ok(auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'manual', rateLimit: { messages: 100_000, perSeconds: 60 } }, 201);
    await ok(auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'manual', rateLimit: { messages: 1_000, perSeconds: 1 } }, 200);
  });
});
