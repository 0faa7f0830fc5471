// The short chaos run (`npm run chaos` in small): its own embedded Postgres and file-backed Temporal
// (the suite's shared ones must never be killed), the API, a worker and the stand-ins as processes;
// one SIGKILL of each of API, worker, Temporal and Postgres under a mixed HTTP workload, then
// nothing lost, nothing duplicated, no workflow stuck.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../dev/toolchain.js';
import { killPlan, runChaos } from '../../scripts/chaos/run.js';

describe('chaos: every kind of process SIGKILLed under a mixed workload', () => {
  it('the kill plan is reproducible from its seed and deals every kind', () => {
    const plan = killPlan(42, 8, 3_000, 12_000);
    expect(killPlan(42, 8, 3_000, 12_000)).toEqual(plan);
    for (const kind of ['api', 'worker', 'temporal', 'postgres']) expect(plan.filter((k) => k.kind === kind)).toHaveLength(2);
    expect(plan.every((k) => k.gapMs >= 3_000 && k.gapMs <= 12_000)).toBe(true);
  });

  it('loses nothing, duplicates nothing and leaves no workflow stuck', async () => {
    const lines: string[] = [];
    const dataDir = path.join(projectRoot, '.data', 'chaos', `test-${randomUUID().slice(0, 8)}`);
    try {
      const r = await runChaos({
        seed: 7,
        kills: 4,
        minGapMs: 3_000,
        maxGapMs: 6_000,
        onboardings: 2,
        sends: 30,
        inboundEvents: 15,
        campaignRecipients: 1_000,
        importRows: 2_000,
        settleMs: 90_000,
        dataDir,
        log: (l) => lines.push(l),
      });
      const summary = `${JSON.stringify({ problems: r.problems, facts: r.facts, killsByKind: r.killsByKind }, null, 2)}\n${lines.join('\n')}`;
      expect(r.killsByKind, summary).toEqual({ api: 1, worker: 1, temporal: 1, postgres: 1 });
      expect(r.problems, summary).toEqual([]);
      expect({ lost: r.lost, duplicated: r.duplicated, stuck: r.stuck }).toEqual({ lost: 0, duplicated: 0, stuck: 0 });
      expect(r.facts['1:1 messages delivered']).toBe('30 / 30');
      expect(r.facts['campaign recipients / sent / delivered']).toBe('1000 / 1000 / 1000');
      expect(r.facts['onboardings activated once']).toBe('2 / 2');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 240_000);
});
