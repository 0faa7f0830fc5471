import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Config } from '../lib/config.js';
import { taskQueue } from '../lib/temporal.js';
import { purgeExpiredTokensWorkflow } from '../workflows/maintenance.js';

export const PURGE_TOKENS_SCHEDULE_ID = 'maintenance-purge-tokens';

/** Creates the maintenance schedule once; later starts leave the existing one alone. */
export async function ensureMaintenanceSchedules(client: Client, config: Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX'>): Promise<void> {
  try {
    await client.schedule.create({
      scheduleId: PURGE_TOKENS_SCHEDULE_ID,
      spec: { intervals: [{ every: '1 hour' }] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      action: {
        type: 'startWorkflow',
        workflowType: purgeExpiredTokensWorkflow,
        workflowId: 'maintenance:purge-tokens',
        taskQueue: taskQueue(config, 'maintenance'),
        args: [],
      },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
}
