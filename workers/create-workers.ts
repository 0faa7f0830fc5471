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

/** One Worker per task queue; a single process may run them all. */
export async function createWorkers(deps: WorkerDeps): Promise<Worker[]> {
  const { connection, config } = deps;
  const workflowBundle = deps.workflowBundle ?? (await bundleWorkflowCode({ workflowsPath }));
  const common = { connection, namespace: config.TEMPORAL_NAMESPACE, workflowBundle };
  const sendQueue = createSendQueueProcess(deps.client, config);
  return Promise.all([
    Worker.create({ ...common, taskQueue: taskQueue(config, 'onboarding'), activities: createOnboardingActivities(deps) }),
    Worker.create({ ...common, taskQueue: taskQueue(config, 'maintenance'), activities: createMaintenanceActivities(deps) }),
    Worker.create({ ...common, taskQueue: taskQueue(config, 'crm'), activities: createFanImportActivities(deps) }),
    Worker.create({ ...common, taskQueue: taskQueue(config, 'messaging'), activities: createSendQueueActivities({ ...deps, sendQueue }) }),
    Worker.create({ ...common, taskQueue: taskQueue(config, 'campaigns'), activities: createCampaignActivities({ ...deps, sendQueue }) }),
  ]);
}
