// The door to `payout:<creatorId>:<YYYY-MM>` workflows and their monthly Schedule.
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Config } from '../lib/config.js';
import { taskQueue } from '../lib/temporal.js';
import { monthlyPayoutsWorkflow, payoutWorkflow, payoutWorkflowId } from '../workflows/payout.js';
import { CreatorId } from '../workflows/search-attributes.js';
import { SIGNAL_DEADLINE_MS, withDeadline } from './deadline.js';

export const PAYOUTS_SCHEDULE_ID = 'payouts-monthly';

export function createPayoutProcess(client: Client, config: Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX' | 'PAYOUT_BALANCE_RETRY_SECONDS'>) {
  const input = (creatorId: string, month: string) => ({ creatorId, month, balanceRetryMs: config.PAYOUT_BALANCE_RETRY_SECONDS * 1000 });
  return {
    /** Starts the month's payout of a creator; false when it already ran or runs (one per creator and month). */
    async start(creatorId: string, month: string): Promise<boolean> {
      try {
        await withDeadline(client, SIGNAL_DEADLINE_MS, 'Temporal', () =>
          client.workflow.start(payoutWorkflow, {
            workflowId: payoutWorkflowId(creatorId, month),
            taskQueue: taskQueue(config, 'money'),
            args: [input(creatorId, month)],
            // A failed payout may run again (an admin's retry); a paid or held one is final for this id.
            workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
            typedSearchAttributes: [{ key: CreatorId, value: creatorId }],
          }),
        );
        return true;
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
        throw err;
      }
    },

    /**
     * An admin's retry of a held or failed payout: the month's workflow again (a paid payout stays
     * paid: the transfer is looked up by its group before any is made). Nothing when one runs.
     */
    async retry(creatorId: string, month: string): Promise<void> {
      await withDeadline(client, SIGNAL_DEADLINE_MS, 'Temporal', () =>
        client.workflow.start(payoutWorkflow, {
          workflowId: payoutWorkflowId(creatorId, month),
          taskQueue: taskQueue(config, 'money'),
          args: [input(creatorId, month)],
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          workflowIdConflictPolicy: 'USE_EXISTING',
          typedSearchAttributes: [{ key: CreatorId, value: creatorId }],
        }),
      );
    },

    /** Creates the monthly Schedule when missing: the 1st of each month at 06:00 UTC. */
    async ensureSchedule(): Promise<void> {
      try {
        await client.schedule.create({
          scheduleId: PAYOUTS_SCHEDULE_ID,
          spec: { calendars: [{ dayOfMonth: 1, hour: 6, minute: 0 }] },
          // Starts are idempotent: a month whose run still retries must not make the next one wait a month.
          policies: { overlap: ScheduleOverlapPolicy.ALLOW_ALL },
          action: {
            type: 'startWorkflow',
            workflowType: monthlyPayoutsWorkflow,
            workflowId: 'payouts:monthly',
            taskQueue: taskQueue(config, 'money'),
            args: [{}],
          },
        });
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      }
    },
  };
}
