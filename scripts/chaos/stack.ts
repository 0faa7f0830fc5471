// The chaos run's own stack, every part a separate, killable process on fixed free ports: embedded
// Postgres and a file-backed Temporal dev server (both under the run's data folder, so a restart
// finds the same data), the SES / Stripe / fan-platform stand-ins (never killed: they play the
// outside world and keep its delivery logs), one worker and the API. Killing is SIGKILL to the
// whole process group; restarting reuses the ports and the data, as a supervisor would.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { runMigrations } from '../../db/migrate.js';
import { startEmbeddedPostgres } from '../../dev/embedded-postgres.js';
import { freePort, projectRoot, spawnManaged, startTemporalDevServer, waitFor, type ManagedProcess } from '../../dev/toolchain.js';
import { searchAttributeCliPairs } from '../../workflows/search-attributes.js';
import { LIFTED_ABUSE_LIMITS } from '../bench-stack.js';

export const KILLABLE = ['api', 'worker', 'temporal', 'postgres'] as const;
export type Killable = (typeof KILLABLE)[number];

export interface ChaosStack {
  base: string;
  env: NodeJS.ProcessEnv;
  databaseUrl: string;
  temporalAddress: string;
  stripeUrl: string;
  sandboxUrl: string;
  /** SIGKILLs the process group of `kind`, waits for it to be gone, starts it again on the same port and data, waits until it serves. */
  killAndRestart(kind: Killable): Promise<{ downMs: number }>;
  /** Exits nobody asked for (a process that gave up on a dependency), restarted like a kill. */
  selfExits: Record<Killable, number>;
  stop(): Promise<void>;
}

export async function startChaosStack(opts: { dataDir: string; log: (line: string) => void }): Promise<ChaosStack> {
  const { dataDir, log } = opts;
  rmSync(dataDir, { recursive: true, force: true });
  const [pgPort, temporalPort, apiPort, sesPort, stripePort, sandboxPort, metricsPort, llmPort] = (await Promise.all(
    Array.from({ length: 8 }, () => freePort()),
  )) as [number, number, number, number, number, number, number, number];
  const procs: Partial<Record<Killable, ManagedProcess>> = {};
  const others: ManagedProcess[] = [];
  const expectedExit = new Set<ManagedProcess>();
  const selfExits: Record<Killable, number> = { api: 0, worker: 0, temporal: 0, postgres: 0 };
  let stopping = false;
  const restarting = new Map<Killable, Promise<unknown>>();

  let starters: Record<Killable, () => Promise<ManagedProcess>>;
  function restart(kind: Killable): Promise<unknown> {
    const pending = restarting.get(kind);
    if (pending) return pending;
    const run = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          procs[kind] = await starters[kind]();
          return;
        } catch (err) {
          if (stopping || attempt >= 5) throw err;
          log(`restart of ${kind} failed (attempt ${attempt}): ${(err as Error).message.slice(0, 300)}`);
          await new Promise((r) => setTimeout(r, 1_000 * attempt));
        }
      }
    })().finally(() => restarting.delete(kind));
    restarting.set(kind, run);
    return run;
  }

  // A process that exits without being killed is restarted too (as systemd or Kubernetes would), and counted.
  function supervise(kind: Killable, p: ManagedProcess): ManagedProcess {
    void p.exited.then(({ code, signal }) => {
      if (stopping || expectedExit.has(p)) return;
      selfExits[kind] += 1;
      log(`${kind} exited by itself (code ${code}, signal ${signal}); restarting. Last output:\n${p.recentOutput().slice(-1500)}`);
      void restart(kind).catch((err: unknown) => log(`could not restart ${kind}: ${(err as Error).message}`));
    });
    return p;
  }

  const startPostgres = async () => {
    const pg = await startEmbeddedPostgres({
      dataDir: path.join(dataDir, 'postgres'),
      port: pgPort,
      database: 'ofm_chaos',
      detached: true,
      // A SIGKILLed server loses nothing the OS already has: fsync only guards against power loss.
      postgresFlags: ['-c', 'fsync=off', '-c', 'max_connections=200'],
      startTimeoutMs: 120_000,
    });
    supervise('postgres', pg.process);
    return pg;
  };
  const startTemporal = async () => {
    const t = await startTemporalDevServer({
      port: temporalPort,
      dbFilename: path.join(dataDir, 'temporal.sqlite'),
      searchAttributes: searchAttributeCliPairs(),
      detached: true,
      startTimeoutMs: 120_000,
    });
    supervise('temporal', t.process);
    return t;
  };

  const stopAll = async () => {
    stopping = true;
    const all = [procs.api, procs.worker, ...others, procs.temporal, procs.postgres];
    for (const p of all) await p?.stop({ timeoutMs: 10_000 }).catch(() => {});
  };

  try {
    const pg = await startPostgres();
    const databaseUrl = pg.url;
    procs.postgres = pg.process;
    await runMigrations(databaseUrl);
    procs.temporal = (await startTemporal()).process;
    const temporalAddress = `127.0.0.1:${temporalPort}`;

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      DATA_DIR: path.join(dataDir, 'app'),
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalAddress,
      API_PORT: String(apiPort),
      PUBLIC_API_URL: `http://127.0.0.1:${apiPort}`,
      SES_STANDIN_PORT: String(sesPort),
      STRIPE_STANDIN_PORT: String(stripePort),
      PLATFORM_SANDBOX_PORT: String(sandboxPort),
      LLM_STANDIN_PORT: String(llmPort),
      WORKER_METRICS_PORT: String(metricsPort),
      ...LIFTED_ABUSE_LIMITS,
    };
    const node = (name: string, entry: string) =>
      spawnManaged(name, process.execPath, ['--import', 'tsx', path.join(projectRoot, entry)], {
        cwd: projectRoot,
        env,
        detached: true,
        onLine: (l) => /"level":(50|60)/.test(l) && log(`[${name}] ${l.slice(0, 400)}`),
      });
    const startApi = () => supervise('api', node('api', 'api/main.ts'));
    const startWorker = () => supervise('worker', node('worker', 'workers/main.ts'));
    const base = `http://127.0.0.1:${apiPort}`;
    const apiReady = async () => (await fetch(`${base}/ready`, { signal: AbortSignal.timeout(2_000) })).status === 200;

    starters = {
      postgres: async () => (await startPostgres()).process,
      temporal: async () => (await startTemporal()).process,
      api: async () => {
        const p = startApi();
        await waitFor('API ready', apiReady, { timeoutMs: 120_000, abort: () => (p.isRunning() ? undefined : p.recentOutput()) });
        return p;
      },
      // Ready means running: it polls once Temporal answers, and a kill mid-start is a fair test too.
      worker: async () => startWorker(),
    };

    others.push(
      node('ses', 'standins/ses-main.ts'),
      node('stripe', 'standins/stripe-main.ts'),
      node('sandbox', 'standins/platform-sandbox-main.ts'),
      node('llm', 'standins/llm-main.ts'),
    );
    procs.worker = startWorker();
    procs.api = await starters.api();
    const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
    const stripeUrl = `http://127.0.0.1:${stripePort}`;
    const llmUrl = `http://127.0.0.1:${llmPort}`;
    const healthy = async (url: string) => (await fetch(url)).ok;
    await waitFor(
      'stand-ins',
      async () =>
        (await healthy(`${sandboxUrl}/health`)) && (await healthy(`${stripeUrl}/_standin/health`)) && (await healthy(`${llmUrl}/health`)),
      {
        timeoutMs: 60_000,
      },
    );

    return {
      base,
      env,
      databaseUrl,
      temporalAddress,
      stripeUrl,
      sandboxUrl,
      selfExits,
      async killAndRestart(kind) {
        await restarting.get(kind)?.catch(() => {});
        const p = procs[kind]!;
        expectedExit.add(p);
        const t0 = Date.now();
        // Postgres backends call setsid(), so the group kill misses them: they are killed by pid, as a crash would leave none.
        const children = p.child.pid ? descendants(p.child.pid) : [];
        await p.stop({ signal: 'SIGKILL', timeoutMs: 5_000 });
        for (const pid of children) signalPid(pid, 'SIGKILL');
        await waitFor(`${kind} processes gone`, () => children.every((pid) => !alive(pid)), { timeoutMs: 10_000, intervalMs: 50 });
        await restart(kind);
        return { downMs: Date.now() - t0 };
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** A short-lived client of the chaos database (Postgres may be down: retried by the caller). */
export async function withSql<T>(databaseUrl: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(databaseUrl, { max: 2, connect_timeout: 5, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** Every process below `root` (from /proc: Linux only, like the rest of the chaos run). */
function descendants(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name (field 2) may hold spaces and parentheses: the ppid follows the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parentOf) {
      if (parent !== pid || out.includes(child)) continue;
      out.push(child);
      walk(child);
    }
  };
  walk(root);
  return out;
}

function signalPid(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
