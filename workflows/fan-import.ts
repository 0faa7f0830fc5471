// `csv-import:<importId>`: works through the stored upload chunk by chunk. Each activity call
// commits chunks (rows and checkpoint together) for up to IMPORT_CALL_BUDGET_MS, so the workflow
// only loops; it continues as new before its history grows large.
import { ActivityFailure, continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { FanImportActivities } from '../activities/fan-import.js';

/**
 * Attempts of one call before the import fails. A file the parser cannot read fails the import
 * by itself; this bounds what else could fail the same chunk every time (a poisoned chunk) while
 * outlasting a worker killed or a database restarted a few times on the way.
 */
export const IMPORT_MAX_ATTEMPTS = 8;

const { importFanCsvChunk } = proxyActivities<FanImportActivities>({
  // One call: chunks for up to 10 s (IMPORT_CALL_BUDGET_MS), then the chunk under way finishes.
  startToCloseTimeout: '2 minutes',
  // Each committed chunk heartbeats (one chunk takes well under a second); a dead worker's call is
  // retried from the committed checkpoint after this.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: IMPORT_MAX_ATTEMPTS },
});
const { failFanImport } = proxyActivities<FanImportActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

export const fanImportWorkflowId = (importId: string) => `csv-import:${importId}`;

export async function fanImportWorkflow({ importId }: { importId: string }): Promise<void> {
  for (;;) {
    let done: boolean;
    try {
      ({ done } = await importFanCsvChunk({ importId }));
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      // The owner learns the import stopped, not why inside (that is in this workflow's history).
      await failFanImport({
        importId,
        reason: `The import stopped after ${IMPORT_MAX_ATTEMPTS} failed attempts at the same rows; the rows before them were imported. Try again later or contact support.`,
      });
      return;
    }
    if (done) return;
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2_000) {
      await continueAsNew<typeof fanImportWorkflow>({ importId });
    }
  }
}
