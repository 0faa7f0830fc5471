// HTTP helpers shared by the adapters that talk to a platform over HTTP (sandbox, bridge).
import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { PLATFORM_REQUEST_TIMEOUT_MS } from '../../domain/send-limits.js';
import { PermanentSendError, TransientSendError } from './types.js';
import { ADDRESS_NOT_ALLOWED } from './url-guard.js';

/**
 * Classifies an HTTP answer from a platform: 429 and 5xx are transient, other 4xx permanent. Only
 * the status and the error code of a JSON error body are kept (it becomes a message's lastError,
 * which the API shows): never raw bodies from a URL a creator configured.
 */
export function httpFailure(status: number, body: string, retryAfterHeader: string | null): Error {
  const retryAfterSeconds = Number(retryAfterHeader);
  const retryAfterMs = Number.isFinite(retryAfterSeconds) && retryAfterSeconds > 0 ? retryAfterSeconds * 1000 : undefined;
  let code = '';
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown } };
    if (typeof parsed.error?.code === 'string' && /^[\w.-]{1,64}$/.test(parsed.error.code)) code = ` ${parsed.error.code}`;
  } catch {
    // not JSON: the status says enough
  }
  const message = `platform answered ${status}${code}`;
  if (status === 429) return new TransientSendError(message, retryAfterMs, true);
  if (status >= 500 || status === 408) return new TransientSendError(message, retryAfterMs);
  return new PermanentSendError(message);
}

/**
 * A 2xx whose body cannot be read: the message may have been delivered, so it is retried (with
 * its idempotency key, which makes a delivered one a replay) rather than dead-lettered.
 */
export function readSent(body: string): { id: string; sentAt: Date } {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    const id = parsed.id ?? parsed.messageId;
    const sentAt = new Date(String(parsed.deliveredAt ?? parsed.sentAt));
    if (typeof id === 'string' && id.length > 0 && id.length <= 200 && !Number.isNaN(sentAt.getTime())) return { id, sentAt };
  } catch {
    // fall through
  }
  throw new TransientSendError('the platform accepted the message but its answer is unreadable');
}

/**
 * Why a request got no answer, for a message's lastError: an error code at most (ECONNREFUSED,
 * timeout), never the error's text, which names addresses and ports.
 */
function unreachable(err: unknown): TransientSendError {
  const e = err as { name?: unknown; code?: unknown; cause?: { code?: unknown } };
  const code = [e.cause?.code, e.code].find((c): c is string => typeof c === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(c));
  // Only the kind of failure: exact codes (refused, reset, certificate) would map which ports
  // answer on a host the creator named.
  const reason =
    e.name === 'TimeoutError' || code === 'ABORT_ERR' || code === 'ETIMEDOUT'
      ? 'timeout'
      : code && /CERT|TLS|SSL/.test(code)
        ? 'tls'
        : 'no connection';
  return new TransientSendError(`platform unreachable (${reason})`);
}

/** fetch with a deadline; a network failure or timeout is transient. */
export async function platformFetch(url: string, init: RequestInit, timeoutMs = PLATFORM_REQUEST_TIMEOUT_MS): Promise<Response> {
  try {
    // No redirects: a configured URL must not be bounced somewhere else (an internal address, say).
    return await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw unreachable(err);
  }
}

export interface PlatformAnswer {
  status: number;
  header(name: string): string | null;
  text: string;
}

/** Larger answers are cut off: a bridge says who it sent to, not more. */
const MAX_ANSWER_BYTES = 1 << 20;
// Agents of their own: every pooled socket was dialled through a pinned lookup.
// Bounded: hosts are the creators' choice, so idle sockets time out and their number is capped.
const agentOptions = { keepAlive: true, timeout: 30_000, maxSockets: 16, maxTotalSockets: 64, maxFreeSockets: 4 };
const agents = { 'http:': new HttpAgent(agentOptions), 'https:': new HttpsAgent(agentOptions) };

/**
 * A request that dials only `addresses` (vetted by url-guard.ts) whatever the DNS says now, with a
 * deadline and a capped answer. Redirects are not followed: a 3xx is a permanent failure (httpFailure).
 * TLS still checks the certificate against the URL's host name.
 */
export function pinnedRequest(
  url: URL,
  addresses: LookupAddress[],
  init: { method: string; headers: Record<string, string>; body: string },
  timeoutMs = PLATFORM_REQUEST_TIMEOUT_MS,
): Promise<PlatformAnswer> {
  // An address literal is dialled without a lookup: it must itself be one of the vetted addresses.
  const literal = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(literal) && !addresses.some((a) => a.address === literal)) {
    return Promise.reject(new PermanentSendError(ADDRESS_NOT_ALLOWED));
  }
  const lookup = ((_host, options, callback) => {
    if (options.all) return callback(null, addresses);
    const chosen = addresses.find((a) => a.family === options.family) ?? addresses[0]!;
    callback(null, chosen.address, chosen.family);
  }) as LookupFunction;
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<PlatformAnswer>((resolve, reject) => {
    const answered = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_ANSWER_BYTES) return chunks.push(chunk);
        reject(new TransientSendError('the platform answer is too large'));
        req.destroy();
      });
      res.on('error', reject);
      res.on('close', () => (res.complete ? undefined : reject(new Error('answer cut short'))));
      res.on('end', () => {
        const header = (name: string) => {
          const value = res.headers[name.toLowerCase()];
          return typeof value === 'string' ? value : null;
        };
        resolve({ status: res.statusCode ?? 0, header, text: Buffer.concat(chunks).toString('utf8') });
      });
    };
    const req = request(
      url,
      {
        method: init.method,
        headers: { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) },
        agent: agents[url.protocol === 'https:' ? 'https:' : 'http:'],
        lookup,
        signal: AbortSignal.timeout(timeoutMs),
      },
      answered,
    );
    req.on('error', reject);
    req.end(init.body);
  }).catch((err: unknown) => {
    throw err instanceof TransientSendError ? err : unreachable(err);
  });
}
