// The Workers of one process never run more activities at once than its Postgres pool has
// connections (the SDK default is 100 per Worker, 500 for the five).
import { NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createSesEmailSender } from '../../integrations/email/sender.js';
import { ACTIVITY_SLOTS, createWorkers, workerDbPoolSize } from '../../workers/create-workers.js';
import { TaskQueues } from '../../workflows/task-queues.js';
import { startHarness, type Harness } from '../support/harness.js';

let h: Harness;
let connection: NativeConnection;
let workers: Worker[];
beforeAll(async () => {
  h = await startHarness({ workers: false });
  connection = await NativeConnection.connect({ address: h.config.TEMPORAL_ADDRESS });
  workers = await createWorkers({
    connection,
    client: h.temporal,
    config: h.config,
    db: h.db,
    email: createSesEmailSender(h.config),
    stripe: h.stripe,
    workflowBundle: { codePath: inject('workflowBundlePath') },
  });
});
afterAll(async () => {
  // Created but never polled: a run that ends at once releases them.
  await Promise.all((workers ?? []).map((w) => w.runUntil(Promise.resolve())));
  await connection?.close();
  await h?.close();
});

const activitySlots = (w: Worker) => {
  const supplier = w.options.tuner.activityTaskSlotSupplier;
  if (supplier.type !== 'fixed-size') throw new Error(`unexpected slot supplier ${supplier.type}`);
  return supplier.numSlots;
};

describe('worker sizing', () => {
  it('runs one Worker per task queue, each with its own activity slots', () => {
    const byQueue = Object.fromEntries(workers.map((w) => [w.options.taskQueue.slice(h.config.TEMPORAL_TASK_QUEUE_PREFIX.length), w]));
    expect(Object.keys(byQueue).sort()).toEqual(Object.values(TaskQueues).sort());
    for (const area of Object.keys(TaskQueues) as (keyof typeof TaskQueues)[]) {
      expect(activitySlots(byQueue[TaskQueues[area]]!), area).toBe(ACTIVITY_SLOTS[area]);
    }
  });

  it('runs only the queues it is given (WORKER_TASK_QUEUES), with their own slots', async () => {
    // Its own prefix: one native connection may not register two Workers on one queue.
    const config = { ...h.config, TEMPORAL_TASK_QUEUE_PREFIX: `${h.config.TEMPORAL_TASK_QUEUE_PREFIX}subset-` };
    const subset = await createWorkers(
      {
        connection,
        client: h.temporal,
        config,
        db: h.db,
        email: createSesEmailSender(h.config),
        stripe: h.stripe,
        workflowBundle: { codePath: inject('workflowBundlePath') },
      },
      ['crm'],
    );
    try {
      expect(subset.map((w) => w.options.taskQueue)).toEqual([config.TEMPORAL_TASK_QUEUE_PREFIX + TaskQueues.crm]);
      expect(activitySlots(subset[0]!)).toBe(ACTIVITY_SLOTS.crm);
      // An import reads its upload on one connection while it writes a chunk on another.
      expect(workerDbPoolSize(['crm'])).toBe(ACTIVITY_SLOTS.crm * 2);
    } finally {
      await Promise.all(subset.map((w) => w.runUntil(Promise.resolve())));
    }
  });

  it('never runs more activities at once than the worker pool has connections', () => {
    const total = workers.map(activitySlots).reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(workerDbPoolSize());
    // A pool a Postgres server's default max_connections (100) holds next to the API's.
    expect(workerDbPoolSize()).toBeLessThanOrEqual(40);
  });
});
