// Waking a creator's send queue: after messages are committed to the outbox (the API), or when
// the outbox sweep finds messages nobody woke it for, signal `send-queue:<creatorId>`, starting
// the workflow when it does not run yet (signalWithStart).
import type { Client } from '@temporalio/client';
import type { Config } from '../lib/config.js';
import { taskQueue } from '../lib/temporal.js';
import { SIGNAL_DEADLINE_MS, withDeadline } from './deadline.js';
import { CreatorId } from '../workflows/search-attributes.js';
import { messagesEnqueuedSignal, sendQueueWorkflow, sendQueueWorkflowId } from '../workflows/send-queue.js';

export function createSendQueueProcess(client: Client, config: Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX'>) {
  return {
    async wake(creatorId: string): Promise<void> {
      await withDeadline(client, SIGNAL_DEADLINE_MS, 'Temporal', () =>
        client.workflow.signalWithStart(sendQueueWorkflow, {
          workflowId: sendQueueWorkflowId(creatorId),
          taskQueue: taskQueue(config, 'messaging'),
          args: [{ creatorId }],
          signal: messagesEnqueuedSignal,
          typedSearchAttributes: [{ key: CreatorId, value: creatorId }],
        }),
      );
    },
  };
}

export type SendQueueProcess = ReturnType<typeof createSendQueueProcess>;
