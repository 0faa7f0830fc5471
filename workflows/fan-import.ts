// `csv-import:<importId>`: works through the stored file chunk by chunk. Each activity call
// commits chunks (rows and checkpoint together) for up to IMPORT_CALL_BUDGET_MS, so the workflow
// only loops; it continues as new before its history grows large.
import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { FanImportActivities } from '../activities/fan-import.js';

const { importFanCsvChunk } = proxyActivities<FanImportActivities>({
  // One call: chunks for up to 30 s (IMPORT_CALL_BUDGET_MS), then the chunk under way finishes.
  startToCloseTimeout: '2 minutes',
  // Each committed chunk heartbeats (one chunk takes a second or two); a dead worker's call is
  // retried from the committed checkpoint after this.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

export const fanImportWorkflowId = (importId: string) => `csv-import:${importId}`;

export async function fanImportWorkflow({ importId }: { importId: string }): Promise<void> {
  for (;;) {
    const { done } = await importFanCsvChunk({ importId });
    if (done) return;
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2_000) {
      await continueAsNew<typeof fanImportWorkflow>({ importId });
    }
  }
}
