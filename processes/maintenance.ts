// The maintenance Temporal Schedules: created once by the worker at start-up (later starts leave
// existing ones alone). Each starts its workflow on a fixed id, so overlapping runs are skipped.
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Config } from '../lib/config.js';
import { taskQueue } from '../lib/temporal.js';
import {
  purgeExpiredTokensWorkflow,
  releaseLlmReservationsWorkflow,
  retryHeldPayoutsWorkflow,
  sweepOnboardingWorkflow,
} from '../workflows/maintenance.js';
import { sweepOutboxWorkflow } from '../workflows/send-queue.js';

export const PURGE_TOKENS_SCHEDULE_ID = 'maintenance-purge-tokens';
export const SWEEP_OUTBOX_SCHEDULE_ID = 'maintenance-sweep-outbox';
export const SWEEP_ONBOARDING_SCHEDULE_ID = 'maintenance-sweep-onboarding';
export const RELEASE_LLM_RESERVATIONS_SCHEDULE_ID = 'maintenance-release-llm-reservations';
export const RETRY_HELD_PAYOUTS_SCHEDULE_ID = 'maintenance-retry-held-payouts';

const schedules = [
  {
    scheduleId: PURGE_TOKENS_SCHEDULE_ID,
    every: '1 hour',
    workflowType: purgeExpiredTokensWorkflow,
    workflowId: 'maintenance:purge-tokens',
    queue: 'maintenance',
  },
  {
    scheduleId: SWEEP_OUTBOX_SCHEDULE_ID,
    every: '1 minute',
    workflowType: sweepOutboxWorkflow,
    workflowId: 'maintenance:sweep-outbox',
    queue: 'messaging',
  },
  {
    scheduleId: SWEEP_ONBOARDING_SCHEDULE_ID,
    every: '1 minute',
    workflowType: sweepOnboardingWorkflow,
    workflowId: 'maintenance:sweep-onboarding',
    queue: 'maintenance',
  },
  {
    scheduleId: RELEASE_LLM_RESERVATIONS_SCHEDULE_ID,
    every: '5 minutes',
    workflowType: releaseLlmReservationsWorkflow,
    workflowId: 'maintenance:release-llm-reservations',
    queue: 'maintenance',
  },
  {
    scheduleId: RETRY_HELD_PAYOUTS_SCHEDULE_ID,
    every: '10 minutes',
    workflowType: retryHeldPayoutsWorkflow,
    workflowId: 'maintenance:retry-held-payouts',
    queue: 'maintenance',
  },
] as const;

/** Creates the maintenance schedules that do not exist yet. */
export async function ensureMaintenanceSchedules(client: Client, config: Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX'>): Promise<void> {
  for (const s of schedules) {
    try {
      await client.schedule.create({
        scheduleId: s.scheduleId,
        spec: { intervals: [{ every: s.every }] },
        policies: { overlap: ScheduleOverlapPolicy.SKIP },
        action: {
          type: 'startWorkflow',
          workflowType: s.workflowType,
          workflowId: s.workflowId,
          taskQueue: taskQueue(config, s.queue),
          args: [],
        },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    }
  }
}
