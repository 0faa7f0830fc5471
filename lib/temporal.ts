import { Client, Connection } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { TaskQueues } from '../workflows/task-queues.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

/** A client that connects on first use: a process started while Temporal is down still starts (calls answer 503 until it is back). */
export function lazyTemporalClient(config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'>): Client {
  return new Client({ connection: Connection.lazy({ address: config.TEMPORAL_ADDRESS }), namespace: config.TEMPORAL_NAMESPACE });
}

export async function connectTemporalClient(config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'>): Promise<Client> {
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
}

/**
 * Retries `connect` (1 s doubling to 10 s) until it succeeds: a worker started while Temporal
 * restarts waits for it instead of exiting into a supervisor's restart loop.
 */
export async function untilConnected<T>(what: string, connect: () => Promise<T>, log: Pick<Logger, 'warn'>): Promise<T> {
  for (let delayMs = 1000; ; delayMs = Math.min(delayMs * 2, 10_000)) {
    try {
      return await connect();
    } catch (err) {
      log.warn({ err: (err as Error).message, retryInMs: delayMs }, `${what} unreachable, retrying`);
      await sleep(delayMs);
    }
  }
}

export function taskQueue(config: Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX'>, area: keyof typeof TaskQueues): string {
  return config.TEMPORAL_TASK_QUEUE_PREFIX + TaskQueues[area];
}
