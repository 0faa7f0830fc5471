import { Client, Connection } from '@temporalio/client';
import { TaskQueues } from '../workflows/task-queues.js';
import type { Config } from './config.js';

export async function connectTemporalClient(config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'>): Promise<Client> {
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
}

export function taskQueue(config: Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX'>, area: keyof typeof TaskQueues): string {
  return config.TEMPORAL_TASK_QUEUE_PREFIX + TaskQueues[area];
}
