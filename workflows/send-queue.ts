// `send-queue:<creatorId>`: the one sender of a creator's outgoing messages. Messages wait in the
// Postgres outbox (table `messages`); the API signals this workflow after enqueuing, and it drains
// the outbox by priority through an activity that claims and sends one batch at a time.
//
// The rate limit is decided here, per platform account, from what this workflow itself sent:
//  - a sliding window: every batch's requests are remembered until `windowMs` after the batch's
//    last request *ended* (a request reaches the platform before it ends), and a batch may only
//    use what the window has left, so no window the platform measures can exceed the limit;
//  - pacing: requests are spread over the window (10/min → one every 6 s) rather than sent in one
//    burst, so a 1:1 reply queued behind a campaign waits seconds, not a minute.
// One workflow per creator serialises all sends, whichever worker process runs the activity.
// Due work is only what a batch may claim (a paused campaign's messages are not due), so with none
// the queue sleeps until a signal; a batch that still claims nothing backs off before the next.
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { SendQueueActivities } from '../activities/send-queue.js';
import { MAX_CONCURRENT_SENDS_PER_CREATOR, PLATFORM_REQUEST_TIMEOUT_MS, SEND_BATCH_MAX } from '../domain/send-limits.js';
import { batchBudget, nextSlotAt, type Pacing, pacedFrom, type PlatformLimit, type Usage, windowOpensAt } from '../domain/send-pacing.js';

const retry = { initialInterval: '1 second', maximumInterval: '30 seconds' };
/**
 * A batch's worst case: SEND_BATCH_MAX requests, MAX_CONCURRENT_SENDS_PER_CREATOR at a time, each cut
 * off at the platform timeout (about 32 minutes), plus a minute for the database. It heartbeats each message it
 * settles: a gap of four request timeouts leaves room for waiting behind other creators' requests
 * for a slot of the worker process.
 */
const { sendDueMessages } = proxyActivities<SendQueueActivities>({
  startToCloseTimeout: Math.ceil(SEND_BATCH_MAX / MAX_CONCURRENT_SENDS_PER_CREATOR) * PLATFORM_REQUEST_TIMEOUT_MS + 60_000,
  heartbeatTimeout: 4 * PLATFORM_REQUEST_TIMEOUT_MS,
  retry,
});
/** One query; the sweep heartbeats each queue it wakes. */
const { loadSendLimits, wakeStrandedSendQueues } = proxyActivities<SendQueueActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry,
});

/** Continue as new well before Temporal's history limits (about 10 events per batch). */
const HISTORY_BUDGET = 5_000;
/** After a batch that claimed nothing of the work it was told is due, the next waits this long, doubling. */
const IDLE_BACKOFF_MS = 1_000;
const MAX_IDLE_BACKOFF_MS = 60_000;

export const sendQueueWorkflowId = (creatorId: string) => `send-queue:${creatorId}`;
/** "There may be new due messages": sent by the API (and campaigns) after enqueuing. */
export const messagesEnqueuedSignal = defineSignal('messagesEnqueued');

export interface SendQueueInput {
  creatorId: string;
  /** Carried across continue-as-new so the window and the pacing hold across runs. */
  usage?: Record<string, Usage[]>;
  pacing?: Record<string, Pacing>;
  /** The backlog the last batch saw, so the next run keeps the pacing schedule. */
  due?: Record<string, number>;
}

export interface SendQueueState {
  limits: Record<string, PlatformLimit>;
  usage: Record<string, Usage[]>;
  pacing: Record<string, Pacing>;
  due: Record<string, number>;
  nextDueAt: number | null;
  batches: number;
}
export const sendQueueStateQuery = defineQuery<SendQueueState>('state');

export async function sendQueueWorkflow(input: SendQueueInput): Promise<void> {
  const { creatorId } = input;
  const state: SendQueueState = {
    limits: {},
    usage: input.usage ?? {},
    pacing: input.pacing ?? {},
    due: input.due ?? {},
    nextDueAt: null,
    batches: 0,
  };
  // A new run (first start or continue-as-new) always looks at the outbox once.
  let woken = true;
  setHandler(messagesEnqueuedSignal, () => {
    woken = true;
  });
  setHandler(sendQueueStateQuery, () => state);

  // Runs that started before the schedule was kept replay the old arithmetic up to this point:
  // the pacing restarted from each batch's start, and a batch counted from the workflow's view of its end.
  let keptSchedule = false;
  const backlogged = (platform: string) => keptSchedule && (state.due[platform] ?? 0) > 0;
  /** How many requests `platform` may take now. */
  const budget = (platform: string, now: number): number => {
    const limit = state.limits[platform];
    return limit ? batchBudget(limit, state.usage[platform], state.pacing[platform], backlogged(platform), now) : 0;
  };
  const opensAt = (platform: string, now: number): number => {
    const limit = state.limits[platform]!;
    return Math.max(nextSlotAt(state.pacing[platform], limit), windowOpensAt(state.usage[platform], limit, now));
  };

  // Due work that a batch could not claim (locked by another claim, say): retried after a backoff, not in a loop.
  let idleBatches = 0;
  let idleUntil = 0;

  state.limits = await loadSendLimits({ creatorId });
  for (;;) {
    keptSchedule ||= patched('send-pacing-kept-schedule');
    const now = Date.now();
    for (const [platform, usage] of Object.entries(state.usage)) state.usage[platform] = usage.filter((u) => u.until > now);
    const waiting = Object.keys(state.due).filter((p) => (state.due[p] ?? 0) > 0 && state.limits[p]);
    const sendable = idleUntil <= now && (waiting.some((p) => budget(p, now) > 0) || (state.nextDueAt !== null && state.nextDueAt <= now));

    if (woken || sendable) {
      woken = false;
      const budgets = Object.fromEntries(Object.keys(state.limits).map((p) => [p, budget(p, now)]));
      const from = Object.fromEntries(
        Object.entries(state.limits).map(([p, limit]) => [p, pacedFrom(state.pacing[p], limit, backlogged(p), now)]),
      );
      const result = await sendDueMessages({ creatorId, budgets });
      const done = Date.now();
      state.batches += 1;
      state.limits = result.limits;
      for (const [platform, count] of Object.entries(result.attempted)) {
        const limit = state.limits[platform];
        if (!limit || count === 0) continue;
        const lastEnded = keptSchedule ? done - (result.lastRequestEndedMsAgo?.[platform] ?? 0) : done;
        (state.usage[platform] ??= []).push({ until: lastEnded + limit.windowMs, count });
        state.pacing[platform] = { from: from[platform] ?? now, count };
      }
      state.due = result.due;
      const starved = result.claimed === 0 && Object.keys(result.due).some((p) => (result.due[p] ?? 0) > 0 && (budgets[p] ?? 0) > 0);
      idleBatches = starved ? idleBatches + 1 : 0;
      idleUntil = starved ? done + Math.min(IDLE_BACKOFF_MS * 2 ** (idleBatches - 1), MAX_IDLE_BACKOFF_MS) : 0;
      // The database's clock said how long until then; count it from the workflow's own.
      state.nextDueAt = result.nextDueInMs === null ? null : done + result.nextDueInMs;
      if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > HISTORY_BUDGET) {
        await condition(allHandlersFinished);
        await continueAsNew<typeof sendQueueWorkflow>({ creatorId, usage: state.usage, pacing: state.pacing, due: state.due });
      }
      continue;
    }

    const wakeAts = waiting.map((p) => opensAt(p, now));
    if (state.nextDueAt !== null) wakeAts.push(state.nextDueAt);
    const wakeAt = wakeAts.length > 0 ? Math.max(Math.min(...wakeAts), idleUntil) : undefined;
    await condition(() => woken, wakeAt === undefined ? undefined : Math.max(1, wakeAt - now));
  }
}

/** Every minute (Schedule `maintenance-sweep-outbox`): wakes the queues of creators with old queued messages. */
export async function sweepOutboxWorkflow(): Promise<{ woken: number }> {
  return wakeStrandedSendQueues();
}
