// `campaign:<campaignId>:<run>`: one run of a bulk campaign. It snapshots the audience into
// Postgres in batches, hands the recipients to the creator's send queue in batches (campaign
// priority, so 1:1 messages overtake it), then watches the totals until every recipient is
// settled. Pause and cancel take back what is still waiting in the outbox; resume hands it out
// again; retry-failed re-queues only dead-lettered messages. Activities page through Postgres and
// the workflow continues as new, so a 100k-recipient run never nears the history limits.
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  executeChild,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { CampaignActivities } from '../activities/campaign.js';
import type { CampaignTotals } from '../domain/campaigns.js';
import { CampaignId } from './search-attributes.js';

const { snapshotRecipients, enqueueCampaignBatch, withdrawQueued, requeueFailed, campaignProgress, setCampaignStatus, startScheduledRun } =
  proxyActivities<CampaignActivities>({
    startToCloseTimeout: '2 minutes',
    // Each step is a statement or two, done in seconds without heartbeating: a worker that died
    // mid-step is noticed after this, not after the whole start-to-close timeout.
    heartbeatTimeout: '20 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
  });

export const campaignWorkflowId = (campaignId: string, run: number) => `campaign:${campaignId}:${run}`;
export const campaignScheduleId = (campaignId: string) => `campaign-schedule:${campaignId}`;
export const pauseCampaignSignal = defineSignal('pause');
export const resumeCampaignSignal = defineSignal('resume');
export const cancelCampaignSignal = defineSignal('cancel');
export const retryFailedSignal = defineSignal('retryFailed');

export interface CampaignRunInput {
  campaignId: string;
  run: number;
  /** A run that starts later waits for this instant (epoch ms); pause and cancel work meanwhile. */
  sendAt?: number;
  /** Carried across continue-as-new. */
  phase?: 'snapshot' | 'sending';
  snapshotAfter?: string | null;
  paused?: boolean;
  retryRequested?: boolean;
}

export interface CampaignRunState {
  phase: 'snapshot' | 'sending' | 'settling' | 'completed' | 'cancelled';
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

export async function campaignRunWorkflow(input: CampaignRunInput): Promise<CampaignTotals | null> {
  const { campaignId, run } = input;
  const key = { campaignId, run };
  let phase: CampaignRunState['phase'] = input.phase ?? 'snapshot';
  let snapshotAfter = input.snapshotAfter ?? null;
  let paused = input.paused ?? false;
  let cancelled = false;
  let retryRequested = input.retryRequested ?? false;
  let totals: CampaignTotals | null = null;
  setHandler(pauseCampaignSignal, () => void (paused = true));
  setHandler(resumeCampaignSignal, () => void (paused = false));
  setHandler(cancelCampaignSignal, () => void (cancelled = true));
  setHandler(retryFailedSignal, () => void (retryRequested = true));
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

  if (input.phase === undefined) {
    if (input.sendAt !== undefined && input.sendAt > Date.now()) {
      await setCampaignStatus({ ...key, status: 'scheduled' });
      await condition(() => cancelled, input.sendAt - Date.now());
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
  let pausedInDb = false;
  for (;;) {
    if (cancelled) {
      await withdrawQueued({ ...key, cancel: true });
      await setCampaignStatus({ ...key, status: 'cancelled' });
      phase = 'cancelled';
      const { msLeft: _, pending: __, ...final } = await campaignProgress(key);
      return (totals = final);
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
      const batch = await enqueueCampaignBatch({ ...key, max: 1_000 });
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
      // A retry-failed after this is a new execution of the same id (signalWithStart); one that
      // arrived just now is still this run's.
      await condition(allHandlersFinished);
      if (retryRequested) continue;
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
 * overlap policy (skip) sees the run in progress and skips a firing that comes during it.
 */
export async function scheduledCampaignWorkflow({ campaignId }: { campaignId: string }): Promise<CampaignTotals | null> {
  const info = workflowInfo();
  const scheduledAt = info.typedSearchAttributes.get(ScheduledStartTime)?.getTime() ?? info.startTime.getTime();
  const run = await startScheduledRun({ campaignId, firing: info.workflowId, scheduledAt });
  if (run === null) return null;
  return executeChild(campaignRunWorkflow, {
    workflowId: campaignWorkflowId(campaignId, run),
    args: [{ campaignId, run }],
    // The run goes on if this firing's workflow is terminated by an operator.
    parentClosePolicy: ParentClosePolicy.ABANDON,
    typedSearchAttributes: [{ key: CampaignId, value: campaignId }],
  });
}
