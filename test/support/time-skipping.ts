// Workflow tests on the time-skipping test server: one server per test file, and Workers that run
// the workflow bundle built once per test run (test/global-setup.ts) with the activities a test
// gives them, each on a task queue of its own.
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { type NativeConnection, Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { temporalTestServerPath } from '../../dev/toolchain.js';

/** The time-skipping test server of the pinned binary (scripts/setup.mjs installs it). */
export const startTimeSkippingServer = () =>
  TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: temporalTestServerPath() } } });

/** Runs `fn` while a Worker with `activities` polls `taskQueue` (a fresh one unless given). */
export async function withBundledWorker<T>(
  connection: NativeConnection,
  activities: object,
  fn: (taskQueue: string) => Promise<T>,
  taskQueue = `tq-${randomUUID()}`,
): Promise<T> {
  const worker = await Worker.create({ connection, taskQueue, workflowBundle: { codePath: inject('workflowBundlePath') }, activities });
  return worker.runUntil(fn(taskQueue));
}
