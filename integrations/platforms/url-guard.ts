// Where a bridge URL may point (SPEC §3). A creator types the URL and our workers call it, so it
// must not reach into our network: https only (plain http only to loopback, outside production),
// no credentials, and in production only public addresses. Names are judged by every address they
// resolve to, at connect time and again at send time, and the send dials exactly the vetted
// addresses (http.ts pinnedRequest), so a DNS answer that changes in between cannot redirect it.
// In production names are resolved by c-ares with a short timeout (createDnsResolver).
import type { LookupAddress } from 'node:dns';
import { Resolver as DnsResolver, lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  /** 100.64/10, carrier-grade NAT. */
  | 'shared'
  | 'unspecified'
  | 'multicast'
  | 'metadata'
  /** Documentation, benchmarking, broadcast, unallocated and other special-purpose ranges. */
  | 'reserved';

/** Cloud instance-metadata and platform endpoints: never a bridge, in production or not. */
const METADATA = new Set(['169.254.169.254', '169.254.170.2', '169.254.169.253', '100.100.100.200', '192.0.0.192', '168.63.129.16']);
const METADATA_V6 = new Set(['fd00:ec2:0:0:0:0:0:254']);

type Range = [prefix: string, bits: number, cls: AddressClass];
const V4_RANGES: Range[] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'reserved'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'],
  ['198.51.100.0', 24, 'reserved'],
  ['203.0.113.0', 24, 'reserved'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];
const V6_RANGES: Range[] = [
  ['64:ff9b:1::', 48, 'private'],
  ['100::', 64, 'reserved'],
  ['2001::', 23, 'reserved'],
  ['2001:db8::', 32, 'reserved'],
  ['fc00::', 7, 'private'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'private'],
  ['ff00::', 8, 'multicast'],
];

const v4Value = (ip: string) => ip.split('.').reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n);

/** An IPv6 address as a 128-bit number (zone id dropped, an embedded dotted IPv4 tail allowed). */
function v6Value(ip: string): bigint {
  let text = ip.replace(/%.*$/, '');
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = v4Value(dotted[2]!);
    text = `${dotted[1]}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const groups = (part: string) => (part ? part.split(':').map((g) => BigInt(Number.parseInt(g, 16))) : []);
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<bigint>(8 - h.length - t.length).fill(0n), ...t];
  return all.reduce((n, g) => (n << 16n) | g, 0n);
}

const inRange = (value: bigint, width: bigint, prefix: bigint, bits: number) =>
  value >> (width - BigInt(bits)) === prefix >> (width - BigInt(bits));

function classifyV4(value: bigint): AddressClass {
  const dotted = [24n, 16n, 8n, 0n].map((s) => (value >> s) & 0xffn).join('.');
  if (METADATA.has(dotted)) return 'metadata';
  return V4_RANGES.find(([p, bits]) => inRange(value, 32n, v4Value(p), bits))?.[2] ?? 'public';
}

/** What kind of address `ip` is; IPv4 carried in IPv6 (mapped, compatible, NAT64, 6to4) counts as that IPv4 address. */
export function classifyAddress(ip: string): AddressClass {
  const family = isIP(ip.replace(/%.*$/, ''));
  if (family === 4) return classifyV4(v4Value(ip));
  if (family !== 6) throw new Error('not an IP address');
  const value = v6Value(ip);
  if (value === 0n) return 'unspecified';
  if (value === 1n) return 'loopback';
  const low32 = value & 0xffffffffn;
  if (value >> 32n === 0xffffn || value >> 32n === 0n) return classifyV4(low32); // ::ffff:a.b.c.d, ::a.b.c.d
  if (value >> 32n === v6Value('64:ff9b::') >> 32n) return classifyV4(low32); // NAT64
  if (value >> 112n === 0x2002n) return classifyV4((value >> 80n) & 0xffffffffn); // 6to4
  const groups = Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(':');
  if (METADATA_V6.has(groups)) return 'metadata';
  const range = V6_RANGES.find(([p, bits]) => inRange(value, 128n, v6Value(p), bits));
  if (range) return range[2];
  return value >> 125n === 1n ? 'public' : 'reserved'; // 2000::/3 is the global unicast space
}

/** A bridge URL refused; the message is safe to show the creator (it names no resolved address). */
export class BridgeUrlError extends Error {
  constructor(
    message: string,
    /** url: the URL itself; address: where it points; unresolved: its host has no address (maybe for now). */
    readonly kind: 'url' | 'address' | 'unresolved',
  ) {
    super(message);
  }
}

export const ADDRESS_NOT_ALLOWED = 'bridge address not allowed';
const HTTPS_ONLY = 'bridgeUrl must be https (plain http is allowed only to a loopback address, outside production)';
const RESOLVE_TIMEOUT_MS = 5_000;
const DNS_TIMEOUT_MS = 2_000;

export type Resolver = (host: string) => Promise<LookupAddress[]>;

/**
 * Outside production: the system resolver, which reads /etc/hosts (`localhost` bridges). It runs
 * on libuv's thread pool and cannot be cancelled, so a name whose DNS never answers holds a thread.
 */
const systemResolver: Resolver = (host) =>
  Promise.race([
    lookup(host, { all: true, verbatim: true }),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('DNS lookup timed out')), RESOLVE_TIMEOUT_MS).unref()),
  ]);

/** A family with no record answers none; any other failure (a timeout, say) fails the resolution. */
const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND']);

/**
 * In production: DNS queries through c-ares (no thread pool), each given up after `timeoutMs`
 * without a retry, for A and AAAA records at once. `servers` overrides the system's name servers.
 */
export function createDnsResolver(options: { timeoutMs?: number; servers?: string[] } = {}): Resolver {
  const dns = new DnsResolver({ timeout: options.timeoutMs ?? DNS_TIMEOUT_MS, tries: 1 });
  if (options.servers) dns.setServers(options.servers);
  const family = (query: Promise<string[]>, f: 4 | 6) =>
    query.then(
      (found) => found.map((address) => ({ address, family: f })),
      (err: { code?: string }) => {
        if (err.code !== undefined && NO_RECORDS.has(err.code)) return [];
        throw err;
      },
    );
  return async (host) => (await Promise.all([family(dns.resolve4(host), 4), family(dns.resolve6(host), 6)])).flat();
}

let productionResolver: Resolver | undefined;
const defaultResolver = (production: boolean): Resolver => (production ? (productionResolver ??= createDnsResolver()) : systemResolver);

export interface VettedTarget {
  url: URL;
  /** Every address the host resolved to, all allowed: the only ones a request may dial. */
  addresses: LookupAddress[];
}

/** Checks a bridge URL and every address its host resolves to; throws BridgeUrlError when any rule is broken. */
export async function vetBridgeUrl(
  raw: string,
  options: { production: boolean },
  resolve: Resolver = defaultResolver(options.production),
): Promise<VettedTarget> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new BridgeUrlError('bridgeUrl is not a valid URL', 'url');
  }
  const http = url.protocol === 'http:';
  if (!http && url.protocol !== 'https:') throw new BridgeUrlError(HTTPS_ONLY, 'url');
  if (http && options.production) throw new BridgeUrlError(HTTPS_ONLY, 'url');
  if (url.username || url.password) throw new BridgeUrlError('bridgeUrl must not carry credentials (user:password@)', 'url');

  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: LookupAddress[];
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
  else {
    try {
      addresses = await resolve(host);
    } catch {
      addresses = [];
    }
    // In production the same words as a refused address: which names resolve on our side (internal
    // ones included) is not for a creator to probe.
    if (addresses.length === 0)
      throw new BridgeUrlError(options.production ? ADDRESS_NOT_ALLOWED : 'the bridge host does not resolve', 'unresolved');
  }
  for (const { address } of addresses) {
    const cls = classifyAddress(address);
    if (cls === 'metadata' || (options.production && cls !== 'public')) throw new BridgeUrlError(ADDRESS_NOT_ALLOWED, 'address');
    if (http && cls !== 'loopback') throw new BridgeUrlError(HTTPS_ONLY, 'url');
  }
  return { url, addresses };
}
