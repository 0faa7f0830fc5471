// The csv-import workflow when its activity gives up on a poisoned chunk (IMPORT_POISONED, thrown
// after IMPORT_MAX_ATTEMPTS attempts that failed on the data; see test/activities/fan-import.test.ts):
// it fails the import for its owner instead of retrying forever, while failures that do not say so
// (outages, killed workers) are retried however many there are. A cancelled import ends failed.
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FanImportActivities } from '../../activities/fan-import.js';
import { fanImportWorkflow, IMPORT_MAX_ATTEMPTS, IMPORT_POISONED } from '../../workflows/fan-import.js';
import { startTimeSkippingServer, withBundledWorker } from '../support/time-skipping.js';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkippingServer();
});
afterAll(() => env?.teardown());

const withWorker = <T>(activities: FanImportActivities, run: (taskQueue: string) => Promise<T>) =>
  withBundledWorker(env.nativeConnection, activities, run);

/** Runs the workflow against an import call that fails its first `failures` attempts, the last one as poisoned if `poisoned`. */
async function run(failures: number, poisoned: boolean) {
  let attempts = 0;
  const failed: { importId: string; reason: string }[] = [];
  const activities: FanImportActivities = {
    async importFanCsvChunk() {
      attempts++;
      if (attempts < failures) throw new Error('the database is restarting');
      if (attempts === failures)
        throw poisoned ? ApplicationFailure.nonRetryable('the same rows failed', IMPORT_POISONED) : new Error('again');
      return { done: true, processedRows: 10 };
    },
    async failFanImport(input) {
      failed.push(input);
    },
  };
  const importId = randomUUID();
  await withWorker(activities, (taskQueue) =>
    env.client.workflow.execute(fanImportWorkflow, { taskQueue, workflowId: `csv-import:${importId}`, args: [{ importId }] }),
  );
  return { attempts, failed, importId };
}

describe('csv-import workflow', () => {
  it('fails the import when its activity says the chunk is poisoned', { timeout: 60_000 }, async () => {
    const { attempts, failed, importId } = await run(IMPORT_MAX_ATTEMPTS, true);
    expect(attempts).toBe(IMPORT_MAX_ATTEMPTS);
    expect(failed).toEqual([{ importId, reason: expect.stringContaining(`failed ${IMPORT_MAX_ATTEMPTS} times`) }]);
  });

  it('retries any number of other failures and imports on', { timeout: 60_000 }, async () => {
    const { attempts, failed } = await run(IMPORT_MAX_ATTEMPTS * 2, false);
    expect(attempts).toBe(IMPORT_MAX_ATTEMPTS * 2 + 1);
    expect(failed).toEqual([]);
  });

  it('ends a cancelled import failed, so that it neither stays running nor keeps its upload', { timeout: 60_000 }, async () => {
    const failed: { importId: string; reason: string }[] = [];
    const activities: FanImportActivities = {
      async importFanCsvChunk() {
        // A long call that heartbeats, as the real one does between chunks; cancellation arrives with a heartbeat.
        for (;;) {
          Context.current().heartbeat();
          await Context.current().sleep(200);
        }
      },
      async failFanImport(input) {
        failed.push(input);
      },
    };
    const importId = randomUUID();
    const outcome = await withWorker(activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(fanImportWorkflow, {
        taskQueue,
        workflowId: `csv-import:${importId}`,
        args: [{ importId }],
      });
      await env.sleep('2 seconds');
      await handle.cancel();
      return handle.result().catch((err: unknown) => err);
    });
    expect(outcome).toBeInstanceOf(WorkflowFailedError);
    expect(failed).toEqual([{ importId, reason: expect.stringContaining('cancelled') }]);
  });
});
