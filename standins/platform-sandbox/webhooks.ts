// Background work: signed webhooks to an account's endpoint, retried after each delay, and the
// fans' reactions (replies, purchases) to a delivery. close() stops it and waits for what runs.
import type { Logger } from '../../lib/logger.js';
import { SIGNATURE_HEADER, signPayload } from '../../integrations/platforms/signature.js';
import type { Account } from './accounts.js';
import type { Delivery, PlatformEvent, PlatformEventType } from './types.js';
import { newId, type Json } from './protocol.js';

export const DEFAULT_RETRY_DELAYS_MS = [1_000, 5_000, 30_000];
const WEBHOOK_TIMEOUT_MS = 10_000;
const FAN_REPLIES = ['thanks!', 'love it', 'omg yes 😍', 'you made my day', 'more please!', 'so cute'];

export interface BackgroundOptions {
  logger?: Logger;
  retryDelays: number[];
  replyProbability: number;
  purchaseProbability: number;
}

export function createBackground({ logger, retryDelays, replyProbability, purchaseProbability }: BackgroundOptions) {
  let closing = false;
  const stopWebhooks = new AbortController();
  const timers = new Set<NodeJS.Timeout>();
  const inFlight = new Set<Promise<unknown>>();

  /** Runs `task` after `delayMs` unless close() comes first; close() waits for it once started. */
  function later(delayMs: number, task: () => Promise<unknown>) {
    if (closing) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const running = task()
        .catch((err: unknown) => logger?.error({ err }, 'platform sandbox background task failed'))
        .finally(() => inFlight.delete(running));
      inFlight.add(running);
    }, delayMs);
    timers.add(timer);
  }

  /**
   * POSTs `event` to the account's webhook and resolves with whether that first attempt got a 2xx;
   * failures are retried in the background after each of the retry delays. Every attempt carries the
   * same body and is signed afresh, so its timestamp stays within the receiver's tolerance.
   */
  function emit(account: Account, type: PlatformEventType, data: Json): { eventId: string; delivered: Promise<boolean> } {
    const event: PlatformEvent = { id: newId('evt_'), type, createdAt: new Date().toISOString(), data };
    const body = JSON.stringify(event);
    const log = { accountId: account.id, eventId: event.id, type };

    const attempt = async (retries: number): Promise<boolean> => {
      // Read at each attempt: a PUT may have moved the endpoint or rotated the secret meanwhile.
      const { webhookUrl, webhookSecret } = account;
      if (!webhookUrl || !webhookSecret) {
        logger?.debug(log, 'platform sandbox has no webhook for the account; event dropped');
        return false;
      }
      let failure: string;
      try {
        const response = await fetch(webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signPayload(webhookSecret, body) },
          body,
          signal: AbortSignal.any([stopWebhooks.signal, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS)]),
        });
        await response.arrayBuffer().catch(() => undefined);
        if (response.ok) {
          logger?.info({ ...log, retries }, 'platform sandbox delivered webhook');
          return true;
        }
        failure = `HTTP ${response.status}`;
      } catch (err) {
        if (closing) return false;
        failure = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      }
      const delay = retryDelays[retries];
      if (delay === undefined) {
        logger?.warn({ ...log, failure, retries }, 'platform sandbox gave up on webhook');
      } else {
        logger?.warn({ ...log, failure, retries, retryInMs: delay }, 'platform sandbox webhook failed; will retry');
        later(delay, () => attempt(retries + 1));
      }
      return false;
    };
    return { eventId: event.id, delivered: attempt(0) };
  }

  /** Fans react to a delivery now and then, as they would on the real platform. */
  function simulateFans(account: Account, delivery: Delivery) {
    const fanDelay = () => 1_000 + Math.random() * 4_000;
    if (Math.random() < replyProbability) {
      later(
        fanDelay(),
        () =>
          emit(account, 'message.received', {
            fanHandle: delivery.fanHandle,
            text: FAN_REPLIES[Math.floor(Math.random() * FAN_REPLIES.length)]!,
            messageId: newId('msg_'),
            sentAt: new Date().toISOString(),
          }).delivered,
      );
    }
    if (delivery.priceCents > 0 && Math.random() < purchaseProbability) {
      later(
        fanDelay(),
        () =>
          emit(account, 'purchase.created', {
            fanHandle: delivery.fanHandle,
            amountCents: delivery.priceCents,
            messageId: delivery.messageId,
            purchasedAt: new Date().toISOString(),
          }).delivered,
      );
    }
  }

  return {
    emit,
    simulateFans,
    async close() {
      closing = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      stopWebhooks.abort();
      await Promise.allSettled([...inFlight]);
    },
  };
}

export type Background = ReturnType<typeof createBackground>;
