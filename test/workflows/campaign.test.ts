// The campaign workflows on the dev server (Update-with-Start and search attributes are real) with
// stubbed activities that record what a run asked for: a scheduled firing names the run's creator
// from the campaign row, a reopened run decides its phase from Postgres, and the histories that
// test/workflows/replay.test.ts replays (RECORD_HISTORIES=1 refreshes them).
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection, WithStartWorkflowOperation, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CampaignActivities } from '../../activities/campaign.js';
import type { CampaignTotals } from '../../domain/campaigns.js';
import { taskQueue as queueOf } from '../../lib/temporal.js';
import { createCampaignProcess } from '../../processes/campaign.js';
import {
  campaignProgressQuery,
  campaignRunWorkflow,
  cancelCampaignUpdate,
  pauseCampaignUpdate,
  resumeCampaignUpdate,
  retryFailedUpdate,
  scheduledCampaignWorkflow,
} from '../../workflows/campaign.js';
import { CreatorId } from '../../workflows/search-attributes.js';
import { waitFor } from '../support/wait.js';
import { withBundledWorker } from '../support/time-skipping.js';

let connection: Connection;
let native: NativeConnection;
let client: Client;
beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
  native = await NativeConnection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection });
});
afterAll(async () => {
  await native?.close();
  await connection?.close();
});

type Status = 'scheduled' | 'running' | 'paused' | 'completed' | 'cancelled';
const zero: CampaignTotals = { recipients: 1, queued: 0, sent: 1, failed: 0, skipped: 0, purchases: 0, revenueCents: 0 };

/** Activities over an in-memory campaign: `queued` messages outstanding, `snapshotted` or not. */
function stubs(campaign: { status: Status; snapshotted: boolean; queued: number; creatorId?: string; gate?: Promise<void> }) {
  const calls: string[] = [];
  const record = (name: string) => calls.push(name);
  const activities: CampaignActivities = {
    async snapshotRecipients() {
      record('snapshotRecipients');
      campaign.snapshotted = true;
      return { after: null, done: true };
    },
    async enqueueCampaignBatch() {
      record('enqueueCampaignBatch');
      return { enqueued: 0, done: true };
    },
    async withdrawQueued({ cancel }) {
      record(cancel ? 'withdrawQueued:cancel' : 'withdrawQueued:pause');
      return { withdrawn: 0 };
    },
    async requeueFailed() {
      record('requeueFailed');
      return { requeued: 0 };
    },
    async campaignProgress() {
      return { ...zero, queued: campaign.queued, msLeft: 60_000, pending: 0 };
    },
    async startScheduledRun() {
      record('startScheduledRun');
      return { run: 2, creatorId: campaign.creatorId ?? 'nobody' };
    },
    async reopenedRunFacts() {
      record('reopenedRunFacts');
      await campaign.gate;
      return { status: campaign.status, snapshotted: campaign.snapshotted, sendAt: null };
    },
    async removeSchedule() {
      record('removeSchedule');
    },
    async setCampaignStatus({ status }) {
      record(`status:${status}`);
      if (campaign.status !== 'cancelled' || status === 'cancelled') campaign.status = status;
    },
  };
  return { activities, calls };
}

const withWorker = <T>(activities: CampaignActivities, fn: (taskQueue: string) => Promise<T>, taskQueue = `campaign-tq-${randomUUID()}`) =>
  withBundledWorker(native, activities, fn, taskQueue);

const reopen = (taskQueue: string, workflowId: string) =>
  new WithStartWorkflowOperation(campaignRunWorkflow, {
    workflowId,
    taskQueue,
    args: [{ campaignId: randomUUID(), run: 1, reopened: true }],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });

function recordHistory(handle: WorkflowHandle, file: string) {
  if (process.env.RECORD_HISTORIES !== '1') return;
  return handle.fetchHistory().then((h) => {
    writeFileSync(path.join(import.meta.dirname, 'histories', file), temporal.api.history.v1.History.encode(h).finish());
  });
}

describe('scheduled campaign runs', () => {
  it('gives the run the campaign’s creator even when the Schedule’s args have none', async () => {
    const creatorId = randomUUID();
    const { activities, calls } = stubs({ status: 'completed', snapshotted: false, queued: 0, creatorId });
    await withWorker(activities, async (taskQueue) => {
      const campaignId = randomUUID();
      // A Schedule created before the args carried the creator.
      const firing = await client.workflow.start(scheduledCampaignWorkflow, {
        workflowId: `campaign-schedule-test:${campaignId}`,
        taskQueue,
        args: [{ campaignId } as { campaignId: string; creatorId?: string }],
      });
      await firing.result();
      const child = await client.workflow.getHandle(`campaign:${campaignId}:2`).describe();
      expect(child.typedSearchAttributes.get(CreatorId)).toBe(creatorId);
      expect(calls).toContain('startScheduledRun');
    });
  });
});

describe('reopened campaign runs', () => {
  it('snapshots first when the run never snapshotted its recipients (its first start was lost)', async () => {
    const { activities, calls } = stubs({ status: 'running', snapshotted: false, queued: 0 });
    // Through the process client, as the API reopens a run.
    const config = { TEMPORAL_TASK_QUEUE_PREFIX: `campaign-test-${randomUUID()}-` };
    const campaignProcess = createCampaignProcess(client, config);
    await withWorker(
      activities,
      async () => {
        const campaignId = randomUUID();
        await campaignProcess.act('retry-failed', { campaignId, creatorId: randomUUID(), run: 1 });
        await client.workflow.getHandle(`campaign:${campaignId}:1`).result();
        expect(calls.indexOf('snapshotRecipients')).toBeGreaterThan(-1);
        expect(calls.indexOf('snapshotRecipients')).toBeLessThan(calls.indexOf('enqueueCampaignBatch'));
      },
      queueOf(config, 'campaigns'),
    );
  });

  it('refuses pause and resume until it has read where the run stands, then stays paused as the campaign is', async () => {
    let open = () => {};
    const gate = new Promise<void>((r) => (open = r));
    const { activities, calls } = stubs({ status: 'paused', snapshotted: true, queued: 1, gate });
    await withWorker(activities, async (taskQueue) => {
      const workflowId = `campaign-test:${randomUUID()}`;
      const retried = client.workflow.executeUpdateWithStart(retryFailedUpdate, { startWorkflowOperation: reopen(taskQueue, workflowId) });
      await waitFor(() => calls.includes('reopenedRunFacts'), 'reading the run’s facts');
      const handle = client.workflow.getHandle<typeof campaignRunWorkflow>(workflowId);
      await expect(handle.executeUpdate(resumeCampaignUpdate)).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
      await expect(handle.executeUpdate(pauseCampaignUpdate)).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
      open();
      await retried;
      await waitFor(async () => (await handle.query(campaignProgressQuery)).paused, 'paused');
      // Prove no hand-off happens while paused.
      await new Promise((r) => setTimeout(r, 500));
      expect(calls).not.toContain('enqueueCampaignBatch');
      expect(calls).not.toContain('requeueFailed');
      await expect(handle.executeUpdate(pauseCampaignUpdate)).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
      await handle.executeUpdate(resumeCampaignUpdate);
      await waitFor(() => calls.includes('enqueueCampaignBatch'), 'handed out after resume');
      // The retry accepted while paused is acted on once resumed, before the hand-off.
      expect(calls.indexOf('requeueFailed')).toBeLessThan(calls.indexOf('enqueueCampaignBatch'));
      await handle.executeUpdate(cancelCampaignUpdate);
      await handle.result();
    });
  });
});

describe('campaign run histories', () => {
  it('pauses, resumes and cancels a run; a completed run reopened by retry-failed re-queues and completes', async () => {
    const campaign = { status: 'running' as Status, snapshotted: false, queued: 1 };
    const { activities, calls } = stubs(campaign);
    await withWorker(activities, async (taskQueue) => {
      const campaignId = randomUUID();
      const handle = await client.workflow.start(campaignRunWorkflow, {
        workflowId: `campaign-test:${campaignId}:1`,
        taskQueue,
        args: [{ campaignId, run: 1 }],
      });
      await waitFor(async () => (await handle.query(campaignProgressQuery)).phase === 'settling', 'settling');
      await handle.executeUpdate(pauseCampaignUpdate);
      await waitFor(() => calls.includes('status:paused'), 'paused');
      await handle.executeUpdate(resumeCampaignUpdate);
      await handle.executeUpdate(cancelCampaignUpdate);
      await handle.result();
      expect(calls).toEqual(
        expect.arrayContaining(['withdrawQueued:pause', 'withdrawQueued:cancel', 'status:cancelled', 'removeSchedule']),
      );
      await recordHistory(handle, 'campaign-pause-resume-cancel.bin');
    });

    const done = { status: 'running' as Status, snapshotted: false, queued: 0 };
    const second = stubs(done);
    await withWorker(second.activities, async (taskQueue) => {
      const campaignId = randomUUID();
      const workflowId = `campaign-test:${campaignId}:1`;
      const first = await client.workflow.start(campaignRunWorkflow, { workflowId, taskQueue, args: [{ campaignId, run: 1 }] });
      await first.result();
      expect(done.status).toBe('completed');
      await client.workflow.executeUpdateWithStart(retryFailedUpdate, {
        startWorkflowOperation: new WithStartWorkflowOperation(campaignRunWorkflow, {
          workflowId,
          taskQueue,
          args: [{ campaignId, run: 1, reopened: true }],
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      });
      const reopened = client.workflow.getHandle(workflowId);
      await reopened.result();
      expect(second.calls.filter((c) => c === 'snapshotRecipients')).toHaveLength(1);
      expect(second.calls).toContain('requeueFailed');
      await recordHistory(reopened, 'campaign-reopened-retry.bin');
    });
  });
});
