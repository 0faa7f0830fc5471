// HTTP helpers shared by the adapters that talk to a platform over HTTP (sandbox, bridge).
import { PLATFORM_REQUEST_TIMEOUT_MS } from '../../domain/send-limits.js';
import { PermanentSendError, TransientSendError } from './types.js';

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

/** fetch with a deadline; a network failure or timeout is transient. */
export async function platformFetch(url: string, init: RequestInit, timeoutMs = PLATFORM_REQUEST_TIMEOUT_MS): Promise<Response> {
  try {
    // No redirects: a configured URL must not be bounced somewhere else (an internal address, say).
    return await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new TransientSendError(`platform unreachable: ${(err as Error).message}`);
  }
}
