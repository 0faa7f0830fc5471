// What every fan-platform adapter speaks: the message it is given, the outcome it reports, and the
// two failure classes the send queue acts on (transient: retry with backoff; permanent: dead-letter).

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
