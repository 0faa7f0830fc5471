import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, bundleWorkflowCode, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createCampaignActivities, type CampaignDeps } from '../activities/campaign.js';
import { createFanImportActivities } from '../activities/fan-import.js';
import { createMaintenanceActivities } from '../activities/maintenance.js';
import { createSendQueueActivities, type SendQueueDeps } from '../activities/send-queue.js';
import { createOnboardingActivities, type OnboardingActivityDeps } from '../activities/onboarding.js';
import type { Client } from '@temporalio/client';
import type { Config } from '../lib/config.js';
import { createSendQueueProcess } from '../processes/send-queue.js';
import { taskQueue } from '../lib/temporal.js';
import type { TaskQueues } from '../workflows/task-queues.js';

export const workflowsPath = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'workflows', 'index.ts');

export interface WorkerDeps extends OnboardingActivityDeps {
  connection: NativeConnection;
  /** A Temporal client for activities that start or signal workflows (the outbox sweep). */
  client: Client;
  config: OnboardingActivityDeps['config'] &
    SendQueueDeps['config'] &
    CampaignDeps['config'] &
    Pick<Config, 'TEMPORAL_NAMESPACE' | 'TEMPORAL_TASK_QUEUE_PREFIX'>;
  /** A prebuilt bundle (tests bundle once per run); otherwise the workflows are bundled once at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

/**
 * Activities each queue's Worker runs at once. Every activity uses Postgres, and the SDK default
 * (100 per Worker, 500 for the five) would queue them on a pool of a few connections until their
 * timeouts fire; the worker process sizes its pool from the sum instead (workerDbPoolSize). More
 * throughput comes from more worker processes. A send batch writes per fan in parallel: those
 * writes wait in the pool's queue, they do not fail.
 */
export const ACTIVITY_SLOTS: Record<keyof typeof TaskQueues, number> = {
  onboarding: 4, // Stripe and SES calls around short writes
  maintenance: 2, // sweeps, one at a time per schedule
  crm: 2, // CSV imports: one chunk transaction each
  messaging: 6, // send batches: one per creator at a time, covering its platforms
  campaigns: 4, // recipient materialisation and accounting
};

/** Connections for the worker process's pool: one per activity slot. */
export const workerDbPoolSize = (): number => Object.values(ACTIVITY_SLOTS).reduce((a, b) => a + b, 0);

/** One Worker per task queue; a single process may run them all. */
export async function createWorkers(deps: WorkerDeps): Promise<Worker[]> {
  const { connection, config } = deps;
  const workflowBundle = deps.workflowBundle ?? (await bundleWorkflowCode({ workflowsPath }));
  const sendQueue = createSendQueueProcess(deps.client, config);
  const create = (area: keyof typeof TaskQueues, activities: WorkerOptions['activities']) =>
    Worker.create({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      workflowBundle,
      taskQueue: taskQueue(config, area),
      activities,
      maxConcurrentActivityTaskExecutions: ACTIVITY_SLOTS[area],
    });
  return Promise.all([
    create('onboarding', createOnboardingActivities(deps)),
    create('maintenance', createMaintenanceActivities(deps)),
    create('crm', createFanImportActivities(deps)),
    create('messaging', createSendQueueActivities({ ...deps, sendQueue })),
    create('campaigns', createCampaignActivities({ ...deps, sendQueue })),
  ]);
}
