// The send queue's side effects (workflows/send-queue.ts decides when and how many): claim due
// messages from the outbox, send each through the creator's platform gateway with its idempotency
// key, and record each outcome. Safe to run twice: a claimed message is `sending` until its outcome
// is written, and a later attempt sends leftover `sending` messages again with the same key, which
// the platform answers without delivering twice.
import { Context, log } from '@temporalio/activity';
import { and, asc, count, desc, eq, gt, inArray, lte, or, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { campaigns, fans, messages } from '../db/schema.js';
import { markCancelled, markFailed, markHandedOff, markSent, putBack } from '../domain/messages.js';
import { inboundWebhookUrl, loadConnections, type ConnectionSettings } from '../domain/platform-connections.js';
import { MAX_CONCURRENT_SENDS, MAX_CONCURRENT_SENDS_PER_CREATOR } from '../domain/send-limits.js';
import type { PlatformLimit } from '../domain/send-pacing.js';
import { settleSendQueueAwake } from '../domain/send-queue-awake.js';
import { createGateway } from '../integrations/platforms/gateway.js';
import { TransientSendError } from '../integrations/platforms/types.js';
import type { Config } from '../lib/config.js';
import type { SendQueueProcess } from '../processes/send-queue.js';
import { createSendSlots } from './send-slots.js';

export interface SendBatchResult {
  /** The rate limit of every platform the creator is connected to. */
  limits: Record<string, PlatformLimit>;
  /** Requests made to each platform in this batch (what the rate window counts). */
  attempted: Record<string, number>;
  /**
   * Per platform, how long before the batch ended its last request ended (answered or failed): a
   * request reached the platform before it ended, so its window ends at most a window after that.
   * Measured as a duration on the worker's clock, so no two clocks are compared.
   */
  lastRequestEndedMsAgo?: Record<string, number>;
  /** Messages due now and still waiting, per platform (counted up to DUE_COUNT_CAP). */
  due: Record<string, number>;
  /** In how many ms (by the database's clock) the next message in backoff becomes due, if any. */
  nextDueInMs: number | null;
  /** Messages this batch claimed (each was settled or handed back). */
  claimed: number;
}

/** What the activity reports with each heartbeat: messages settled so far, per platform. */
interface SendProgress {
  platform: string;
  claimed: number;
  settled: number;
  attempted: number;
}

const DUE_COUNT_CAP = 1_000;
/** Heartbeats while a batch waits for request slots (the workflow's heartbeat timeout is 60 s). */
const HEARTBEAT_EVERY_MS = 10_000;

export type SendQueueDeps = {
  db: Db;
  /** Wakes creators' queues (the outbox sweep). */
  sendQueue: SendQueueProcess;
  config: Pick<
    Config,
    'CREDENTIALS_KEY' | 'PLATFORM_SANDBOX_URL' | 'PUBLIC_API_URL' | 'SEND_RETRY_BASE_SECONDS' | 'SEND_MAX_ATTEMPTS' | 'production'
  >;
};
/** A queued message this old was not picked up: whoever queued it may have died before the wake. */
const STRANDED_AFTER_SECONDS = 60;

/**
 * Waiting in the outbox: queued or retrying, and not of a paused campaign (one put back by a 429 or
 * a backoff after the pause waits for the resume). The claim, the due count, the next-due time and
 * the sweep all use this, so the workflow never sees work that no batch may claim.
 */
const waiting = (creatorId: string | undefined, platforms: string[] | undefined): SQL =>
  and(
    creatorId === undefined ? undefined : eq(messages.creatorId, creatorId),
    platforms === undefined ? undefined : inArray(messages.platform, platforms),
    sql`${messages.status} in ('queued', 'failed')`,
    sql`not exists (select 1 from ${campaigns} where ${campaigns.id} = ${messages.campaignId} and ${campaigns.status} = 'paused')`,
  )!;

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
      campaignCancelled: sql<boolean>`${campaigns.status} is not distinct from 'cancelled'`,
    })
    .from(messages)
    .innerJoin(fans, eq(fans.id, messages.fanId))
    .leftJoin(campaigns, eq(campaigns.id, messages.campaignId))
    .where(inArray(messages.id, ids))
    .orderBy(desc(messages.priority), asc(messages.queuedAt), asc(messages.id));
}

export function createSendQueueActivities({ db, config, sendQueue }: SendQueueDeps) {
  const slots = createSendSlots(MAX_CONCURRENT_SENDS, MAX_CONCURRENT_SENDS_PER_CREATOR);
  const gatewayContext = {
    sandboxUrl: config.PLATFORM_SANDBOX_URL,
    production: config.production,
    webhookUrl: (c: ConnectionSettings) => inboundWebhookUrl(config.PUBLIC_API_URL, c),
  };

  /**
   * Leftovers of an interrupted attempt first (they are already claimed), then new claims. A retried
   * attempt claims nothing new: what its predecessor sent before dying is not in the window the
   * workflow keeps, so only the leftovers may go, and the batch counts as the whole budget.
   */
  async function claim(creatorId: string, platform: string, max: number, claimNew: boolean): Promise<string[]> {
    const leftovers = await db
      .select({ id: messages.id })
      .from(messages)
      .where(and(eq(messages.creatorId, creatorId), eq(messages.platform, platform), eq(messages.status, 'sending')))
      .limit(max);
    const ids = leftovers.map((r) => r.id);
    if (claimNew && ids.length < max) {
      const claimed = await db.execute<{ id: string }>(sql`
        with next as (
          select id from ${messages}
          where ${waiting(creatorId, [platform])} and ${messages.availableAt} <= now()
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

  return {
    /**
     * The outbox sweep (run every minute by a Schedule): wakes the queue of every creator with a
     * message that has waited over a minute: waiting and due (queued, or retrying, and not of a
     * paused campaign), or left `sending` (its queue was terminated or reset by an operator). An
     * API process that died between committing a message and waking the queue would otherwise
     * leave it until that creator's next send; a campaign resumed with only such a message left
     * has it sent within a minute or two. A wake of a queue busy with a backlog costs one batch call.
     */
    async wakeStrandedSendQueues(): Promise<{ woken: number }> {
      const stale = sql`now() - make_interval(secs => ${STRANDED_AFTER_SECONDS})`;
      const rows = await db
        .selectDistinct({ creatorId: messages.creatorId })
        .from(messages)
        .where(
          or(
            and(waiting(undefined, undefined), lte(messages.availableAt, stale)),
            and(eq(messages.status, 'sending'), lte(messages.queuedAt, stale)),
          ),
        );
      const context = Context.current();
      for (const { creatorId } of rows) {
        await sendQueue.wake(creatorId);
        context.heartbeat();
      }
      return { woken: rows.length };
    },

    async loadSendLimits({ creatorId }: { creatorId: string }): Promise<Record<string, PlatformLimit>> {
      const connections = await loadConnections(db, config.CREDENTIALS_KEY, creatorId);
      return Object.fromEntries(connections.map((c) => [c.platform, limitOf(c)]));
    },

    /**
     * Claims at most `budgets[platform]` messages per platform, sends them, records each outcome,
     * heartbeating each settled message (a message's request ends within the platform timeout).
     */
    async sendDueMessages({ creatorId, budgets }: { creatorId: string; budgets: Record<string, number> }): Promise<SendBatchResult> {
      const connections = await loadConnections(db, config.CREDENTIALS_KEY, creatorId);
      const result: SendBatchResult = {
        limits: Object.fromEntries(connections.map((c) => [c.platform, limitOf(c)])),
        attempted: {},
        due: {},
        nextDueInMs: null,
        claimed: 0,
      };

      const context = Context.current();
      const retrying = context.info.attempt > 1;
      const requestEndedAt = new Map<string, number>();
      for (const connection of connections) {
        const { platform } = connection;
        // Within the limit as it is now: the workflow's budget came from the limit the last batch saw.
        const budget = Math.max(0, Math.min(Math.floor(budgets[platform] ?? 0), limitOf(connection).messages));
        if (budget === 0) continue;
        const claimed = await loadClaimed(db, await claim(creatorId, platform, budget, !retrying));
        const progress: SendProgress = { platform, claimed: claimed.length, settled: 0, attempted: 0 };
        let lastRequestEndedAt = performance.now();
        context.heartbeat({ ...progress });
        const gateway = createGateway(connection, gatewayContext);
        let throttledForMs: number | null = null;
        const send = async (m: Claimed) => {
          const key = { creatorId, id: m.id };
          if (m.fanGone || m.campaignCancelled) {
            const reason = m.campaignCancelled ? 'the campaign was cancelled' : m.fanDeleted ? 'the fan was deleted' : 'the fan opted out';
            await markCancelled(db, key, reason);
            return;
          }
          // The 429 check sits inside the slot, so requests already waiting for a slot see it too.
          // So does cancellation: an attempt Temporal gave up on (heartbeat timeout) starts no more
          // requests and leaves its unsent messages `sending`, for the retried attempt to send (it
          // takes leftovers first); putting them back to `queued` would race that attempt.
          const answer = await slots(creatorId, async () => {
            if (context.cancellationSignal.aborted) return { kind: 'abandoned' as const };
            if (throttledForMs !== null) return { kind: 'held back' as const };
            progress.attempted += 1;
            try {
              const outcome = await gateway.send({
                idempotencyKey: m.idempotencyKey,
                fanHandle: m.fanHandle,
                text: m.text,
                priceCents: m.priceCents,
                mediaUrls: m.attachments,
              });
              return { kind: 'answered' as const, outcome };
            } catch (err) {
              return { kind: 'failed' as const, err };
            } finally {
              lastRequestEndedAt = performance.now();
            }
          });
          if (answer.kind === 'abandoned') return;
          // A recording that fails leaves the message `sending`, and the retried attempt replays it.
          if (answer.kind === 'answered') {
            if (answer.outcome.outcome === 'handed_off') await markHandedOff(db, key);
            else await markSent(db, key, 'sending', answer.outcome);
            return;
          }
          if (answer.kind === 'failed' && !(answer.err instanceof TransientSendError && answer.err.rateLimited))
            return markFailed(db, config, key, m.attempts, answer.err);
          if (answer.kind === 'failed') {
            throttledForMs = (answer.err as TransientSendError).retryAfterMs ?? 1_000;
            log.warn('platform rate limit hit', { creatorId, platform, retryAfterMs: throttledForMs });
          }
          // Rate-limited, or held back after a 429: back to the queue untouched, after the platform's wait.
          await putBack(db, key, m.attempts, throttledForMs ?? 1_000);
        };
        const run = (m: Claimed) =>
          send(m).then(() => {
            progress.settled += 1;
            context.heartbeat({ ...progress });
          });
        // Messages to one fan go out in queue order; different fans in parallel.
        const chains = new Map<string, Promise<void>>();
        for (const m of claimed)
          chains.set(
            m.fanId,
            (chains.get(m.fanId) ?? Promise.resolve()).then(() => run(m)),
          );
        // Also on a timer: waiting for one of the worker's request slots settles nothing for
        // a while, and must not read as a dead worker.
        const beat = setInterval(() => context.heartbeat({ ...progress }), HEARTBEAT_EVERY_MS);
        const outcomes = await Promise.allSettled(chains.values()).finally(() => clearInterval(beat));
        const broken = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
        if (broken) throw broken.reason;
        result.claimed += claimed.length;
        // A retried attempt counts what its predecessor may have sent (up to the budget) on top of its own.
        result.attempted[platform] = retrying ? budget + progress.attempted : progress.attempted;
        // A retried attempt does not know when its predecessor's requests went: they count from the end.
        if (!retrying) requestEndedAt.set(platform, lastRequestEndedAt);
      }

      const platforms = connections.map((c) => c.platform);
      if (platforms.length > 0) {
        // Counted under the awake rows' locks: a send the API skipped signalling is counted here.
        const windowsMs = Object.fromEntries(connections.map((c) => [c.platform, limitOf(c).windowMs]));
        result.due = await settleSendQueueAwake(db, creatorId, windowsMs, async (tx) => {
          const due = tx
            .select({ platform: messages.platform })
            .from(messages)
            .where(and(waiting(creatorId, platforms), lte(messages.availableAt, sql`now()`)))
            .limit(DUE_COUNT_CAP)
            .as('due');
          const rows = await tx.select({ platform: due.platform, n: count() }).from(due).groupBy(due.platform);
          return Object.fromEntries(rows.map((r) => [r.platform, r.n]));
        });
        const [next] = await db
          .select({ inMs: sql<number | null>`(extract(epoch from min(${messages.availableAt}) - now()) * 1000)::float8` })
          .from(messages)
          .where(and(waiting(creatorId, platforms), gt(messages.availableAt, sql`now()`)));
        result.nextDueInMs = next?.inMs ?? null;
      }
      const end = performance.now();
      result.lastRequestEndedMsAgo = Object.fromEntries(
        [...requestEndedAt].map(([platform, at]) => [platform, Math.max(0, Math.floor(end - at))]),
      );
      return result;
    },
  };
}

export type SendQueueActivities = ReturnType<typeof createSendQueueActivities>;
