// The stack a benchmark runs against, as separate processes on free ports: Temporal dev server
// (in memory), Postgres (DATABASE_URL's server or an embedded one) with a fresh database,
// migrations, the mail, Stripe and fan-platform stand-ins, the worker processes of `npm run dev`
// (workers/layout.ts; BENCH_WORKER_LAYOUT=single runs every queue in one process) and the API.
// Nothing is shared with `npm run dev`.
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import type { Db } from '../db/client.js';
import { fans } from '../db/schema.js';
import { runMigrations } from '../db/migrate.js';
import { apiClient } from '../dev/api-client.js';
import { startEmbeddedPostgres } from '../dev/embedded-postgres.js';
import { freePort, projectRoot, spawnManaged, startTemporalDevServer, waitFor, type ManagedProcess } from '../dev/toolchain.js';
import { WORKER_PROCESSES, workerProcessEnv, type WorkerProcess } from '../workers/layout.js';
import { ALL_AREAS } from '../workers/create-workers.js';
import { searchAttributeCliPairs } from '../workflows/search-attributes.js';
import type { MixedRequest } from './bench-report.js';

/** The worker processes a bench stack runs: `npm run dev`'s layout, or every queue in one process. */
export function benchWorkerLayout(layout = process.env.BENCH_WORKER_LAYOUT ?? 'split'): WorkerProcess[] {
  if (layout === 'single') return [{ name: 'worker', areas: [...ALL_AREAS] }];
  if (layout === 'split') return WORKER_PROCESSES;
  throw new Error(`BENCH_WORKER_LAYOUT must be split or single, not ${layout}`);
}

/** Benchmarks and the chaos run measure throughput and loss, not the abuse limits: these lift them. */
export const LIFTED_ABUSE_LIMITS: NodeJS.ProcessEnv = {
  PUBLIC_ROUTE_LIMIT_PER_MINUTE: '1000000',
  LOGIN_IP_MAX_FAILURES_PER_15MIN: '1000000',
  USER_RATE_LIMIT_PER_MINUTE: '1000000',
  USER_IP_RATE_LIMIT_PER_MINUTE: '1000000',
  REGISTER_LIMIT_PER_IP_PER_HOUR: '1000000',
  FORGOT_PASSWORD_LIMIT_PER_IP_PER_HOUR: '1000000',
  MAX_OPEN_CAMPAIGNS_PER_CREATOR: '1000000',
  MAX_OPEN_IMPORTS_PER_CREATOR: '1000000',
};

export async function startBenchStack(name: string, options: { workers?: WorkerProcess[]; env?: NodeJS.ProcessEnv } = {}) {
  const workerProcesses = options.workers ?? benchWorkerLayout();
  const stops: (() => Promise<unknown>)[] = [];
  const dataDir = path.join(projectRoot, '.data', 'bench');
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  };
  // A benchmark stopped with Ctrl-C or kill takes its stack with it (its processes would drain a fleet on, unseen).
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143)));
  try {
    let serverUrl = process.env.DATABASE_URL;
    const postgresKind = serverUrl ? 'DATABASE_URL server' : 'embedded PostgreSQL 18';
    if (!serverUrl) {
      const pg = await startEmbeddedPostgres({
        dataDir: path.join(dataDir, 'postgres'),
        port: await freePort(),
        database: 'postgres',
        postgresFlags: ['-c', 'fsync=off'],
      });
      stops.push(() => pg.stop());
      serverUrl = pg.url;
    }
    const database = `ofm_bench_${name}_${Date.now()}`;
    const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${database}`);
    await admin.end();
    const databaseUrl = Object.assign(new URL(serverUrl), { pathname: `/${database}` }).toString();
    stops.push(async () => {
      const a = postgres(serverUrl!, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${database} with (force)`);
      await a.end();
    });
    await runMigrations(databaseUrl);

    const temporal = await startTemporalDevServer({ port: await freePort(), searchAttributes: searchAttributeCliPairs() });
    stops.push(() => temporal.stop());

    const [apiPort, sesPort, stripePort, sandboxPort, metricsPort, llmPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      DATA_DIR: path.join(dataDir, `${name}-${randomUUID().slice(0, 8)}`),
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporal.address,
      API_PORT: String(apiPort),
      PUBLIC_API_URL: `http://127.0.0.1:${apiPort}`,
      SES_STANDIN_PORT: String(sesPort),
      STRIPE_STANDIN_PORT: String(stripePort),
      PLATFORM_SANDBOX_PORT: String(sandboxPort),
      LLM_STANDIN_PORT: String(llmPort),
      WORKER_METRICS_PORT: String(metricsPort),
      ...LIFTED_ABUSE_LIMITS,
      ...options.env,
    };
    const procs: ManagedProcess[] = [];
    // BENCH_PROFILE_DIR=dir: the API and worker processes write V8 CPU profiles there when they
    // exit by themselves (a stop that ends in SIGKILL writes none).
    const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_PROFILE_DIR)}`] : [];
    const start = (proc: string, entry: string, extraEnv: NodeJS.ProcessEnv = {}) => {
      const flags = /^(api|workers)\//.test(entry) ? profile : [];
      const p = spawnManaged(proc, process.execPath, [...flags, '--import', 'tsx', path.join(projectRoot, entry)], {
        cwd: projectRoot,
        env: { ...env, ...extraEnv },
        onLine: (l) => /"level":(50|60)/.test(l) && console.error(`[${proc}] ${l}`),
      });
      procs.push(p);
      stops.push(() => p.stop());
      return p;
    };
    start('ses', 'standins/ses-main.ts');
    start('stripe', 'standins/stripe-main.ts');
    start('sandbox', 'standins/platform-sandbox-main.ts');
    start('llm', 'standins/llm-main.ts');
    const workerPids: Record<string, number | undefined> = {};
    for (const [i, w] of workerProcesses.entries()) {
      const p = start(w.name, 'workers/main.ts', workerProcessEnv(w, i === 0 ? metricsPort : await freePort()));
      workerPids[w.name] = p.child.pid;
    }
    const api = start('api', 'api/main.ts');
    const base = `http://127.0.0.1:${apiPort}`;
    await waitFor('API ready', async () => (await fetch(`${base}/ready`)).status === 200, {
      timeoutMs: 120_000,
      abort: () => (api.isRunning() ? undefined : api.recentOutput()),
    });
    return {
      base,
      env,
      root: projectRoot,
      postgresKind,
      databaseUrl,
      temporalAddress: temporal.address,
      stripeStandinUrl: `http://127.0.0.1:${stripePort}`,
      sandboxUrl: `http://127.0.0.1:${sandboxPort}`,
      workers: workerProcesses,
      /** Process ids of the API and of each worker process (by name), for CPU sampling. */
      pids: { api: api.child.pid, ...workerPids },
      start,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A new creator on a bench stack, email verified and signed in: its id and access token. */
export async function benchCreator(base: string): Promise<{ userId: string; token: string }> {
  const json = apiClient(base);
  const email = `bench-${randomUUID()}@example.com`;
  const password = 'bench-password-violet-42';
  const { userId } = (await json('POST', '/api/v1/auth/register', { email, password })).body;
  // Tenant routes need a verified email (SPEC §1): the link from the dev mailbox, as a person would.
  let token: string | undefined;
  await waitFor('verification mail', async () => {
    const { messages } = (await json('GET', `/api/v1/dev/mailbox?to=${encodeURIComponent(email)}`)).body as {
      messages: { text: string }[];
    };
    token = messages.map((m) => /token=([\w-]+)/.exec(m.text)?.[1]).find(Boolean);
    return token !== undefined;
  });
  await json('POST', '/api/v1/auth/verify-email', { token });
  const { accessToken } = (await json('POST', '/api/v1/auth/login', { email, password })).body;
  return { userId, token: accessToken };
}

/** CPU time of a process so far, in clock ticks (100/s), from /proc (Linux); NaN where unreadable. */
const cpuTicks = (pid: number | undefined) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // after the command name, which may hold ') '
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return Number.NaN;
  }
};

/** Starts measuring the CPU of the stack's processes; the returned function says each one's share of a core since. */
export function cpuMeter(pids: Record<string, number | undefined>) {
  const t0 = performance.now();
  const start = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuTicks(pid)]));
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    return Object.entries(pids)
      .map(([k, pid]) => `${k} ${Math.round(((cpuTicks(pid) - start[k]!) / 100 / seconds) * 100)} %`)
      .join(', ');
  };
}

/** The environment line of a benchmark that drives the whole stack from its own process. */
export const wholeStackEnvironment = (postgresKind: string) =>
  `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, Postgres: ${postgresKind}, Temporal dev server (in memory); API, worker processes and stand-ins as separate processes, the load generator in the benchmark process, all on this machine${process.env.BENCH_NOTE ? `; ${process.env.BENCH_NOTE}` : ''}`;

/** `count` new creators (bench creators, four at a time), each with `fansPerCreator` fans written straight to the database. */
export async function benchCreatorsWithFans(base: string, db: Db, count: number, fansPerCreator: number, handlePrefix: string) {
  const creators: { userId: string; token: string; fanIds: string[] }[] = [];
  for (let i = 0; i < count; i += 4) {
    const batch = await Promise.all(Array.from({ length: Math.min(4, count - i) }, () => benchCreator(base)));
    for (const c of batch) {
      const rows = await db
        .insert(fans)
        .values(Array.from({ length: fansPerCreator }, (_, f) => ({ creatorId: c.userId, handle: `${handlePrefix}_${f}` })))
        .returning({ id: fans.id });
      creators.push({ ...c, fanIds: rows.map((r) => r.id) });
    }
  }
  return creators;
}

/** One `POST /onlyfans/messages/send` of a fixed-rate load (atFixedRateMix). */
export const oneToOneSend = (
  base: string,
  token: string,
  recipientId: string,
  content: string,
  headers: Record<string, string> = {},
): MixedRequest => ({
  route: 'POST /onlyfans/messages/send',
  expect: 202,
  send: () =>
    fetch(`${base}/api/v1/onlyfans/messages/send`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ recipientId, content }),
    }),
});
