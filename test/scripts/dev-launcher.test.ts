// `npm run dev` as a user runs it, on non-default ports with a temp DATA_DIR and the embedded
// Postgres: up, answering, Ctrl-C stops everything, and a second start reuses the data.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { isPortOpen, projectRoot, waitFor } from '../../dev/toolchain.js';
import { WORKER_PROCESSES } from '../../workers/layout.js';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ofm-dev-launcher-'));
// mkdtemp makes it 0700; embedded Postgres run as root switches to the `postgres` user, which must enter it.
chmodSync(dataDir, 0o755);

interface Launcher {
  child: ChildProcess;
  output(): string;
  /** Resolves when the launcher and everything writing to its output have exited. */
  closed: Promise<void>;
  isClosed(): boolean;
}
const launched: Launcher[] = [];

function launch(ports: Ports): Launcher {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    DATA_DIR: dataDir,
    API_PORT: String(ports.api),
    TEMPORAL_ADDRESS: `127.0.0.1:${ports.temporal}`,
    TEMPORAL_UI_PORT: String(ports.ui),
    EMBEDDED_PG_PORT: String(ports.pg),
    SES_STANDIN_PORT: String(ports.ses),
    STRIPE_STANDIN_PORT: String(ports.stripe),
    PLATFORM_SANDBOX_PORT: String(ports.sandbox),
    LLM_STANDIN_PORT: String(ports.llm),
    WORKER_METRICS_PORT: String(ports.metrics),
  };
  for (const name of [
    'DATABASE_URL',
    'SES_ENDPOINT',
    'STRIPE_SECRET_KEY',
    'PLATFORM_SANDBOX_URL',
    'LLM_API_KEY',
    'LLM_BASE_URL',
    'PUBLIC_API_URL',
    'TEMPORAL_NAMESPACE',
    'DEV_START_TEMPORAL',
  ])
    delete env[name];
  // What `npm run dev` runs after setup.mjs (not `npx tsx`: the tsx CLI's signal relay SIGKILLs a
  // child that is slow to acknowledge a signal, which would orphan the launcher's children).
  // Own process group, so we can Ctrl-C it the way a terminal does, signalling the whole group;
  // the launcher's children have groups of their own and are stopped by the launcher, in order.
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev.ts'], {
    cwd: projectRoot,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  let closed = false;
  const launcher: Launcher = {
    child,
    output: () => out,
    closed: new Promise<void>((resolve) => child.once('close', () => resolve())).then(() => void (closed = true)),
    isClosed: () => closed,
  };
  launched.push(launcher);
  return launcher;
}

const tail = (l: Launcher) => `\n--- launcher output (tail) ---\n${l.output().split('\n').slice(-60).join('\n')}`;

async function untilReady(l: Launcher): Promise<void> {
  await waitFor('`platform ready`', () => l.output().includes('platform ready'), {
    timeoutMs: 150_000,
    abort: () => (l.isClosed() ? 'the launcher exited' : undefined),
  }).catch((err: Error) => {
    throw new Error(err.message + tail(l));
  });
}

async function interrupt(l: Launcher): Promise<void> {
  process.kill(-l.child.pid!, 'SIGINT');
  await waitFor('the launcher to exit after SIGINT', () => l.isClosed(), { timeoutMs: 60_000 }).catch((err: Error) => {
    throw new Error(err.message + tail(l));
  });
}

afterAll(async () => {
  for (const l of launched) {
    if (l.isClosed()) continue;
    try {
      process.kill(-l.child.pid!, 'SIGINT');
      await waitFor('launcher exit', () => l.isClosed(), { timeoutMs: 30_000 });
    } catch {
      try {
        process.kill(-l.child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
}, 90_000);

interface Ports {
  api: number;
  temporal: number;
  ui: number;
  pg: number;
  ses: number;
  stripe: number;
  sandbox: number;
  llm: number;
  metrics: number;
}

/** Free ports; the workers' metrics take `metrics` and the ports after it (one per process of workers/layout.ts). */
async function freePorts(): Promise<Ports> {
  for (;;) {
    const ports = await distinctFreePorts();
    const next = Array.from({ length: WORKER_PROCESSES.length - 1 }, (_, i) => ports.metrics + 1 + i);
    if (next.every((p) => !Object.values(ports).includes(p)) && !(await Promise.all(next.map((p) => isPortOpen(p)))).some(Boolean))
      return ports;
  }
}

async function distinctFreePorts(): Promise<Ports> {
  // Hold all listeners open together so the ports are distinct.
  const servers = await Promise.all(
    Array.from(
      { length: 9 },
      () =>
        new Promise<net.Server>((resolve) => {
          const s = net.createServer().listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const [api, temporal, ui, pg, ses, stripe, sandbox, llm, metrics] = servers.map((s) => (s.address() as net.AddressInfo).port) as number[];
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return { api: api!, temporal: temporal!, ui: ui!, pg: pg!, ses: ses!, stripe: stripe!, sandbox: sandbox!, llm: llm!, metrics: metrics! };
}

async function expectAllClosed(ports: Ports): Promise<void> {
  for (const [name, port] of Object.entries(ports)) {
    await waitFor(`${name} port ${port} to close`, async () => !(await isPortOpen(port)), { timeoutMs: 10_000 });
  }
}

async function withTemporal<T>(ports: Ports, fn: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: `127.0.0.1:${ports.temporal}` });
  try {
    return await fn(new Client({ connection }));
  } finally {
    await connection.close();
  }
}

const probeWorkflowId = 'dev-launcher-probe';

describe('npm run dev (scripts/dev.ts)', () => {
  it('starts the platform, stops it on Ctrl-C, and restarts on the same data', { timeout: 420_000 }, async () => {
    const ports = await freePorts();
    const dbUrl = `postgres://postgres:postgres@127.0.0.1:${ports.pg}/ofm`;

    // First start: fresh data folder.
    const first = launch(ports);
    await untilReady(first);
    const health = await fetch(`http://127.0.0.1:${ports.api}/api/v1/health`);
    expect(health.status).toBe(200);
    const ui = await fetch(`http://127.0.0.1:${ports.ui}/`);
    expect(ui.status).toBeLessThan(500);
    // The first worker process's one metrics endpoint: the SDK's metrics and its own domain counters.
    let workerMetrics = '';
    await waitFor(
      'worker metrics with the SDK’s',
      async () => {
        workerMetrics = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
        return /^temporal_/m.test(workerMetrics);
      },
      { timeoutMs: 30_000 },
    );
    expect(workerMetrics).toMatch(/^# TYPE ofm_llm_cost_cents_total counter$/m);

    // Leave state behind in both stores: a row, and a workflow in flight (no worker polls its queue).
    const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
    await sql`create table launcher_probe (note text)`;
    await sql`insert into launcher_probe values ('kept')`;
    await sql.end();
    await withTemporal(ports, (client) =>
      client.workflow.start('launcherProbe', { taskQueue: 'dev-launcher-probe', workflowId: probeWorkflowId }),
    );

    await interrupt(first);
    expect(first.output()).toMatch(/platform stopped\n/); // not "platform stopped (exit code 1)"
    await expectAllClosed(ports);

    // Second start on the same DATA_DIR: same data, nothing re-initialised.
    const second = launch(ports);
    await untilReady(second);
    expect((await fetch(`http://127.0.0.1:${ports.api}/api/v1/health`)).status).toBe(200);
    const again = postgres(dbUrl, { max: 1, onnotice: () => {} });
    const rows = await again<{ note: string }[]>`select note from launcher_probe`;
    await again.end();
    expect(rows).toEqual([{ note: 'kept' }]);
    const status = await withTemporal(ports, async (client) => (await client.workflow.getHandle(probeWorkflowId).describe()).status.name);
    expect(status).toBe('RUNNING');

    await interrupt(second);
    expect(second.output()).toMatch(/platform stopped\n/);
    await expectAllClosed(ports);
  });
});
