// Starting the `csv-import:<importId>` workflow once an upload is stored and its row committed.
// The id is the import's own, so a repeated start finds the running (or finished) import instead
// of a second one; the CreatorId search attribute lets operators list one creator's imports.
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Config } from '../lib/config.js';
import { taskQueue } from '../lib/temporal.js';
import { SIGNAL_DEADLINE_MS, withDeadline } from './deadline.js';
import { fanImportWorkflow, fanImportWorkflowId } from '../workflows/fan-import.js';
import { CreatorId } from '../workflows/search-attributes.js';

export function createFanImportProcess(client: Client, config: Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX'>) {
  return {
    async start({ importId, creatorId }: { importId: string; creatorId: string }): Promise<void> {
      try {
        await withDeadline(client, SIGNAL_DEADLINE_MS, 'Temporal', () =>
          client.workflow.start(fanImportWorkflow, {
            workflowId: fanImportWorkflowId(importId),
            taskQueue: taskQueue(config, 'crm'),
            args: [{ importId }],
            workflowIdConflictPolicy: 'USE_EXISTING',
            // An import runs once: a finished one is never started again for the same file.
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
            typedSearchAttributes: [{ key: CreatorId, value: creatorId }],
          }),
        );
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    },
  };
}

export type FanImportProcess = ReturnType<typeof createFanImportProcess>;
