// The send-queue workflow on its own, under the time-skipping test server with recording
// activities: an hour of pacing at 10 messages a minute, across a continue-as-new. Each batch is
// stamped with the server's (skipped) clock, so the window is checked in the workflow's own time.
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SendBatchResult, SendQueueActivities } from '../../activities/send-queue.js';
import { sendQueueStateQuery, sendQueueWorkflow } from '../../workflows/send-queue.js';
import { startTimeSkippingServer, withBundledWorker } from '../support/time-skipping.js';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkippingServer();
});
afterAll(() => env?.teardown());

const LIMIT = { messages: 10, windowMs: 60_000 };

describe('send-queue workflow', () => {
  it('paces a backlog at the limit for an hour, continuing as new without losing the window', { timeout: 180_000 }, async () => {
    let backlog = 700;
    const batches: { at: number; sent: number; budget: number }[] = [];
    const activities: SendQueueActivities = {
      wakeStrandedSendQueues: async () => ({ woken: 0 }),
      loadSendLimits: async () => ({ onlyfans: LIMIT }),
      async sendDueMessages({ budgets }): Promise<SendBatchResult> {
        const sent = Math.min(budgets.onlyfans ?? 0, backlog);
        backlog -= sent;
        batches.push({ at: Context.current().info.scheduledTimestampMs, sent, budget: budgets.onlyfans ?? 0 });
        return {
          limits: { onlyfans: LIMIT },
          attempted: { onlyfans: sent },
          lastRequestEndedMsAgo: {},
          due: { onlyfans: backlog },
          nextDueInMs: null,
          claimed: sent,
        };
      },
    };
    await withBundledWorker(env.nativeConnection, activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(sendQueueWorkflow, {
        taskQueue,
        workflowId: `send-queue:${randomUUID()}`,
        args: [{ creatorId: 'c1' }],
      });
      while (backlog > 0) await env.sleep('1 minute');
      const current = await handle.describe();
      // About ten events a batch: 70 batches of one message cannot fit under 5,000 events, so the
      // queue must have continued as new at least once.
      expect(current.runId).not.toBe(handle.firstExecutionRunId);
      const state = await handle.query(sendQueueStateQuery);
      expect(state.limits).toEqual({ onlyfans: LIMIT });
    });

    const sends = batches.filter((b) => b.sent > 0);
    expect(sends.reduce((n, b) => n + b.sent, 0)).toBe(700);
    // No 60 s window of the workflow's clock over 10.
    for (const b of sends) {
      const inWindow = sends.filter((o) => o.at >= b.at && o.at < b.at + LIMIT.windowMs).reduce((n, o) => n + o.sent, 0);
      expect(inWindow).toBeLessThanOrEqual(LIMIT.messages);
    }
    // Paced: the k-th message never goes before its slot, k × 6 s after the first. (A batch that
    // started late may go less than 6 s after the one before, making up the slot it missed.)
    const messageTimes = sends.flatMap((b) => Array.from({ length: b.sent }, () => b.at));
    for (const [k, at] of messageTimes.entries()) expect(at - messageTimes[0]!).toBeGreaterThanOrEqual(k * 6_000 - 50);
    // Busy: the backlog took about 70 minutes at 10 a minute, not much more.
    expect(sends.at(-1)!.at - sends[0]!.at).toBeLessThan(71 * 60_000);
  });
});
