// `csv-import:<importId>`: works through the stored upload chunk by chunk. Each activity call
// commits chunks (rows and checkpoint together) for up to IMPORT_CALL_BUDGET_MS, so the workflow
// only loops; it continues as new before its history grows large.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  continueAsNew,
  isCancellation,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { FanImportActivities } from '../activities/fan-import.js';

/**
 * Attempts of one call after which an error that fails on the data (not an outage: a lost database
 * connection or a killed worker retries for as long as it lasts) fails the import: a poisoned chunk
 * ends visibly instead of retrying forever. The activity decides and throws IMPORT_POISONED.
 */
export const IMPORT_MAX_ATTEMPTS = 8;
export const IMPORT_POISONED = 'ImportPoisoned';

const { importFanCsvChunk } = proxyActivities<FanImportActivities>({
  // One call: chunks for up to 10 s (IMPORT_CALL_BUDGET_MS), then the chunk under way finishes.
  startToCloseTimeout: '2 minutes',
  // Each committed chunk heartbeats (one chunk takes well under a second); a dead worker's call is
  // retried from the committed checkpoint after this.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', nonRetryableErrorTypes: [IMPORT_POISONED] },
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
      if (isCancellation(err)) {
        // Cancelled by an operator: the import ends failed (its upload deleted) rather than `running` forever.
        await CancellationScope.nonCancellable(() =>
          failFanImport({ importId, reason: 'The import was cancelled; the rows before it stopped were imported.' }),
        );
        throw err;
      }
      // Retries are unlimited but for IMPORT_POISONED, so this is a poisoned chunk (or a failure no
      // retry can mend). The owner learns where the import stopped, not why inside (that is in this
      // workflow's history).
      const poisoned = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === IMPORT_POISONED;
      await failFanImport({
        importId,
        reason: poisoned
          ? `The import stopped: the rows after the last ones imported failed ${IMPORT_MAX_ATTEMPTS} times. Try again later or contact support.`
          : 'The import stopped on an unexpected error; the rows before it were imported. Try again later or contact support.',
      });
      return;
    }
    if (done) return;
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2_000) {
      await continueAsNew<typeof fanImportWorkflow>({ importId });
    }
  }
}
