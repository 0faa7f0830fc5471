// Bridge URLs (SPEC §3): which addresses a bridge may point at, in and outside production, checked
// on the URL, after DNS resolution, and again at send time against the address actually dialled.
import { createSocket } from 'node:dgram';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBridgeGateway } from '../../integrations/platforms/bridge.js';
import { SIGNATURE_HEADER, signPayload } from '../../integrations/platforms/signature.js';
import { PermanentSendError, TransientSendError } from '../../integrations/platforms/types.js';
import { BridgeUrlError, classifyAddress, createDnsResolver, type Resolver, vetBridgeUrl } from '../../integrations/platforms/url-guard.js';

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.254', 'shared'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['2001:db8::1', 'reserved'],
    // IPv4 inside IPv6: mapped, compatible, NAT64 and 6to4 forms are judged by the IPv4 address.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:192.168.0.1', 'private'],
    ['::ffff:100.64.0.1', 'shared'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::a00:1', 'private'],
    ['2002:a9fe:a9fe::1', 'metadata'],
    ['2002:7f00:1::', 'loopback'],
  ])('%s is %s', (ip, expected) => {
    expect(classifyAddress(ip)).toBe(expected);
  });

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '2002:808:808::1',
  ])('%s is public', (ip) => {
    expect(classifyAddress(ip)).toBe('public');
  });
});

const resolvesTo =
  (...addresses: string[]) =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

async function refusal(url: string, production: boolean, resolve: Resolver = resolvesTo('93.184.216.34')) {
  try {
    await vetBridgeUrl(url, { production }, resolve);
  } catch (err) {
    expect(err).toBeInstanceOf(BridgeUrlError);
    return (err as BridgeUrlError).message;
  }
  return undefined;
}

describe('vetBridgeUrl', () => {
  it('accepts https to public addresses in production, and answers the addresses to dial', async () => {
    const vetted = await vetBridgeUrl('https://bridge.example.com/api', { production: true }, resolvesTo('93.184.216.34', '2606:4700::1'));
    expect(vetted.url.hostname).toBe('bridge.example.com');
    expect(vetted.addresses.map((a) => a.address)).toEqual(['93.184.216.34', '2606:4700::1']);
    expect(await refusal('https://93.184.216.34:8443/', true)).toBeUndefined();
  });

  it('refuses plain http in production, even to loopback', async () => {
    expect(await refusal('http://bridge.example.com/', true)).toMatch(/must be https/);
    expect(await refusal('http://127.0.0.1:8080/', true)).toMatch(/must be https/);
  });

  it('outside production allows plain http only to loopback', async () => {
    expect(await refusal('http://127.0.0.1:8080/', false)).toBeUndefined();
    expect(await refusal('http://[::1]:8080/', false)).toBeUndefined();
    expect(await refusal('http://localhost:8080/', false, resolvesTo('127.0.0.1', '::1'))).toBeUndefined();
    expect(await refusal('http://bridge.example.com/', false)).toMatch(/must be https/);
    expect(await refusal('http://10.0.0.5/', false)).toMatch(/must be https/);
    // One non-loopback address among the answers is enough to refuse.
    expect(await refusal('http://localhost:8080/', false, resolvesTo('127.0.0.1', '10.0.0.5'))).toMatch(/must be https/);
  });

  it('refuses credentials in the URL', async () => {
    expect(await refusal('https://user:pass@bridge.example.com/', true)).toMatch(/credentials/);
    expect(await refusal('https://user@bridge.example.com/', false)).toMatch(/credentials/);
  });

  it('refuses other schemes and unparsable URLs', async () => {
    expect(await refusal('ftp://bridge.example.com/', false)).toMatch(/must be https/);
    expect(await refusal('not a url', false)).toMatch(/not a valid URL/);
  });

  it.each([
    'https://127.0.0.1/',
    'https://[::1]/',
    'https://10.0.0.1/',
    'https://172.16.5.4/',
    'https://192.168.0.10/',
    'https://[fd00::1]/',
    'https://169.254.10.10/',
    'https://[fe80::1]/',
    'https://100.64.1.1/',
    'https://0.0.0.0/',
    'https://[::]/',
    'https://224.0.0.251/',
    'https://169.254.169.254/latest/meta-data/',
    'https://[fd00:ec2::254]/',
    'https://[::ffff:127.0.0.1]/',
    'https://[::ffff:169.254.169.254]/',
    'https://[::ffff:10.0.0.1]/',
    // Other spellings of 127.0.0.1 that the URL parser normalises.
    'https://2130706433/',
    'https://0x7f.1/',
  ])('refuses %s in production', async (url) => {
    expect(await refusal(url, true)).toBe('bridge address not allowed');
  });

  it('refuses a name that resolves to a forbidden address in production, if any answer is forbidden', async () => {
    expect(await refusal('https://bridge.example.com/', true, resolvesTo('10.0.0.1'))).toBe('bridge address not allowed');
    expect(await refusal('https://bridge.example.com/', true, resolvesTo('93.184.216.34', '::ffff:169.254.169.254'))).toBe(
      'bridge address not allowed',
    );
    // In production an unresolvable name reads like a refused address (no probing of our DNS).
    expect(await refusal('https://bridge.example.com/', true, async () => [])).toBe('bridge address not allowed');
    expect(await refusal('https://bridge.example.com/', false, async () => [])).toMatch(/does not resolve/);
    const failing = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND internal.corp'), { code: 'ENOTFOUND' });
    };
    expect(await refusal('https://internal.corp/', true, failing)).toBe('bridge address not allowed');
  });

  it('outside production allows https to private addresses, never to metadata ones', async () => {
    expect(await refusal('https://10.0.0.1/', false)).toBeUndefined();
    expect(await refusal('https://169.254.169.254/', false)).toBe('bridge address not allowed');
    expect(await refusal('https://metadata.example/', false, resolvesTo('::ffff:169.254.169.254'))).toBe('bridge address not allowed');
  });
});

/**
 * A name server on loopback for the c-ares resolver: `both.test` has A and AAAA records, `v4.test`
 * only A (AAAA answers no data), `nx.test` does not exist, `hang.test` never gets an answer.
 */
function stubDns() {
  const socket = createSocket('udp4');
  const records: Record<string, { a?: number[][]; aaaa?: number[][] }> = {
    'both.test': { a: [[93, 184, 216, 34]], aaaa: [[0x26, 0x06, 0x47, 0, ...Array<number>(11).fill(0), 1]] },
    'v4.test': { a: [[93, 184, 216, 34]] },
    'inward.test': { a: [[10, 0, 0, 7]] },
  };
  socket.on('message', (query, peer) => {
    const labels: string[] = [];
    let at = 12;
    while (query[at]! > 0) {
      labels.push(query.subarray(at + 1, at + 1 + query[at]!).toString());
      at += query[at]! + 1;
    }
    const name = labels.join('.').toLowerCase();
    const type = query.readUInt16BE(at + 1);
    if (name === 'hang.test') return;
    const found = records[name];
    const rdata = (type === 1 ? found?.a : type === 28 ? found?.aaaa : undefined) ?? [];
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header.writeUInt16BE(0x8180 | (found ? 0 : 3), 2); // NXDOMAIN for unknown names
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(rdata.length, 6);
    const answers = rdata.map((bytes) => {
      const rr = Buffer.alloc(12 + bytes.length);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(type, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(bytes.length, 10);
      Buffer.from(bytes).copy(rr, 12);
      return rr;
    });
    socket.send(Buffer.concat([header, query.subarray(12, at + 5), ...answers]), peer.port, peer.address);
  });
  return socket;
}

describe('the production resolver (c-ares)', () => {
  const dns = stubDns();
  let resolve: ReturnType<typeof createDnsResolver>;
  beforeAll(async () => {
    await new Promise<void>((r) => dns.bind(0, '127.0.0.1', r));
    resolve = createDnsResolver({ timeoutMs: 300, servers: [`127.0.0.1:${dns.address().port}`] });
  });
  afterAll(() => new Promise<void>((r) => dns.close(() => r())));

  it('answers the A and AAAA records, a family without records counting as none', async () => {
    expect(await resolve('both.test')).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:4700::1', family: 6 },
    ]);
    expect(await resolve('v4.test')).toEqual([{ address: '93.184.216.34', family: 4 }]);
    expect(await resolve('nx.test')).toEqual([]);
  });

  it('gives up on a name server that never answers after its timeout, with one try', async () => {
    const started = Date.now();
    const failure = await resolve('hang.test').catch((err: { code?: string }) => err);
    expect(failure).toMatchObject({ code: 'ETIMEOUT' });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(await refusal('https://hang.test/', true, resolve)).toBe('bridge address not allowed');
  });

  it('vets the addresses it resolves', async () => {
    expect(await refusal('https://both.test/', true, resolve)).toBeUndefined();
    expect(await refusal('https://inward.test/', true, resolve)).toBe('bridge address not allowed');
    expect(await refusal('https://nx.test/', true, resolve)).toBe('bridge address not allowed');
  });
});

describe('the bridge gateway at send time', () => {
  const secret = 'whsec_test';
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => {
      const answer = JSON.stringify({ messageId: `m_${seen.length}`, sentAt: new Date().toISOString() });
      res.writeHead(201, { 'content-type': 'application/json', [SIGNATURE_HEADER]: signPayload(secret, answer) }).end(answer);
    });
  });
  let port = 0;
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((r) => server.close(r)));
  const message = { idempotencyKey: 'k1', fanHandle: 'fan', text: 'hi', priceCents: null, mediaUrls: [] };

  it('refuses a loopback bridge in production without sending anything', async () => {
    const before = seen.length;
    const gateway = createBridgeGateway({ baseUrl: `http://127.0.0.1:${port}`, secret, production: true });
    const failure = await gateway.send(message).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(PermanentSendError);
    expect((failure as Error).message).toMatch(/must be https/);
    const named = createBridgeGateway({
      baseUrl: `https://bridge.example.com:${port}`,
      secret,
      production: true,
      resolve: resolvesTo('127.0.0.1'),
    });
    const refused = await named.send(message).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(PermanentSendError);
    // What the creator sees names no address.
    expect((refused as Error).message).toBe('bridge address not allowed');
    expect(seen.length).toBe(before);
  });

  it('keeps the vetted host when the path looks like another authority (//host:port)', async () => {
    const other: string[] = [];
    const internal = createServer((req, res) => {
      other.push(req.url ?? '');
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => internal.listen(0, '127.0.0.1', r));
    const internalPort = (internal.address() as AddressInfo).port;
    try {
      const before = seen.length;
      const gateway = createBridgeGateway({ baseUrl: `http://127.0.0.1:${port}//127.0.0.1:${internalPort}/x`, secret, production: false });
      await gateway.send(message);
      expect(other).toEqual([]);
      expect(seen.length).toBe(before + 1);
    } finally {
      await new Promise((r) => internal.close(r));
    }
  });

  it('dials the address it vetted, not a second resolution of the name', async () => {
    // bridge.invalid resolves nowhere through DNS: the request can only reach the server through the vetted address.
    const gateway = createBridgeGateway({
      baseUrl: `http://bridge.invalid:${port}/`,
      secret,
      production: false,
      resolve: resolvesTo('127.0.0.1'),
    });
    expect(await gateway.send(message)).toMatchObject({ outcome: 'sent' });
    expect(seen.at(-1)?.host).toBe(`bridge.invalid:${port}`);
  });

  it('follows no redirect and reads no more than a capped answer', async () => {
    const odd = createServer((req, res) => {
      req.resume();
      if (req.url === '/moved/messages') res.writeHead(307, { location: `http://127.0.0.1:${port}/messages` }).end();
      else res.writeHead(201).end(Buffer.alloc(2 << 20, 'x'));
    });
    await new Promise<void>((r) => odd.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(odd.address() as AddressInfo).port}`;
    try {
      const before = seen.length;
      const moved = await createBridgeGateway({ baseUrl: `${base}/moved`, secret, production: false })
        .send(message)
        .catch((e: unknown) => e);
      expect(moved).toBeInstanceOf(PermanentSendError);
      expect((moved as Error).message).toBe('platform answered 307');
      expect(seen.length).toBe(before);
      const huge = await createBridgeGateway({ baseUrl: base, secret, production: false })
        .send(message)
        .catch((e: unknown) => e);
      expect(huge).toBeInstanceOf(TransientSendError);
      expect((huge as Error).message).toMatch(/too large/);
    } finally {
      odd.closeAllConnections();
      await new Promise((r) => odd.close(r));
    }
  });

  it('keeps network detail out of the error it reports', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const gateway = createBridgeGateway({ baseUrl: `http://127.0.0.1:${deadPort}`, secret, production: false });
    const failure = await gateway.send(message).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(TransientSendError);
    expect((failure as Error).message).not.toMatch(/127\.0\.0\.1|\d{4,5}/);
  });
});
