// `csv-import:<importId>`: works through the stored file chunk by chunk. Each chunk is one
// activity that commits its rows and the checkpoint together, so the workflow only loops; it
// continues as new before its history grows large.
import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { FanImportActivities } from '../activities/fan-import.js';

const { importFanCsvChunk } = proxyActivities<FanImportActivities>({
  startToCloseTimeout: '5 minutes',
  // A chunk heartbeats within a second or two; a dead worker's chunk is retried after this.
  heartbeatTimeout: '20 seconds',
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
