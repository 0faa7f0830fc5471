// Starting the `csv-import:<importId>` workflow once an upload is stored and its row committed.
// The id is the import's own, so a repeated start finds the running (or finished) import instead
// of a second one; the CreatorId search attribute lets operators list one creator's imports.
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Config } from '../lib/config.js';
import { taskQueue } from '../lib/temporal.js';
import { fanImportWorkflow, fanImportWorkflowId } from '../workflows/fan-import.js';
import { CreatorId } from '../workflows/search-attributes.js';

/**
 * The import could not be handed to Temporal. The cause is kept: api/errors.ts answers 503 when it
 * is Temporal being unreachable (a gRPC service or deadline error), 500 otherwise.
 */
export class FanImportNotStartedError extends Error {
  override name = 'FanImportNotStartedError';
  constructor(importId: string, cause: unknown) {
    super(`CSV import ${importId} could not be started`, { cause });
  }
}

export function createFanImportProcess(client: Client, config: Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX'>) {
  return {
    async start({ importId, creatorId }: { importId: string; creatorId: string }): Promise<void> {
      try {
        await client.workflow.start(fanImportWorkflow, {
          workflowId: fanImportWorkflowId(importId),
          taskQueue: taskQueue(config, 'crm'),
          args: [{ importId }],
          workflowIdConflictPolicy: 'USE_EXISTING',
          // An import runs once: a finished one is never started again for the same file.
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          typedSearchAttributes: [{ key: CreatorId, value: creatorId }],
        });
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return;
        throw new FanImportNotStartedError(importId, err);
      }
    },
  };
}

export type FanImportProcess = ReturnType<typeof createFanImportProcess>;
