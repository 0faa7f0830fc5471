// The campaign's door into Temporal: its runs (`campaign:<id>:<run>`, workflows/campaign.ts) and its
// Schedule (`campaign-schedule:<id>`). The API starts run 1 and asks a run to pause, resume, cancel
// or retry its failures (Updates whose validators hold the run's state machine); Temporal's
// failures come back as domain errors (domain/errors.ts) that the API maps to HTTP.
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  ServiceError,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { CampaignSchedule } from '../db/schema.js';
import { DomainError, notFoundError } from '../domain/errors.js';
import type { Config } from '../lib/config.js';
import { taskQueue } from '../lib/temporal.js';
import { SIGNAL_DEADLINE_MS, UPDATE_DEADLINE_MS, unavailable, withDeadline } from './deadline.js';
import {
  CampaignActionRejected,
  campaignRunWorkflow,
  campaignScheduleId,
  campaignWorkflowId,
  cancelCampaignUpdate,
  pauseCampaignUpdate,
  resumeCampaignUpdate,
  retryFailedUpdate,
  scheduledCampaignWorkflow,
} from '../workflows/campaign.js';
import { CampaignId, CreatorId } from '../workflows/search-attributes.js';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export type CampaignAction = 'pause' | 'resume' | 'cancel' | 'retry-failed';
const updates = {
  pause: pauseCampaignUpdate,
  resume: resumeCampaignUpdate,
  cancel: cancelCampaignUpdate,
  'retry-failed': retryFailedUpdate,
} as const;

/** A campaign's run, as the API names it. */
export interface RunRef {
  campaignId: string;
  creatorId: string;
  run: number;
}

export interface ScheduleState {
  paused: boolean;
  remainingRuns: number | null;
  nextRuns: string[];
  recentRuns: string[];
  skippedOverlapping: number;
}

const attributes = (campaignId: string, creatorId: string) => [
  { key: CampaignId, value: campaignId },
  { key: CreatorId, value: creatorId },
];

/** The run's answer to an action: its validator's refusal → 409, a run that has ended → 409, no worker in time → 503. */
function actionError(err: unknown, action: CampaignAction): unknown {
  if (err instanceof WorkflowUpdateFailedError) {
    for (let c: unknown = err.cause; c; c = (c as Error).cause)
      if (c instanceof ApplicationFailure && c.type === CampaignActionRejected)
        return new DomainError('invalid_state', 'invalid_state', c.message);
  }
  if (err instanceof WorkflowNotFoundError)
    return new DomainError('invalid_state', 'invalid_state', `cannot ${action}: the campaign’s run has ended`);
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return unavailable('the campaign worker');
  return err;
}

/**
 * The server refuses a bad spec (a cron it cannot parse) as a TypeError, or a ServiceError around gRPC
 * INVALID_ARGUMENT. The answer is a fixed text: the error's own is Temporal's, not the API's.
 */
function scheduleError(err: unknown): unknown {
  if (err instanceof TypeError || (err instanceof ServiceError && (err.cause as { code?: number } | undefined)?.code === 3))
    return new DomainError('invalid', 'invalid_schedule', 'the cron expression or interval is not valid');
  if (err instanceof ScheduleNotFoundError) return notFoundError('schedule');
  return err;
}

export function createCampaignProcess(client: Client, config: Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX'>) {
  const queue = taskQueue(config, 'campaigns');
  const scheduleHandle = (campaignId: string) => client.schedule.getHandle(campaignScheduleId(campaignId));
  /** Schedule calls are answered by the server alone: a start's deadline. */
  const bounded = <T>(call: () => Promise<T>) => withDeadline(client, SIGNAL_DEADLINE_MS, 'Temporal', call);

  return {
    /**
     * Starts run 1. The campaign id may derive from the request's Idempotency-Key, so a retried
     * request comes here again: it finds the run already started (running or finished) and succeeds.
     */
    async start({ campaignId, creatorId, sendAt }: { campaignId: string; creatorId: string; sendAt?: number }): Promise<void> {
      try {
        await withDeadline(client, SIGNAL_DEADLINE_MS, 'Temporal', () =>
          client.workflow.start(campaignRunWorkflow, {
            workflowId: campaignWorkflowId(campaignId, 1),
            taskQueue: queue,
            args: [{ campaignId, run: 1, ...(sendAt === undefined ? {} : { sendAt }) }],
            workflowIdConflictPolicy: 'USE_EXISTING',
            // Run 1 starts once, ever: a retried request after it finished must not run it again.
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
            typedSearchAttributes: attributes(campaignId, creatorId),
          }),
        );
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    },

    /**
     * Asks the run to act; its validator decides from the run's own state. Pause and resume need a
     * running run. Cancel and retry-failed also apply to a run whose workflow has closed (a completed
     * campaign: cancel stops its recurring runs, retry-failed re-sends its dead messages): they are
     * Update-with-Start, which delivers the Update to the running execution if there is one
     * (USE_EXISTING), and otherwise starts a new execution of the same id, `reopened`, that first
     * reads from Postgres where the run stands (a cancelled campaign refuses both; a run never
     * snapshotted snapshots first; a paused one stays paused) and then acts. One call, no
     * "is it running?" check that could be stale by the time of the start; the price is that an
     * action refused by a closed, cancelled run leaves a short execution in the history.
     *
     * With the request's Idempotency-Key the Update's id derives from it: a retry after an answer
     * that was lost (a 503 for an Update the run had in fact accepted) gets the first outcome.
     */
    async act(action: CampaignAction, { campaignId, creatorId, run }: RunRef, idempotencyKey?: string): Promise<void> {
      const workflowId = campaignWorkflowId(campaignId, run);
      const update = updates[action];
      const reopen = action === 'cancel' || action === 'retry-failed';
      const updateId = idempotencyKey === undefined ? {} : { updateId: `${action}:${idempotencyKey}` };
      try {
        await withDeadline(client, UPDATE_DEADLINE_MS, 'the campaign worker', () =>
          reopen
            ? client.workflow.executeUpdateWithStart(update, {
                startWorkflowOperation: new WithStartWorkflowOperation(campaignRunWorkflow, {
                  workflowId,
                  taskQueue: queue,
                  args: [{ campaignId, run, reopened: true }],
                  workflowIdConflictPolicy: 'USE_EXISTING',
                  typedSearchAttributes: attributes(campaignId, creatorId),
                }),
                ...updateId,
              })
            : client.workflow.getHandle(workflowId).executeUpdate(update, updateId),
        );
      } catch (err) {
        throw actionError(err, action);
      }
    },

    /** Creates the campaign's Schedule, or changes the existing one (its runs so far are kept). */
    async putSchedule({ campaignId, creatorId }: Omit<RunRef, 'run'>, schedule: CampaignSchedule): Promise<void> {
      const every = schedule.every ? Number(schedule.every.slice(0, -1)) * UNIT_MS[schedule.every.slice(-1) as keyof typeof UNIT_MS] : 0;
      const spec = {
        ...(schedule.cron ? { cronExpressions: [schedule.cron] } : { intervals: [{ every }] }),
        timezone: schedule.timezone,
        ...(schedule.startAt ? { startAt: new Date(schedule.startAt) } : {}),
        ...(schedule.endAt ? { endAt: new Date(schedule.endAt) } : {}),
      };
      const action = {
        type: 'startWorkflow' as const,
        workflowType: scheduledCampaignWorkflow,
        workflowId: campaignScheduleId(campaignId),
        taskQueue: queue,
        // Informative only: a firing reads the run's creator (its CreatorId) from the campaign row, as
        // Schedules created before the args carried it have none.
        args: [{ campaignId, creatorId }] as [{ campaignId: string; creatorId: string }],
        typedSearchAttributes: attributes(campaignId, creatorId),
      };
      const limit = schedule.maxRuns === undefined ? {} : { limitedActions: true, remainingActions: schedule.maxRuns };
      try {
        await bounded(() =>
          client.schedule.create({
            scheduleId: campaignScheduleId(campaignId),
            spec,
            action,
            policies: { overlap: ScheduleOverlapPolicy.SKIP },
            state: limit,
          }),
        );
        return;
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw scheduleError(err);
      }
      await bounded(() =>
        scheduleHandle(campaignId).update((previous) => ({
          ...previous,
          spec,
          action,
          state: {
            ...previous.state,
            ...(schedule.maxRuns === undefined ? { limitedActions: false, remainingActions: undefined } : limit),
          },
        })),
      ).catch((err: unknown) => {
        throw scheduleError(err);
      });
    },

    async describeSchedule(campaignId: string): Promise<ScheduleState> {
      const d = await bounded(() => scheduleHandle(campaignId).describe()).catch((err: unknown) => {
        throw scheduleError(err);
      });
      const remaining = d.state.remainingActions;
      return {
        paused: d.state.paused,
        remainingRuns: remaining ?? null,
        nextRuns: (remaining === 0 ? [] : d.info.nextActionTimes.slice(0, remaining ?? undefined)).map((t) => t.toISOString()),
        recentRuns: d.info.recentActions.map((a) => a.scheduledAt.toISOString()),
        skippedOverlapping: d.info.numActionsSkippedOverlap,
      };
    },

    /** Removes the Schedule; false when there was none. A run in progress finishes. */
    async deleteSchedule(campaignId: string): Promise<boolean> {
      try {
        await bounded(() => scheduleHandle(campaignId).delete());
        return true;
      } catch (err) {
        if (err instanceof ScheduleNotFoundError) return false;
        throw err;
      }
    },

    async pauseSchedule(campaignId: string, paused: boolean): Promise<void> {
      const handle = scheduleHandle(campaignId);
      await bounded(() => (paused ? handle.pause('paused through the API') : handle.unpause('unpaused through the API'))).catch(
        (err: unknown) => {
          throw scheduleError(err);
        },
      );
    },
  };
}

export type CampaignProcess = ReturnType<typeof createCampaignProcess>;
