// The platform gateway (SPEC §3): how the send queue hands one message to a fan platform. OnlyFans
// has no public API, so the adapters are a local simulated platform (sandbox), an external sending
// service over signed HTTP (bridge), and a person (manual). Adapters classify failures: a transient
// one is retried with backoff, a permanent one goes to the dead-letter state.
import { createBridgeGateway } from './bridge.js';
import type { ConnectionSettings } from './connections.js';
import { createSandboxGateway } from './sandbox.js';

export interface OutgoingMessage {
  /** The same for every attempt at one message: the platform delivers it at most once. */
  idempotencyKey: string;
  fanHandle: string;
  text: string;
  priceCents: number | null;
  mediaUrls: string[];
}

export type SendOutcome =
  | { outcome: 'sent'; platformMessageId: string; sentAt: Date }
  /** Manual adapter: an operator task now exists; a person completes it through the API. */
  | { outcome: 'handed_off' };

export interface PlatformGateway {
  send(message: OutgoingMessage): Promise<SendOutcome>;
}

/** Worth another attempt later (network error, 5xx, 429). `retryAfterMs` when the platform said. */
export class TransientSendError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    readonly rateLimited = false,
  ) {
    super(message);
  }
}

/** Will fail the same way every time (fan blocked the creator, bad credentials, rejected content). */
export class PermanentSendError extends Error {}

export interface GatewayContext {
  sandboxUrl: string;
  /** Where the platform should send this connection's events (our inbound webhook). */
  webhookUrl: (connection: ConnectionSettings) => string;
}

const manualGateway: PlatformGateway = { send: async () => ({ outcome: 'handed_off' }) };

export function createGateway(connection: ConnectionSettings, context: GatewayContext): PlatformGateway {
  switch (connection.adapter) {
    case 'sandbox':
      return createSandboxGateway({
        baseUrl: context.sandboxUrl,
        accountId: connection.credentials.accountId ?? connection.id,
        apiKey: connection.credentials.apiKey ?? '',
        webhookUrl: context.webhookUrl(connection),
        webhookSecret: connection.webhookSecret,
        rateLimit: connection.rateLimit,
      });
    case 'bridge':
      return createBridgeGateway({ baseUrl: connection.credentials.bridgeUrl ?? '', secret: connection.webhookSecret });
    case 'manual':
      return manualGateway;
  }
}

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
export async function platformFetch(url: string, init: RequestInit, timeoutMs = 15_000): Promise<Response> {
  try {
    // No redirects: a configured URL must not be bounced somewhere else (an internal address, say).
    return await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new TransientSendError(`platform unreachable: ${(err as Error).message}`);
  }
}
