// The sandbox's shared shapes, as its control endpoints and webhooks show them.

export interface RateLimit {
  messages: number;
  perSeconds: number;
}

/** One delivered message, as GET /_sandbox/accounts/:id/deliveries shows it. */
export interface Delivery {
  idempotencyKey: string;
  messageId: string;
  fanHandle: string;
  text: string;
  priceCents: number;
  mediaUrls: string[];
  deliveredAt: string;
  /** Sends with this idempotency key: the delivery plus its replays. */
  requests: number;
}

export type PlatformEventType = 'message.received' | 'purchase.created' | 'subscription.created';

export interface PlatformEvent {
  id: string;
  type: PlatformEventType;
  createdAt: string;
  data: Record<string, unknown>;
}
