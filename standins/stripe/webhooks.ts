// Events and their delivery: each event is recorded in the state, then POSTed to the webhook URL,
// signed as Stripe signs, and retried after the configured delays until it is answered 2xx.
import Stripe from 'stripe';
import type { Logger } from '../../lib/logger.js';
import { signatureHeader } from './protocol.js';
import { now, randomId, type EventDelivery, type StandinEvent, type State, type Store } from './state.js';

export const DEFAULT_RETRY_DELAYS_MS = [500, 2_000, 5_000, 15_000];
const WEBHOOK_TIMEOUT_MS = 10_000;
export const API_VERSION = Stripe.API_VERSION;

export interface WebhookOptions {
  store: Store;
  webhookUrl?: string;
  webhookSecret: string;
  retryDelays: number[];
  logger?: Logger;
}

export function createWebhooks({ store, webhookUrl, webhookSecret, retryDelays, logger }: WebhookOptions) {
  const { state, persist } = store;
  let closing = false;
  const stopDeliveries = new AbortController();
  const retryTimers = new Set<NodeJS.Timeout>();
  const inFlight = new Set<Promise<void>>();
  /** While set (a test fault: Stripe's webhooks running late), deliveries wait here instead. */
  let held: State['events'][number][] | undefined;

  function scheduleDelivery(entry: State['events'][number], delayMs: number) {
    if (closing) return;
    if (held) {
      held.push(entry);
      return;
    }
    const timer = setTimeout(() => {
      retryTimers.delete(timer);
      const attempt = deliver(entry).finally(() => inFlight.delete(attempt));
      inFlight.add(attempt);
    }, delayMs);
    retryTimers.add(timer);
  }

  async function deliver(entry: State['events'][number]) {
    if (!webhookUrl) return;
    const { event, delivery } = entry;
    const payload = JSON.stringify(event, null, 2);
    try {
      // Signed per attempt, as Stripe does, so the timestamp stays within the receiver's tolerance.
      const response = await fetch(webhookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'stripe-signature': signatureHeader(payload, webhookSecret),
        },
        body: payload,
        signal: AbortSignal.any([stopDeliveries.signal, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS)]),
      });
      await response.arrayBuffer().catch(() => undefined);
      delivery.attempts += 1;
      delivery.lastStatus = response.status;
      if (response.ok) {
        delivery.status = 'delivered';
        delivery.deliveredAt = now();
        delete delivery.lastError;
      } else {
        delivery.lastError = `HTTP ${response.status}`;
      }
    } catch (err) {
      if (closing) return; // interrupted by close(): still pending, resumed on the next start
      delivery.attempts += 1;
      const cause = (err as { cause?: { code?: string } }).cause;
      delivery.lastError = cause?.code ?? (err as Error).message;
    }
    if (delivery.status === 'pending') {
      const delay = retryDelays[delivery.attempts - 1];
      if (delay === undefined) delivery.status = 'failed';
      else scheduleDelivery(entry, delay);
      logger?.warn(
        { eventId: event.id, type: event.type, attempts: delivery.attempts, error: delivery.lastError },
        'webhook delivery failed',
      );
    } else {
      logger?.info({ eventId: event.id, type: event.type, account: event.account }, 'webhook delivered');
    }
    await persist().catch((err: unknown) => logger?.error({ err }, 'Stripe stand-in failed to save state'));
  }

  /** `account` null: an event on the platform's own account, which Stripe sends without `account`. */
  function recordEvent(
    type: string,
    account: string | null,
    object: unknown,
    previous?: Record<string, unknown>,
    request: StandinEvent['request'] = { id: null, idempotency_key: null },
  ) {
    const event: StandinEvent = {
      id: randomId('evt_', 24),
      object: 'event',
      ...(account === null ? {} : { account }),
      api_version: API_VERSION,
      created: now(),
      data: previous ? { object, previous_attributes: previous } : { object },
      livemode: false,
      pending_webhooks: webhookUrl ? 1 : 0,
      request,
      type,
    };
    const entry = { event, delivery: { status: webhookUrl ? 'pending' : 'no_endpoint', attempts: 0 } as EventDelivery };
    state.events.push(entry);
    return entry;
  }

  return {
    recordEvent,
    scheduleDelivery,
    /** Holds deliveries (true) until released (false), when the held ones go out. */
    holdDeliveries(hold: boolean) {
      if (hold) held ??= [];
      else {
        const release = held ?? [];
        held = undefined;
        for (const entry of release) scheduleDelivery(entry, 0);
      }
    },
    /** Events a previous run had not managed to deliver go out again. */
    resumePending() {
      for (const entry of state.events) if (entry.delivery.status === 'pending' && webhookUrl) scheduleDelivery(entry, 0);
    },
    /** Stops retries and waits for deliveries under way; pending events stay pending. */
    async close() {
      closing = true;
      for (const timer of retryTimers) clearTimeout(timer);
      retryTimers.clear();
      stopDeliveries.abort();
      await Promise.allSettled([...inFlight]);
    },
  };
}

export type Webhooks = ReturnType<typeof createWebhooks>;
