import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker as Thread } from 'node:worker_threads';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createAiActivities, type AiActivityDeps } from '../activities/ai.js';
import { createPayoutActivities, type PayoutActivityDeps } from '../activities/payouts.js';
import { createCampaignActivities, type CampaignDeps } from '../activities/campaign.js';
import { createFanImportActivities } from '../activities/fan-import.js';
import { createMaintenanceActivities, type MaintenanceDeps } from '../activities/maintenance.js';
import { createSendQueueActivities, type SendQueueDeps } from '../activities/send-queue.js';
import { createOnboardingActivities, type OnboardingActivityDeps } from '../activities/onboarding.js';
import type { Client } from '@temporalio/client';
import type { Config } from '../lib/config.js';
import { createSendQueueProcess } from '../processes/send-queue.js';
import { taskQueue } from '../lib/temporal.js';
import { TaskQueues } from '../workflows/task-queues.js';

export const workflowsPath = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'workflows', 'index.ts');

export interface WorkerDeps extends OnboardingActivityDeps {
  connection: NativeConnection;
  /** A Temporal client for activities that start or signal workflows (the outbox sweep). */
  client: Client;
  config: OnboardingActivityDeps['config'] &
    SendQueueDeps['config'] &
    CampaignDeps['config'] &
    AiActivityDeps['config'] &
    PayoutActivityDeps['config'] &
    MaintenanceDeps['config'] &
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
  ai: 4, // LLM calls (each waits on the provider, up to its timeout) around short writes
  money: 8, // statements and Stripe transfers (each waits on Stripe, its row locked): payouts of 8 creators at once
};

export type WorkerArea = keyof typeof TaskQueues;
export const ALL_AREAS = Object.keys(TaskQueues) as WorkerArea[];

/** Connections one activity of an area holds at once, where more than one. */
const CONNECTIONS_PER_ACTIVITY: Partial<Record<WorkerArea, number>> = {
  crm: 2, // an import reads its upload on one while it writes the chunk before on the other
};

/** Connections for a worker process's pool: enough for every activity slot of the queues it serves. */
export const workerDbPoolSize = (areas: readonly WorkerArea[] = ALL_AREAS): number =>
  areas.reduce((sum, area) => sum + ACTIVITY_SLOTS[area] * (CONNECTIONS_PER_ACTIVITY[area] ?? 1), 0);

/**
 * Bundles the workflow code on a thread of its own: webpack's few hundred MiB of heap are freed with
 * the thread instead of staying in the worker process's heap for its whole life.
 */
async function bundleInThread(): Promise<string> {
  const workerPackage = createRequire(import.meta.url).resolve('@temporalio/worker');
  const thread = new Thread(
    `const { parentPort, workerData } = require('node:worker_threads');
     require(workerData.workerPackage).bundleWorkflowCode({ workflowsPath: workerData.workflowsPath })
       .then(({ code }) => parentPort.postMessage(code));`,
    { eval: true, workerData: { workerPackage, workflowsPath } },
  );
  return new Promise<string>((resolve, reject) => {
    thread.once('message', (code: string) => {
      resolve(code);
      void thread.terminate();
    });
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`workflow bundling ended with code ${code}`)));
  });
}

/** One Worker per task queue in `areas` (default: every queue, as a single dev or test process runs them). */
export async function createWorkers(deps: WorkerDeps, areas: readonly WorkerArea[] = ALL_AREAS): Promise<Worker[]> {
  const { connection, config } = deps;
  const workflowBundle = deps.workflowBundle ?? { code: await bundleInThread() };
  const sendQueue = createSendQueueProcess(deps.client, config);
  const activities: Record<WorkerArea, () => WorkerOptions['activities']> = {
    onboarding: () => createOnboardingActivities(deps),
    maintenance: () => createMaintenanceActivities(deps),
    crm: () => createFanImportActivities(deps),
    messaging: () => createSendQueueActivities({ ...deps, sendQueue }),
    campaigns: () => createCampaignActivities({ ...deps, sendQueue }),
    ai: () => createAiActivities({ ...deps, sendQueue }),
    money: () => createPayoutActivities(deps),
  };
  return Promise.all(
    [...new Set(areas)].map((area) =>
      Worker.create({
        connection,
        namespace: config.TEMPORAL_NAMESPACE,
        workflowBundle,
        taskQueue: taskQueue(config, area),
        activities: activities[area](),
        maxConcurrentActivityTaskExecutions: ACTIVITY_SLOTS[area],
      }),
    ),
  );
}
