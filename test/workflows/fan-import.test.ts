// The csv-import workflow when the same rows fail every time (a poisoned chunk): it gives up after
// IMPORT_MAX_ATTEMPTS attempts and fails the import for its owner instead of retrying forever, while
// a few failures followed by success (a worker killed, a database restarted) import on.
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { FanImportActivities } from '../../activities/fan-import.js';
import { temporalTestServerPath } from '../../dev/toolchain.js';
import { fanImportWorkflow, IMPORT_MAX_ATTEMPTS } from '../../workflows/fan-import.js';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: temporalTestServerPath() } },
  });
});
afterAll(() => env?.teardown());

/** Runs the workflow against activities whose import call fails its first `failures` attempts. */
async function run(failures: number) {
  let attempts = 0;
  const failed: { importId: string; reason: string }[] = [];
  const activities: FanImportActivities = {
    async importFanCsvChunk() {
      attempts++;
      if (attempts <= failures) throw new Error('the same rows fail again');
      return { done: true, processedRows: 10 };
    },
    async failFanImport(input) {
      failed.push(input);
    },
  };
  const taskQueue = `tq-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities,
  });
  const importId = randomUUID();
  await worker.runUntil(
    env.client.workflow.execute(fanImportWorkflow, { taskQueue, workflowId: `csv-import:${importId}`, args: [{ importId }] }),
  );
  return { attempts, failed, importId };
}

describe('csv-import workflow', () => {
  it('fails the import after IMPORT_MAX_ATTEMPTS failed attempts at the same rows', { timeout: 60_000 }, async () => {
    const { attempts, failed, importId } = await run(Number.POSITIVE_INFINITY);
    expect(attempts).toBe(IMPORT_MAX_ATTEMPTS);
    expect(failed).toEqual([{ importId, reason: expect.stringContaining(`after ${IMPORT_MAX_ATTEMPTS} failed attempts`) }]);
  });

  it('imports on after a few failed attempts', { timeout: 60_000 }, async () => {
    const { attempts, failed } = await run(IMPORT_MAX_ATTEMPTS - 1);
    expect(attempts).toBe(IMPORT_MAX_ATTEMPTS);
    expect(failed).toEqual([]);
  });
});
