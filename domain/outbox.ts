// The send queue's outbox (SPEC §3): enqueuing outgoing messages and estimating when they go.
// Used for 1:1 messages (queueMessage in domain/messages.ts); campaigns enqueue the same rows
// set-based, 1,000 per statement (enqueueCampaignBatch in activities/campaign.ts). The creator's
// `send-queue:<creatorId>` workflow drains the outbox (workflows/send-queue.ts).
import { randomUUID } from 'node:crypto';
import { and, eq, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { requestScopedId } from '../lib/crypto.js';
import { rowFromJson } from '../db/rows.js';
import { conversations, messages, platformConnections, sendQueueAwake } from '../db/schema.js';
import type { Config } from '../lib/config.js';
import { DomainError } from './errors.js';
import { newSecrets, sealSecrets } from './platform-connections.js';

/** Higher goes first. 1:1 messages default to `normal`, campaigns send at `low`. */
export const PRIORITY = { high: 2, normal: 1, low: 0 } as const;
export type PriorityName = keyof typeof PRIORITY;

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type OutboxConfig = Pick<Config, 'production' | 'CREDENTIALS_KEY' | 'SEND_RATE_LIMIT_PER_MINUTE'>;

export class NotConnectedError extends DomainError {
  constructor(platform: string) {
    super('unprocessable', 'platform_not_connected', `connect ${platform} first (PUT /platforms/${platform}/connection)`);
  }
}

/**
 * The creator's connection to `platform`. Outside production a creator who never connected gets a
 * sandbox connection on first send (the local simulated platform), so the whole flow runs offline.
 */
export async function connectionFor(db: Db | Tx, config: OutboxConfig, creatorId: string, platform: string) {
  const existing = await db.query.platformConnections.findFirst({
    where: and(eq(platformConnections.creatorId, creatorId), eq(platformConnections.platform, platform)),
  });
  if (existing) return existing;
  if (config.production) throw new NotConnectedError(platform);
  await db
    .insert(platformConnections)
    .values({
      creatorId,
      platform,
      adapter: 'sandbox',
      rateLimitMessages: config.SEND_RATE_LIMIT_PER_MINUTE,
      rateLimitSeconds: 60,
      ...sealSecrets(config.CREDENTIALS_KEY, newSecrets('sandbox', undefined)),
    })
    .onConflictDoNothing();
  const created = await db.query.platformConnections.findFirst({
    where: and(eq(platformConnections.creatorId, creatorId), eq(platformConnections.platform, platform)),
  });
  if (!created) throw new Error('connection vanished after insert');
  return created;
}

export interface NewOutgoingMessage {
  creatorId: string;
  fan: { id: string; platform: string };
  text: string;
  priceCents?: number | null;
  attachments?: string[];
  priority: number;
}

/** The name space of 1:1 message ids derived from Idempotency-Keys (a fixed random UUID). */
const SEND_REQUEST_NAMESPACE = 'c1d7e0a2-5b64-4f3e-8a9d-2e6f0b7c4d18';

/**
 * The message id of a send with an Idempotency-Key (`scope`: the caller and route the key belongs
 * to, as the idempotency layer keys it), so a request re-run after its first answer was lost (the
 * API died between the commit and recording the answer) finds the message it queued instead of
 * queueing a second one.
 */
export const messageIdForRequest = (creatorId: string, request: { scope: string; key: string }): string =>
  requestScopedId(SEND_REQUEST_NAMESPACE, creatorId, `${request.scope}\n${request.key}`);

type Message = typeof messages.$inferSelect;

/** A message just queued: whether its creator's queue is awake for its platform, and how many messages go before it. */
export interface Enqueued {
  message: Message;
  /** The queue runs another batch for this platform without a signal (domain/send-queue-awake.ts). */
  awake: boolean;
  /** Messages that go before it: being sent, or waiting at a higher priority, or at its own and queued earlier. */
  ahead: number;
}

/** Messages ahead of the one with these values in its creator's outbox for its platform (see Enqueued.ahead). */
const aheadOf = (creatorId: string, platform: string, priority: number, queuedAt: SQL, id: SQL) => sql`(
  select count(*)::int from ${messages} a
  where a.creator_id = ${creatorId} and a.platform = ${platform}
    and (a.status = 'sending'
      or (a.status in ('queued', 'failed')
        and (a.priority > ${priority} or (a.priority = ${priority} and (a.queued_at, a.id) < (${queuedAt}, ${id}))))))`;

/**
 * Inserts a queued message into the fan's conversation (created when it is the first), in one
 * statement with what the API needs next: whether the queue is awake (read under the awake row's
 * share lock, as domain/send-queue-awake.ts requires of the transaction that queues) and the
 * messages ahead of it. One statement because this is the send API's hot path. With `m.id`
 * (derived from an Idempotency-Key) already taken, returns that message if it is this request's,
 * and refuses a key reused for another message (its idempotency record long gone).
 */
export async function enqueueMessage(db: Db | Tx, m: NewOutgoingMessage & { id?: string }): Promise<Enqueued> {
  const id = m.id ?? randomUUID();
  const platform = m.fan.platform;
  const awake = sql`coalesce((
    select w.awake_until > now() from ${sendQueueAwake} w
    where w.creator_id = ${m.creatorId} and w.platform = ${platform} for share), false)`;
  const [inserted] = await db.execute<{ message: Record<string, unknown>; awake: boolean; ahead: number }>(sql`
    with conversation as (
      insert into ${conversations} (creator_id, fan_id, platform)
      select ${m.creatorId}::uuid, ${m.fan.id}::uuid, ${platform}::text
      where not exists (select 1 from ${messages} where id = ${id} and creator_id = ${m.creatorId})
      on conflict (creator_id, fan_id) do update set last_message_at = greatest(${conversations}.last_message_at, now())
      returning id
    ), queued as (
      insert into ${messages} (id, creator_id, conversation_id, fan_id, platform, direction, status, priority,
        idempotency_key, text, price_cents, attachments, queued_at)
      -- The message id is its idempotency key: every attempt of this message carries it.
      select ${id}::uuid, ${m.creatorId}::uuid, conversation.id, ${m.fan.id}::uuid, ${platform}::text, 'out'::message_direction,
        'queued'::message_status, ${m.priority}::smallint, ${id}::text, ${m.text}::text, ${m.priceCents ?? null}::integer,
        ${JSON.stringify(m.attachments ?? [])}::jsonb, now()
      from conversation
      -- Two runs of one request at once (its key abandoned while the first still ran): the later one finds the row below.
      on conflict (id) do nothing
      returning *
    )
    select to_jsonb(queued) as message, ${awake} as awake,
      ${aheadOf(m.creatorId, platform, m.priority, sql`queued.queued_at`, sql`queued.id`)} as ahead
    from queued`);
  if (inserted) return { message: rowFromJson(messages, inserted.message), awake: inserted.awake, ahead: inserted.ahead };

  const existing = await db.query.messages.findFirst({ where: and(eq(messages.id, id), eq(messages.creatorId, m.creatorId)) });
  const same =
    existing !== undefined &&
    existing.fanId === m.fan.id &&
    existing.text === m.text &&
    existing.priceCents === (m.priceCents ?? null) &&
    JSON.stringify(existing.attachments) === JSON.stringify(m.attachments ?? []) &&
    existing.priority === m.priority;
  if (!same) throw new DomainError('unprocessable', 'idempotency_key_reused', 'this Idempotency-Key was used for another message');
  const [again] = await db.execute<{ ahead: number }>(
    sql`select ${aheadOf(m.creatorId, platform, m.priority, sql`e.queued_at`, sql`e.id`)} as ahead from ${messages} e where e.id = ${id} and e.creator_id = ${m.creatorId}`,
  );
  // Not awake as far as this request knows: a re-run wakes the queue again, which costs a signal, never a message.
  return { message: existing, awake: false, ahead: again?.ahead ?? 0 };
}

/** When a message with `ahead` messages before it should go: paced evenly at the account's rate limit. */
export const estimatedSendTime = (queuedAt: Date, ahead: number, limit: { messages: number; perSeconds: number }): Date =>
  new Date(queuedAt.getTime() + ((ahead * limit.perSeconds) / limit.messages) * 1000);
