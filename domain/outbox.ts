// The send queue's outbox (SPEC §3): enqueuing outgoing messages and estimating when they go.
// Used for 1:1 messages (queueMessage in domain/messages.ts); campaigns enqueue the same rows
// set-based, 1,000 per statement (enqueueCampaignBatch in activities/campaign.ts). The creator's
// `send-queue:<creatorId>` workflow drains the outbox (workflows/send-queue.ts).
import { randomUUID } from 'node:crypto';
import { and, count, eq, gt, inArray, or, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { requestScopedId } from '../lib/crypto.js';
import { conversations, messages, platformConnections } from '../db/schema.js';
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

/**
 * Inserts a queued message into the fan's conversation (created when it is the first). With `m.id`
 * (derived from an Idempotency-Key) already taken, returns that message if it is this request's,
 * and refuses a key reused for another message (its idempotency record long gone).
 */
export async function enqueueMessage(tx: Tx, m: NewOutgoingMessage & { id?: string }) {
  const sameRequest = async (id: string) => {
    const existing = await tx.query.messages.findFirst({ where: and(eq(messages.id, id), eq(messages.creatorId, m.creatorId)) });
    if (!existing) return undefined;
    const same =
      existing.fanId === m.fan.id &&
      existing.text === m.text &&
      existing.priceCents === (m.priceCents ?? null) &&
      JSON.stringify(existing.attachments) === JSON.stringify(m.attachments ?? []) &&
      existing.priority === m.priority;
    if (!same) throw new DomainError('unprocessable', 'idempotency_key_reused', 'this Idempotency-Key was used for another message');
    return existing;
  };
  if (m.id) {
    const existing = await sameRequest(m.id);
    if (existing) return existing;
  }
  const [conversation] = await tx
    .insert(conversations)
    .values({ creatorId: m.creatorId, fanId: m.fan.id, platform: m.fan.platform })
    .onConflictDoUpdate({
      target: [conversations.creatorId, conversations.fanId],
      set: { lastMessageAt: sql`greatest(${conversations.lastMessageAt}, now())` },
    })
    .returning({ id: conversations.id });
  const id = m.id ?? randomUUID();
  const [row] = await tx
    .insert(messages)
    .values({
      id,
      creatorId: m.creatorId,
      conversationId: conversation!.id,
      fanId: m.fan.id,
      platform: m.fan.platform,
      direction: 'out',
      status: 'queued',
      priority: m.priority,
      // The message id is its idempotency key: every attempt of this message carries it.
      idempotencyKey: id,
      text: m.text,
      priceCents: m.priceCents ?? null,
      attachments: m.attachments ?? [],
      queuedAt: sql`now()`,
    })
    // Two runs of one request at once (its key abandoned while the first still ran): the later one waits and finds the row.
    .onConflictDoNothing({ target: messages.id })
    .returning();
  return row ?? (await sameRequest(id))!;
}

/**
 * When a queued message should go: the messages ahead of it (higher priority, or the same and
 * queued earlier, plus those being sent) paced evenly at the account's rate limit.
 */
export async function estimateSendTime(
  db: Db,
  message: typeof messages.$inferSelect,
  limit: { messages: number; perSeconds: number },
): Promise<Date> {
  const [ahead] = await db
    .select({ n: count() })
    .from(messages)
    .where(
      and(
        eq(messages.creatorId, message.creatorId),
        eq(messages.platform, message.platform),
        or(
          eq(messages.status, 'sending'),
          and(
            inArray(messages.status, ['queued', 'failed']),
            or(
              gt(messages.priority, message.priority),
              and(
                eq(messages.priority, message.priority),
                sql`(${messages.queuedAt}, ${messages.id}) < (${message.queuedAt!.toISOString()}::timestamptz, ${message.id}::uuid)`,
              ),
            ),
          ),
        ),
      ),
    );
  const secondsAhead = ((ahead?.n ?? 0) * limit.perSeconds) / limit.messages;
  return new Date(message.queuedAt!.getTime() + secondsAhead * 1000);
}
