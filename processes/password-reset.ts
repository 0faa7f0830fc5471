// Starting the password-reset workflow: one per request, known email or not, so that the answer and
// the work are the same either way (see workflows/password-reset.ts).
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Config } from '../lib/config.js';
import { taskQueue } from '../lib/temporal.js';
import { passwordResetWorkflow } from '../workflows/password-reset.js';
import { SIGNAL_DEADLINE_MS, withDeadline } from './deadline.js';

export function createPasswordResetProcess(client: Client, config: Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX'>) {
  return {
    async request(email: string, requestId?: string): Promise<void> {
      await withDeadline(client, SIGNAL_DEADLINE_MS, 'Temporal', () =>
        client.workflow.start(passwordResetWorkflow, {
          workflowId: `password-reset:${randomUUID()}`,
          taskQueue: taskQueue(config, 'onboarding'),
          args: [{ email, requestId }],
        }),
      );
    },
  };
}

export type PasswordResetProcess = ReturnType<typeof createPasswordResetProcess>;
