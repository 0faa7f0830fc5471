// Which task queues a worker process serves: WORKER_TASK_QUEUES (default all), and the layout of
// processes `npm run dev` and the benchmarks start (CSV imports apart from interactive work).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../dev/toolchain.js';
import { ConfigError, loadConfig } from '../../lib/config.js';
import { ACTIVITY_SLOTS, ALL_AREAS, workerDbPoolSize } from '../../workers/create-workers.js';
import { WORKER_PROCESSES, workerProcessEnv } from '../../workers/layout.js';
import { TaskQueues } from '../../workflows/task-queues.js';

describe('WORKER_TASK_QUEUES', () => {
  it('is every queue when unset, as the e2e tests and a single dev process run it', () => {
    expect(loadConfig({}).WORKER_TASK_QUEUES).toBeUndefined();
    expect([...ALL_AREAS].sort()).toEqual(Object.keys(TaskQueues).sort());
  });

  it('takes a comma-separated subset of the areas', () => {
    expect(loadConfig({ WORKER_TASK_QUEUES: ' crm, onboarding ' }).WORKER_TASK_QUEUES).toEqual(['crm', 'onboarding']);
  });

  it('refuses an unknown area or an empty list, naming the variable', () => {
    for (const bad of ['crm,imports', ',', 'Onboarding']) {
      expect(() => loadConfig({ WORKER_TASK_QUEUES: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ WORKER_TASK_QUEUES: bad }), bad).toThrow(/WORKER_TASK_QUEUES/);
    }
  });
});

describe('worker process layout', () => {
  it('serves every queue exactly once', () => {
    const served = WORKER_PROCESSES.flatMap((p) => p.areas);
    expect([...served].sort()).toEqual([...ALL_AREAS].sort());
    expect(new Set(served).size).toBe(served.length);
    expect(new Set(WORKER_PROCESSES.map((p) => p.name)).size).toBe(WORKER_PROCESSES.length);
  });

  it('keeps CSV imports out of the process that runs onboarding and sends', () => {
    const home = (area: keyof typeof TaskQueues) => WORKER_PROCESSES.find((p) => p.areas.includes(area))!.name;
    expect(home('crm')).not.toBe(home('onboarding'));
    expect(home('crm')).not.toBe(home('messaging'));
  });

  it('gives each process the environment workers/main.ts reads, and a pool sized to its own slots', () => {
    for (const [i, p] of WORKER_PROCESSES.entries()) {
      const config = loadConfig(workerProcessEnv(p, 9464 + i));
      expect(config.WORKER_TASK_QUEUES).toEqual(p.areas);
      expect(config.WORKER_METRICS_PORT).toBe(9464 + i);
      expect(workerDbPoolSize(p.areas)).toBeGreaterThanOrEqual(p.areas.reduce((n, a) => n + ACTIVITY_SLOTS[a], 0));
    }
    expect(workerDbPoolSize()).toBe(WORKER_PROCESSES.reduce((n, p) => n + workerDbPoolSize(p.areas), 0));
  });
});

describe('the production compose file', () => {
  it('runs the worker processes of workers/layout.ts, each with its own WORKER_TASK_QUEUES', () => {
    const compose = readFileSync(path.join(projectRoot, 'docker-compose.temporal.yml'), 'utf8');
    const services = [...compose.matchAll(/^ {2}([\w-]+):\n(?:(?! {2}\S).*\n)*? {6}WORKER_TASK_QUEUES: (.+)$/gm)].map((m) => ({
      name: m[1],
      areas: m[2]!.trim().split(','),
    }));
    expect(services).toEqual(WORKER_PROCESSES.map((p) => ({ name: p.name, areas: p.areas })));
  });
});
