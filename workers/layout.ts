// Which worker processes `npm run dev` and the benchmarks start, and which task queues each serves
// (WORKER_TASK_QUEUES). Workers in one process share its event loop and its Postgres pool, so CPU-bound
// work (parsing a CSV import, whose hostile files can take a core for minutes) runs in a process of
// its own: onboarding steps, 1:1 sends and campaigns never wait behind it. See docs/DECISIONS.md.
import type { WorkerArea } from './create-workers.js';

export interface WorkerProcess {
  /** The process's name in logs (`[worker]`, `[worker-bulk]`). */
  name: string;
  areas: WorkerArea[];
}

export const WORKER_PROCESSES: WorkerProcess[] = [
  { name: 'worker', areas: ['onboarding', 'maintenance', 'messaging', 'campaigns', 'ai', 'money'] },
  { name: 'worker-bulk', areas: ['crm'] },
];

/** The environment that makes workers/main.ts run `p`'s queues with its metrics on `metricsPort`. */
export const workerProcessEnv = (p: WorkerProcess, metricsPort: number): NodeJS.ProcessEnv => ({
  WORKER_TASK_QUEUES: p.areas.join(','),
  WORKER_METRICS_PORT: String(metricsPort),
});
