// `campaign:<campaignId>:<run>`: one run of a bulk campaign. It snapshots the audience into
// Postgres in batches, hands the recipients to the creator's send queue in batches (campaign
// priority, so 1:1 messages overtake it), then watches the totals until every recipient is
// settled. Pause, resume, cancel and retry-failed are Updates whose validators decide from the
// run's own state (processes/campaign.ts sends them). Pause and cancel take back what is still
// waiting in the outbox; resume hands it out again; retry-failed re-queues only dead-lettered
// messages; cancel also removes the campaign's Schedule. Activities page through Postgres and the
// workflow continues as new, so a 100k-recipient run never nears the history limits.
import { ApplicationFailure, SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  executeChild,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { CampaignActivities } from '../activities/campaign.js';
import type { CampaignTotals } from '../domain/campaigns.js';
import { CampaignId, CreatorId } from './search-attributes.js';

const {
  snapshotRecipients,
  enqueueCampaignBatch,
  withdrawQueued,
  requeueFailed,
  campaignProgress,
  reopenedRunFacts,
  setCampaignStatus,
  removeSchedule,
  startScheduledRun,
} = proxyActivities<CampaignActivities>({
  startToCloseTimeout: '2 minutes',
  // Each step is a statement or two, done in seconds without heartbeating: a worker that died
  // mid-step is noticed after this, not after the whole start-to-close timeout.
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** Recipients handed to the send queue per activity call (one SQL statement). */
const ENQUEUE_BATCH = 1_000;

export const campaignWorkflowId = (campaignId: string, run: number) => `campaign:${campaignId}:${run}`;
export const campaignScheduleId = (campaignId: string) => `campaign-schedule:${campaignId}`;
/** The actions on a run: Updates whose validators hold the run's state machine (see campaignRunWorkflow). */
export const pauseCampaignUpdate = defineUpdate<void>('pause');
export const resumeCampaignUpdate = defineUpdate<void>('resume');
export const cancelCampaignUpdate = defineUpdate<void>('cancel');
export const retryFailedUpdate = defineUpdate<void>('retryFailed');
/** The ApplicationFailure type of an action the run's state does not allow (the API answers 409). */
export const CampaignActionRejected = 'CampaignActionRejected';

export interface CampaignRunInput {
  campaignId: string;
  run: number;
  /** A run that starts later waits for this instant (epoch ms); cancel works meanwhile. */
  sendAt?: number;
  /**
   * A new execution of a run whose workflow had closed or never started, started by an action on it
   * (update-with-start, processes/campaign.ts): it has no state of its own, so it reads from Postgres
   * where the run stands (cancelled, paused, snapshotted or not) before acting.
   */
  reopened?: boolean;
  /** Carried across continue-as-new. */
  phase?: 'snapshot' | 'sending';
  snapshotAfter?: string | null;
  paused?: boolean;
  retryRequested?: boolean;
}

export interface CampaignRunState {
  phase: 'scheduled' | 'snapshot' | 'sending' | 'settling' | 'completed' | 'cancelled';
  paused: boolean;
  totals: CampaignTotals | null;
}
export const campaignProgressQuery = defineQuery<CampaignRunState>('progress');

/**
 * How long a run that has handed everything out waits before looking at its totals again: half
 * the time its outstanding messages take at the creator's rate limit, between 1 s and 30 s, so a
 * fast run completes promptly and a week-long one polls twice a minute.
 */
const settlePollMs = (msLeft: number) => Math.min(30_000, Math.max(1_000, msLeft / 2));
const HISTORY_BUDGET = 5_000;

const rejected = (message: string) => ApplicationFailure.create({ type: CampaignActionRejected, message, nonRetryable: true });

export async function campaignRunWorkflow(input: CampaignRunInput): Promise<CampaignTotals | null> {
  const { campaignId, run } = input;
  const key = { campaignId, run };
  let phase: CampaignRunState['phase'] = input.phase ?? 'snapshot';
  let snapshotAfter = input.snapshotAfter ?? null;
  let paused = input.paused ?? false;
  let cancelled = false;
  let retryRequested = input.retryRequested ?? false;
  let totals: CampaignTotals | null = null;
  // A reopened run accepts actions once it knows where the run stands (see the start-up below).
  let ready = !input.reopened;

  // The validators are the run's state machine: they answer from this execution's own state, so an
  // action right after another is judged by what the run has accepted, not by the lagging projection.
  const state = () =>
    cancelled || phase === 'cancelled'
      ? 'cancelled'
      : paused
        ? 'paused'
        : phase === 'scheduled' || phase === 'completed'
          ? phase
          : 'running';
  setHandler(pauseCampaignUpdate, () => void (paused = true), {
    // A run waiting for its sendAt can be cancelled, not paused.
    validator: () => {
      if (!ready) throw rejected('the campaign’s run is starting, try again');
      if (cancelled || paused || phase === 'scheduled' || phase === 'completed') throw rejected(`cannot pause a ${state()} campaign`);
    },
  });
  setHandler(resumeCampaignUpdate, () => void (paused = false), {
    validator: () => {
      if (!ready) throw rejected('the campaign’s run is starting, try again');
      if (cancelled || !paused) throw rejected(`cannot resume a ${state()} campaign`);
    },
  });
  const whenReady = async (action: string) => {
    await condition(() => ready);
    if (phase === 'cancelled') throw rejected(`cannot ${action} a cancelled campaign`);
  };
  setHandler(
    cancelCampaignUpdate,
    async () => {
      await whenReady('cancel');
      cancelled = true;
    },
    {
      // A completed run (still finishing, or reopened) accepts it too: that stops the recurring runs.
      validator: () => {
        if (cancelled || phase === 'cancelled') throw rejected('the campaign is already cancelled');
      },
    },
  );
  setHandler(
    retryFailedUpdate,
    async () => {
      await whenReady('retry');
      retryRequested = true;
    },
    {
      validator: () => {
        if (cancelled || phase === 'cancelled' || phase === 'scheduled') throw rejected(`cannot retry a ${state()} campaign`);
      },
    },
  );
  setHandler(campaignProgressQuery, () => ({ phase, paused, totals }));

  const carryOn = async () => {
    // A cancel is acted on by this run, not carried: the loop sees it next.
    if (cancelled || (!workflowInfo().continueAsNewSuggested && workflowInfo().historyLength < HISTORY_BUDGET)) return;
    await condition(allHandlersFinished);
    await continueAsNew<typeof campaignRunWorkflow>({
      campaignId,
      run,
      phase: phase === 'snapshot' ? 'snapshot' : 'sending',
      snapshotAfter,
      paused,
      retryRequested,
    });
  };

  let sendAt = input.sendAt;
  let starting = input.phase === undefined;
  let pausedInDb = false;
  if (input.reopened) {
    // A cancelled campaign stays cancelled: the action that reopened it is refused (whenReady). A run
    // with no recipients yet never snapshotted (its first execution's start was lost); one that was
    // paused stays paused until resumed; one still waiting for its sendAt waits on.
    const facts = await reopenedRunFacts(key);
    if (facts.status === 'cancelled') phase = 'cancelled';
    else {
      phase = facts.snapshotted ? 'sending' : 'snapshot';
      paused = pausedInDb = facts.status === 'paused';
      starting = facts.status === 'scheduled';
      sendAt = facts.sendAt ?? undefined;
    }
    ready = true;
    // The handler that waited for `ready` records its action before the run acts on anything.
    await condition(allHandlersFinished);
    if (phase === 'cancelled') return null;
  }
  if (starting) {
    if (sendAt !== undefined && sendAt > Date.now() && !cancelled) {
      phase = 'scheduled';
      await setCampaignStatus({ ...key, status: 'scheduled' });
      await condition(() => cancelled, sendAt - Date.now());
      phase = 'snapshot';
    }
    if (!cancelled) await setCampaignStatus({ ...key, status: 'running' });
  }
  while (phase === 'snapshot' && !cancelled) {
    const batch = await snapshotRecipients({ ...key, after: snapshotAfter });
    snapshotAfter = batch.after;
    if (batch.done) phase = 'sending';
    await carryOn();
  }

  let handedOut = false;
  for (;;) {
    if (cancelled) {
      await withdrawQueued({ ...key, cancel: true });
      await setCampaignStatus({ ...key, status: 'cancelled' });
      // Cancelled is final: the campaign's recurring runs stop with it.
      await removeSchedule({ campaignId });
      phase = 'cancelled';
      const { msLeft: _, pending: __, ...final } = await campaignProgress(key);
      totals = final;
      // An action still in its handler (a retry-failed waiting for `ready`) answers before the run closes.
      await condition(allHandlersFinished);
      return totals;
    }
    if (paused) {
      if (!pausedInDb) {
        await withdrawQueued({ ...key, cancel: false });
        await setCampaignStatus({ ...key, status: 'paused' });
        pausedInDb = true;
        handedOut = false;
      }
      await condition(() => !paused || cancelled);
      continue;
    }
    if (pausedInDb) {
      await setCampaignStatus({ ...key, status: 'running' });
      pausedInDb = false;
    }
    if (retryRequested) {
      retryRequested = false;
      await requeueFailed(key);
      await setCampaignStatus({ ...key, status: 'running' });
      phase = 'sending';
    }
    if (!handedOut) {
      const batch = await enqueueCampaignBatch({ ...key, max: ENQUEUE_BATCH });
      handedOut = batch.done;
      if (handedOut) phase = 'settling';
      await carryOn();
      continue;
    }
    const { msLeft, pending, ...progress } = await campaignProgress(key);
    totals = progress;
    if (pending > 0) {
      // Recipients a hand-off batch passed over (locked by a racing attempt): hand them out again.
      handedOut = false;
      continue;
    }
    if (totals.queued === 0) {
      phase = 'completed';
      await setCampaignStatus({ ...key, status: 'completed' });
      // An action accepted just now is still this run's; one after it returns reopens the run.
      await condition(allHandlersFinished);
      if (retryRequested || cancelled) continue;
      return totals;
    }
    await condition(() => paused || cancelled || retryRequested, settlePollMs(msLeft));
    await carryOn();
  }
}

/** Set by Temporal on a workflow a Schedule starts: the instant the firing was due. */
const ScheduledStartTime = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/**
 * Started by the campaign's Schedule (`campaign-schedule:<id>`) at each firing: takes the next
 * run number and runs `campaign:<id>:<run>` as a child, waiting for it, so that the Schedule's
 * overlap policy (skip) sees the run in progress and skips a firing that comes during it. The
 * run's creator comes from the campaign row: `creatorId` is in the args of newer Schedules only.
 */
export async function scheduledCampaignWorkflow({
  campaignId,
}: {
  campaignId: string;
  creatorId?: string;
}): Promise<CampaignTotals | null> {
  const info = workflowInfo();
  const scheduledAt = info.typedSearchAttributes.get(ScheduledStartTime)?.getTime() ?? info.startTime.getTime();
  const started = await startScheduledRun({ campaignId, firing: info.workflowId, scheduledAt });
  if (started === null) return null;
  const { run, creatorId } = started;
  return executeChild(campaignRunWorkflow, {
    workflowId: campaignWorkflowId(campaignId, run),
    args: [{ campaignId, run }],
    // The run goes on if this firing's workflow is terminated by an operator.
    parentClosePolicy: ParentClosePolicy.ABANDON,
    typedSearchAttributes: [
      { key: CampaignId, value: campaignId },
      { key: CreatorId, value: creatorId },
    ],
  });
}
