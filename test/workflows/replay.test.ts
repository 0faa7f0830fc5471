// Determinism guard: recorded histories of earlier versions must replay on the current workflow
// code. A change that breaks this needs patched() (running executions would fail otherwise).
// The fixture covers verification, terms, Connect updates, activation with its child workflow,
// restriction, re-activation and deauthorization; test/workflows/onboarding.test.ts records it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

describe('workflow replay', () => {
  it('replays the recorded onboarding history on the current code', async () => {
    // Binary protobuf: the SDK's JSON helpers trip over two protobufjs copies in node_modules.
    const history = temporal.api.history.v1.History.decode(
      readFileSync(path.join(import.meta.dirname, 'histories', 'onboarding-full.bin')),
    );
    expect(history.events?.length).toBeGreaterThan(50);
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, 'onboarding:replay');
  });
});
