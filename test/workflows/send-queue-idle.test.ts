// The send-queue workflow when a batch claims nothing although the outbox says messages are due
// (locked by another claim, say): it backs off, doubling up to a minute, rather than calling the
// activity in a loop; a signal still starts a batch at once.
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SendBatchResult, SendQueueActivities } from '../../activities/send-queue.js';
import { messagesEnqueuedSignal, sendQueueWorkflow } from '../../workflows/send-queue.js';
import { startTimeSkippingServer, withBundledWorker } from '../support/time-skipping.js';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkippingServer();
});
afterAll(() => env?.teardown());

const LIMIT = { messages: 10, windowMs: 60_000 };

describe('send-queue workflow with due work it cannot claim', () => {
  it('backs off between empty batches instead of spinning', { timeout: 60_000 }, async () => {
    const batches: number[] = [];
    const activities: SendQueueActivities = {
      wakeStrandedSendQueues: async () => ({ woken: 0 }),
      loadSendLimits: async () => ({ onlyfans: LIMIT }),
      async sendDueMessages(): Promise<SendBatchResult> {
        batches.push(Context.current().info.scheduledTimestampMs);
        return {
          limits: { onlyfans: LIMIT },
          attempted: {},
          lastRequestEndedMsAgo: {},
          due: { onlyfans: 3 },
          nextDueInMs: null,
          claimed: 0,
        };
      },
    };
    await withBundledWorker(env.nativeConnection, activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(sendQueueWorkflow, {
        taskQueue,
        workflowId: `send-queue:${randomUUID()}`,
        args: [{ creatorId: 'c1' }],
      });
      await env.sleep('10 minutes');
      const beforeSignal = batches.length;
      await handle.signal(messagesEnqueuedSignal);
      await env.sleep('1 second');
      expect(batches.length).toBeGreaterThan(beforeSignal);
      await handle.terminate();
    });

    // 1, 2, 4, ... 32 s, then a minute apart: about 14 batches in ten minutes, not thousands.
    const early = batches.filter((t) => t - batches[0]! <= 10 * 60_000);
    expect(early.length).toBeGreaterThanOrEqual(8);
    expect(early.length).toBeLessThanOrEqual(16);
    const gaps = early.slice(1).map((t, i) => t - early[i]!);
    expect(gaps.slice(0, 4).map((g) => Math.round(g / 1000))).toEqual([1, 2, 4, 8]);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(61_000);
  });
});
