// An outgoing message's state changes, in one place for the send-queue worker and the API: queueing
// a 1:1 message, a delivery (which moves the conversation's lastMessageAt), a failure (backoff or
// dead letter), an operator's outcome, and the retry of a dead-lettered message. Each change names
// the state it leaves, so a message settled meanwhile by someone else is left alone.
import { and, eq, isNull, type SQL, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import type { Db } from '../db/client.js';
import { conversations, fans, messages, platformConnections } from '../db/schema.js';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { PermanentSendError, TransientSendError } from '../integrations/platforms/types.js';
import { DomainError, notFoundError } from './errors.js';
import {
  connectionFor,
  enqueueMessage,
  estimatedSendTime,
  messageIdForRequest,
  type OutboxConfig,
  PRIORITY,
  type PriorityName,
} from './outbox.js';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
type Message = typeof messages.$inferSelect;
type Status = Message['status'];
/** Wakes a creator's send queue (processes/send-queue.ts). */
export interface SendQueueWaker {
  wake(creatorId: string): Promise<void>;
}
/** A message of a creator. */
export interface MessageKey {
  creatorId: string;
  id: string;
}

/** The longest backoff between attempts of one message. */
const MAX_BACKOFF_MS = 15 * 60_000;
/** `ms` from now on the database's clock, the one every due time is compared against. */
const after = (ms: number) => sql`now() + make_interval(secs => ${ms / 1000})`;

const transition = (db: Db | Tx, key: MessageKey, from: Status, values: PgUpdateSetSource<typeof messages>) =>
  db
    .update(messages)
    .set(values)
    .where(and(eq(messages.id, key.id), eq(messages.creatorId, key.creatorId), eq(messages.status, from)))
    .returning();

/**
 * Queues one outgoing message to a live fan of the creator and wakes the send queue, unless it is
 * draining that platform already (domain/send-queue-awake.ts). The message is committed first; if
 * the queue cannot be woken (Temporal down), it is withdrawn again and the error is thrown for the
 * caller to retry, unless a running queue already picked it up.
 */
export async function queueMessage(
  deps: { db: Db; config: OutboxConfig; sendQueue: SendQueueWaker; log: Pick<Logger, 'warn'> },
  creatorId: string,
  input: {
    fanId: string;
    text: string;
    priceCents?: number;
    attachments?: string[];
    priority: PriorityName;
    /** The request's Idempotency-Key and its scope (api/idempotency.ts), if it carried one. */
    idempotency?: { scope: string; key: string } | null;
  },
) {
  const { db, config, sendQueue, log } = deps;
  // The fan and the account's rate limit in one query (the send API's hot path).
  const [target] = await db
    .select({
      fan: { id: fans.id, platform: fans.platform, optedOutAt: fans.optedOutAt },
      limit: { messages: platformConnections.rateLimitMessages, perSeconds: platformConnections.rateLimitSeconds },
    })
    .from(fans)
    .leftJoin(platformConnections, and(eq(platformConnections.creatorId, fans.creatorId), eq(platformConnections.platform, fans.platform)))
    .where(and(eq(fans.id, input.fanId), eq(fans.creatorId, creatorId), isNull(fans.deletedAt)));
  if (!target) throw notFoundError('fan');
  const { fan } = target;
  if (fan.optedOutAt) throw new DomainError('unprocessable', 'fan_opted_out', 'this fan opted out of messages');
  let limit = target.limit;
  if (!limit) {
    const connection = await connectionFor(db, config, creatorId, fan.platform);
    limit = { messages: connection.rateLimitMessages, perSeconds: connection.rateLimitSeconds };
  }
  const { message, awake, ahead } = await enqueueMessage(db, {
    id: input.idempotency ? messageIdForRequest(creatorId, input.idempotency) : undefined,
    creatorId,
    fan,
    text: input.text,
    priceCents: input.priceCents,
    attachments: input.attachments,
    priority: PRIORITY[input.priority],
  });
  try {
    // A queue draining this platform takes the message with its next batch: no Temporal call.
    if (!awake) await sendQueue.wake(creatorId);
  } catch (err) {
    // Withdrawn, the caller may retry; not withdrawn (the queue took it, or the database is down
    // too), it stays queued and the outbox sweep wakes the queue: answering 202 avoids a duplicate.
    const withdrawn = await db
      .delete(messages)
      .where(and(eq(messages.id, message.id), eq(messages.status, 'queued')))
      .returning({ id: messages.id })
      .catch(() => []);
    if (withdrawn.length > 0) throw err;
    log.warn({ err, messageId: message.id }, 'send queue not woken; the message stays queued for the outbox sweep');
  }
  return { message, estimatedSendTime: estimatedSendTime(message.queuedAt!, ahead, limit) };
}

/** Delivered (by the worker or, for the manual adapter, by an operator): the conversation moves with it. */
export async function markSent(
  db: Db,
  key: MessageKey,
  from: 'sending' | 'awaiting_operator',
  sent: { sentAt?: Date; platformMessageId?: string },
): Promise<Message | undefined> {
  return db.transaction(async (tx) => {
    const [row] = await transition(tx, key, from, {
      status: 'sent',
      sentAt: sent.sentAt ?? sql`now()`,
      platformMessageId: sent.platformMessageId,
      lastError: null,
    });
    if (row)
      await tx
        .update(conversations)
        .set({ lastMessageAt: sql`greatest(${conversations.lastMessageAt}, ${row.sentAt!.toISOString()}::timestamptz)` })
        .where(eq(conversations.id, row.conversationId));
    return row;
  });
}

/** The manual adapter: the platform got it from us, a person sends it and completes it here. */
export const markHandedOff = (db: Db, key: MessageKey) => transition(db, key, 'sending', { status: 'awaiting_operator', lastError: null });

/** Not sent, and never will be: the fan left or the campaign was cancelled after it was queued. */
export const markCancelled = (db: Db, key: MessageKey, reason: string) =>
  transition(db, key, 'sending', { status: 'cancelled', lastError: reason });

/** Rate-limited (or held back after a 429): back to the queue, the attempt not counted, after `waitMs`. */
export const putBack = (db: Db, key: MessageKey, attempts: number, waitMs: number) =>
  transition(db, key, 'sending', { status: 'queued', attempts: attempts - 1, availableAt: after(waitMs) });

/** A send failed after `attempts` attempts: transient ones wait a backoff, others (or the last) are dead-lettered. */
export async function markFailed(
  db: Db,
  config: Pick<Config, 'SEND_RETRY_BASE_SECONDS' | 'SEND_MAX_ATTEMPTS'>,
  key: MessageKey,
  attempts: number,
  err: unknown,
): Promise<void> {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof TransientSendError && attempts < config.SEND_MAX_ATTEMPTS) {
    const backoff = err.retryAfterMs ?? Math.min(config.SEND_RETRY_BASE_SECONDS * 1000 * 2 ** (attempts - 1), MAX_BACKOFF_MS);
    await transition(db, key, 'sending', { status: 'failed', lastError: message, availableAt: after(backoff) });
    return;
  }
  const reason = err instanceof PermanentSendError ? message : `gave up after ${attempts} attempts: ${message}`;
  await transition(db, key, 'sending', { status: 'dead', lastError: reason });
}

/**
 * Dead-lettered messages matching `where` back to the queue, as new (same idempotency key, so none
 * is delivered twice). A query builder: add `.returning()` for the rows.
 */
export const requeueDead = (db: Db, where: SQL | undefined) =>
  db
    .update(messages)
    .set({ status: 'queued', attempts: 0, lastError: null, availableAt: sql`now()`, queuedAt: sql`now()` })
    .where(and(eq(messages.status, 'dead'), where));

async function statusOf(db: Db, key: MessageKey): Promise<Status> {
  const row = await db.query.messages.findFirst({
    where: and(eq(messages.id, key.id), eq(messages.creatorId, key.creatorId)),
    columns: { status: true },
  });
  if (!row) throw notFoundError('message');
  return row.status;
}

/** Sends a dead-lettered message again and wakes the queue (a lost wake is the outbox sweep's). */
export async function retryDeadMessage(deps: { db: Db; sendQueue: SendQueueWaker; log: Pick<Logger, 'warn'> }, key: MessageKey) {
  const [row] = await requeueDead(deps.db, and(eq(messages.id, key.id), eq(messages.creatorId, key.creatorId))).returning();
  if (!row) {
    const status = await statusOf(deps.db, key);
    throw new DomainError('invalid_state', 'not_dead', `only a dead-lettered message can be retried; this one is ${status}`);
  }
  await deps.sendQueue
    .wake(key.creatorId)
    .catch((err: unknown) => deps.log.warn({ err, messageId: row.id }, 'send queue not woken after retry'));
  return row;
}

/** The manual adapter's operator says whether they sent the message on the platform. */
export async function completeByOperator(
  db: Db,
  key: MessageKey,
  result: { outcome: 'sent'; platformMessageId?: string } | { outcome: 'failed'; error?: string },
): Promise<Message> {
  const row = await (result.outcome === 'sent'
    ? markSent(db, key, 'awaiting_operator', { platformMessageId: result.platformMessageId })
    : transition(db, key, 'awaiting_operator', { status: 'dead', lastError: result.error ?? 'the operator could not send it' }).then(
        (rows) => rows[0],
      )
  ).catch((err: unknown) => {
    if ((err as { cause?: { code?: string } }).cause?.code === '23505')
      throw new DomainError('conflict', 'platform_message_id_taken', 'another message already has this platformMessageId');
    throw err;
  });
  if (row) return row;
  const status = await statusOf(db, key);
  throw new DomainError('invalid_state', 'not_awaiting_operator', `this message is ${status}, not waiting for an operator`);
}
