// The send queue's side effects (workflows/send-queue.ts decides when and how many): claim due
// messages from the outbox, send each through the creator's platform gateway with its idempotency
// key, and record each outcome. Safe to run twice: a claimed message is `sending` until its outcome
// is written, and a later attempt sends leftover `sending` messages again with the same key, which
// the platform answers without delivering twice.
import { Context, log } from '@temporalio/activity';
import Bottleneck from 'bottleneck';
import { and, asc, count, desc, eq, gt, inArray, lte, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { conversations, fans, messages } from '../db/schema.js';
import type { Config } from '../lib/config.js';
import { inboundWebhookUrl, loadConnections, type ConnectionSettings } from '../lib/platforms/connections.js';
import type { SendQueueProcess } from '../lib/send-queue-process.js';
import { createGateway, guarded, PermanentSendError, TransientSendError, type PlatformGateway } from '../lib/platforms/gateway.js';

export interface PlatformLimit {
  messages: number;
  windowMs: number;
}

export interface SendBatchResult {
  /** The rate limit of every platform the creator is connected to. */
  limits: Record<string, PlatformLimit>;
  /** Requests made to each platform in this batch (what the rate window counts). */
  attempted: Record<string, number>;
  /** Messages due now and still waiting, per platform (counted up to DUE_COUNT_CAP). */
  due: Record<string, number>;
  /** When the next message in backoff becomes due (epoch ms), if any. */
  nextDueAt: number | null;
  sent: number;
}

const DUE_COUNT_CAP = 1_000;
/** The longest backoff between attempts of one message. */
const MAX_BACKOFF_MS = 15 * 60_000;
/** Requests in flight at once per worker process, across all creators (see `guarded`). */
const MAX_CONCURRENT_SENDS = 16;

export type SendQueueDeps = {
  db: Db;
  /** Wakes creators' queues (the outbox sweep). */
  sendQueue: SendQueueProcess;
  config: Pick<Config, 'CREDENTIALS_KEY' | 'PLATFORM_SANDBOX_URL' | 'PUBLIC_API_URL' | 'SEND_RETRY_BASE_SECONDS' | 'SEND_MAX_ATTEMPTS'>;
};
/** A queued message this old was not picked up: whoever queued it may have died before the wake. */
const STRANDED_AFTER_SECONDS = 60;

const limitOf = (c: ConnectionSettings): PlatformLimit => ({ messages: c.rateLimit.messages, windowMs: c.rateLimit.perSeconds * 1000 });

type Claimed = Awaited<ReturnType<typeof loadClaimed>>[number];

async function loadClaimed(db: Db, ids: string[]) {
  if (ids.length === 0) return [];
  return db
    .select({
      id: messages.id,
      platform: messages.platform,
      conversationId: messages.conversationId,
      idempotencyKey: messages.idempotencyKey,
      text: messages.text,
      priceCents: messages.priceCents,
      attachments: messages.attachments,
      attempts: messages.attempts,
      fanId: messages.fanId,
      fanHandle: fans.handle,
      fanGone: sql<boolean>`${fans.deletedAt} is not null or ${fans.optedOutAt} is not null`,
      fanDeleted: sql<boolean>`${fans.deletedAt} is not null`,
    })
    .from(messages)
    .innerJoin(fans, eq(fans.id, messages.fanId))
    .where(inArray(messages.id, ids))
    .orderBy(desc(messages.priority), asc(messages.queuedAt), asc(messages.id));
}

export function createSendQueueActivities({ db, config, sendQueue }: SendQueueDeps) {
  const limiter = new Bottleneck({ maxConcurrent: MAX_CONCURRENT_SENDS });
  const gatewayContext = {
    sandboxUrl: config.PLATFORM_SANDBOX_URL,
    webhookUrl: (c: ConnectionSettings) => inboundWebhookUrl(config.PUBLIC_API_URL, c),
  };

  /** Leftovers of an interrupted attempt first (they are already claimed), then new claims. */
  async function claim(creatorId: string, platform: string, max: number): Promise<string[]> {
    const leftovers = await db
      .select({ id: messages.id })
      .from(messages)
      .where(and(eq(messages.creatorId, creatorId), eq(messages.platform, platform), eq(messages.status, 'sending')))
      .limit(max);
    const ids = leftovers.map((r) => r.id);
    if (ids.length < max) {
      const claimed = await db.execute<{ id: string }>(sql`
        with next as (
          select id from messages
          where creator_id = ${creatorId} and platform = ${platform} and status in ('queued', 'failed') and available_at <= now()
          order by priority desc, queued_at, id
          limit ${max - ids.length}
          for update skip locked
        )
        update messages m set status = 'sending', attempts = m.attempts + 1
        from next where m.id = next.id
        returning m.id`);
      ids.push(...claimed.map((r) => r.id));
    }
    return ids;
  }

  const settle = (id: string, values: Partial<typeof messages.$inferInsert>) =>
    db.update(messages).set(values).where(and(eq(messages.id, id), eq(messages.status, 'sending')));

  async function send(gateway: PlatformGateway, m: Claimed): Promise<void> {
    const outcome = await gateway.send({ idempotencyKey: m.idempotencyKey, fanHandle: m.fanHandle, text: m.text, priceCents: m.priceCents, mediaUrls: m.attachments });
    if (outcome.outcome === 'handed_off') {
      await settle(m.id, { status: 'awaiting_operator', lastError: null });
      return;
    }
    await db.transaction(async (tx) => {
      await tx
        .update(messages)
        .set({ status: 'sent', sentAt: outcome.sentAt, platformMessageId: outcome.platformMessageId, lastError: null })
        .where(and(eq(messages.id, m.id), eq(messages.status, 'sending')));
      await tx
        .update(conversations)
        .set({ lastMessageAt: sql`greatest(${conversations.lastMessageAt}, ${outcome.sentAt.toISOString()}::timestamptz)` })
        .where(eq(conversations.id, m.conversationId));
    });
  }

  /** Transient: back to the queue after a backoff, or dead-letter once the attempts are spent. */
  async function failed(m: Claimed, err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof TransientSendError && m.attempts < config.SEND_MAX_ATTEMPTS) {
      const backoff = err.retryAfterMs ?? Math.min(config.SEND_RETRY_BASE_SECONDS * 1000 * 2 ** (m.attempts - 1), MAX_BACKOFF_MS);
      await settle(m.id, { status: 'failed', lastError: message, availableAt: new Date(Date.now() + backoff) });
      return;
    }
    const reason = err instanceof PermanentSendError ? message : `gave up after ${m.attempts} attempts: ${message}`;
    await settle(m.id, { status: 'dead', lastError: reason });
  }

  return {
    /**
     * The outbox sweep (run every minute by a Schedule): wakes the queue of every creator with a
     * message queued over a minute ago and still due. An API process that died between committing a
     * message and waking the queue would otherwise leave it until that creator's next send. A wake
     * of a queue that is merely busy with a backlog costs it one batch call.
     */
    async wakeStrandedSendQueues(): Promise<{ woken: number }> {
      const rows = await db
        .selectDistinct({ creatorId: messages.creatorId })
        .from(messages)
        .where(and(eq(messages.status, 'queued'), lte(messages.availableAt, sql`now()`), lte(messages.queuedAt, sql`now() - make_interval(secs => ${STRANDED_AFTER_SECONDS})`)));
      for (const { creatorId } of rows) await sendQueue.wake(creatorId);
      return { woken: rows.length };
    },

    async loadSendLimits({ creatorId }: { creatorId: string }): Promise<Record<string, PlatformLimit>> {
      const connections = await loadConnections(db, config.CREDENTIALS_KEY, creatorId);
      return Object.fromEntries(connections.map((c) => [c.platform, limitOf(c)]));
    },

    /** Claims at most `budgets[platform]` messages per platform, sends them, records each outcome. */
    async sendDueMessages({ creatorId, budgets }: { creatorId: string; budgets: Record<string, number> }): Promise<SendBatchResult> {
      const connections = await loadConnections(db, config.CREDENTIALS_KEY, creatorId);
      const result: SendBatchResult = { limits: Object.fromEntries(connections.map((c) => [c.platform, limitOf(c)])), attempted: {}, due: {}, nextDueAt: null, sent: 0 };

      for (const connection of connections) {
        const max = Math.max(0, Math.floor(budgets[connection.platform] ?? 0));
        if (max === 0) continue;
        const claimed = await loadClaimed(db, await claim(creatorId, connection.platform, max));
        const gateway = guarded(createGateway(connection, gatewayContext), limiter);
        let throttled = false;
        let attempted = 0;
        // Messages to one fan go out in queue order; different fans in parallel.
        const chains = new Map<string, Promise<void>>();
        for (const m of claimed) {
          const run = async () => {
            if (m.fanGone) {
              await settle(m.id, { status: 'cancelled', lastError: m.fanDeleted ? 'the fan was deleted' : 'the fan opted out' });
              return;
            }
            if (throttled) {
              // The platform said 429 to a request of this batch: hand the rest back untouched.
              await settle(m.id, { status: 'queued', attempts: m.attempts - 1 });
              return;
            }
            attempted += 1;
            try {
              await send(gateway, m);
              result.sent += 1;
            } catch (err) {
              if (err instanceof TransientSendError && err.rateLimited) {
                throttled = true;
                log.warn('platform rate limit hit', { creatorId, platform: connection.platform, error: err.message });
                await settle(m.id, { status: 'queued', attempts: m.attempts - 1, availableAt: new Date(Date.now() + (err.retryAfterMs ?? 1000)) });
              } else {
                await failed(m, err);
              }
            }
            Context.current().heartbeat({ platform: connection.platform, attempted });
          };
          const next = (chains.get(m.fanId) ?? Promise.resolve()).then(run);
          chains.set(m.fanId, next);
        }
        await Promise.all(chains.values());
        result.attempted[connection.platform] = attempted;
      }

      const platforms = connections.map((c) => c.platform);
      if (platforms.length > 0) {
        const waiting = and(eq(messages.creatorId, creatorId), inArray(messages.platform, platforms), inArray(messages.status, ['queued', 'failed']));
        const due = db.select({ platform: messages.platform }).from(messages).where(and(waiting, lte(messages.availableAt, sql`now()`))).limit(DUE_COUNT_CAP).as('due');
        for (const row of await db.select({ platform: due.platform, n: count() }).from(due).groupBy(due.platform)) result.due[row.platform] = row.n;
        const [next] = await db
          .select({ at: sql<string | null>`min(${messages.availableAt})::text` })
          .from(messages)
          .where(and(waiting, gt(messages.availableAt, sql`now()`)));
        result.nextDueAt = next?.at ? new Date(next.at).getTime() : null;
      }
      return result;
    },
  };
}

export type SendQueueActivities = ReturnType<typeof createSendQueueActivities>;
