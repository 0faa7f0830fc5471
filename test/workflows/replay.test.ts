// Determinism guard: recorded histories of earlier versions must replay on the current workflow
// code. A change that breaks this needs patched() (running executions would fail otherwise).
// The onboarding fixture covers verification, terms, Connect updates, activation with its child
// workflow, restriction, re-activation and deauthorization; test/workflows/onboarding.test.ts
// records it. The campaign fixtures (test/workflows/campaign.test.ts records them) cover a run
// paused, resumed and cancelled, and a completed run reopened by retry-failed (Update-with-Start).
// The send-queue fixture was recorded once from the code of commit ab4bec3, before the pacing
// schedule was kept (patched 'send-pacing-kept-schedule'): batches that start late, and a signal
// while one runs; a queue runs for weeks, so its old histories must keep replaying.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

// Binary protobuf: the SDK's JSON helpers trip over two protobufjs copies in node_modules.
const history = (file: string) => temporal.api.history.v1.History.decode(readFileSync(path.join(import.meta.dirname, 'histories', file)));
const replay = (h: ReturnType<typeof history>, workflowId: string) =>
  Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, h, workflowId);

describe('workflow replay', () => {
  it('replays the recorded onboarding history on the current code', async () => {
    const h = history('onboarding-full.bin');
    expect(h.events?.length).toBeGreaterThan(50);
    await replay(h, 'onboarding:replay');
  });

  it('replays a send queue recorded before the pacing schedule was kept', async () => {
    const h = history('send-queue-before-kept-schedule.bin');
    expect(h.events?.filter((e) => e.workflowExecutionSignaledEventAttributes).length).toBeGreaterThan(0);
    await replay(h, 'send-queue:replay');
  });

  it('replays the recorded campaign run histories on the current code', async () => {
    for (const file of ['campaign-pause-resume-cancel.bin', 'campaign-reopened-retry.bin']) {
      const h = history(file);
      const updates = h.events?.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length ?? 0;
      expect(updates, file).toBeGreaterThan(0);
      await replay(h, `campaign:replay:${file}`);
    }
  });
});
