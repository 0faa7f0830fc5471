// `npm run dev`: the whole platform on one machine, on embedded defaults.
//   Postgres   DATABASE_URL when set, else embedded PostgreSQL 18 in ${DATA_DIR}/postgres
//   migrations db/migrate.ts
//   Temporal   `temporal server start-dev` on SQLite in ${DATA_DIR}/temporal (started only when
//              TEMPORAL_ADDRESS is on this machine; DEV_START_TEMPORAL=false uses a server you run)
//   SES        standins/ses-main.ts when no SES_ENDPOINT is configured (config.usesSesStandin)
//   Stripe     standins/stripe-main.ts when no STRIPE_SECRET_KEY is configured (config.usesStripeStandin)
//   sandbox    standins/platform-sandbox-main.ts, the simulated fan platform, unless PLATFORM_SANDBOX_URL is set
//   LLM        standins/llm-main.ts when neither LLM_API_KEY nor LLM_BASE_URL is configured (config.usesLlmStandin)
//   workers    workers/main.ts, once per process of workers/layout.ts (`worker`: onboarding, maintenance,
//              messaging, campaigns; `worker-bulk`: CSV imports), metrics on WORKER_METRICS_PORT, +1, ...
//   API        api/main.ts
// Children inherit the environment (plus the resolved DATABASE_URL), each output line is prefixed
// with its name, and `platform ready` is printed once everything answers. Ctrl-C / SIGTERM stops
// them in reverse order; a child dying on its own stops everything with exit code 1. Data is
// kept, so a restart carries on with the workflows in flight.
//
// Children run in their own process groups so a terminal's Ctrl-C reaches only this launcher,
// which then stops them in order. Run it as `npm run dev` (node --import tsx), not through the
// tsx CLI: its signal relay SIGKILLs a child that is slow to acknowledge a signal, and a
// SIGKILLed launcher leaves its children running.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { runMigrations } from '../db/migrate.js';
import { configFromProcess } from '../lib/config.js';
import { startEmbeddedPostgres } from '../dev/embedded-postgres.js';
import {
  isPortOpen,
  isTemporalReady,
  projectRoot,
  registerSearchAttributes,
  spawnManaged,
  startTemporalDevServer,
  temporalCliPath,
  waitFor,
  type ManagedProcess,
} from '../dev/toolchain.js';
import { searchAttributeCliPairs } from '../workflows/search-attributes.js';
import { WORKER_PROCESSES, workerProcessEnv } from '../workers/layout.js';

const config = configFromProcess();

// --- output ---------------------------------------------------------------------------------
const say = (msg: string) => process.stdout.write(`[dev]      ${msg}\n`);
const printer = (name: string) => {
  const prefix = `[${name}]`.padEnd(10);
  return (line: string, stream: 'stdout' | 'stderr' = 'stdout') =>
    (stream === 'stderr' ? process.stderr : process.stdout).write(`${prefix} ${line}\n`);
};

// --- lifecycle ------------------------------------------------------------------------------
interface Running {
  name: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}
const running: Running[] = []; // in start order; stopped in reverse
let pendingStart: Promise<unknown> = Promise.resolve();
let stopping = false;

/** Records a started component so shutdown stops it, and watches for it dying on its own. */
function track(item: Running): Running {
  running.push(item);
  void item.process.exited.then(({ code, signal }) => {
    if (!stopping) void shutdown(1, `${item.name} exited unexpectedly (${signal ?? `code ${code}`})`);
  });
  return item;
}

/** Awaits a component's start; a shutdown arriving meanwhile waits for it, then stops it too. */
function starting<T extends Running>(promise: Promise<T>): Promise<T> {
  const tracked = promise.then(track) as Promise<T>;
  pendingStart = tracked.catch(() => {});
  return tracked;
}

async function shutdown(exitCode: number, reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  say(reason);
  if (running.length > 0)
    say(
      `stopping ${running
        .map((r) => r.name)
        .reverse()
        .join(', ')}`,
    );
  await pendingStart;
  for (const item of [...running].reverse()) {
    try {
      await item.stop();
    } catch (err) {
      say(`could not stop ${item.name}: ${(err as Error).message}`);
      exitCode = exitCode || 1;
    }
  }
  say(exitCode === 0 ? 'platform stopped' : `platform stopped (exit code ${exitCode})`);
  process.exit(exitCode);
}

// One Ctrl-C can arrive more than once (the terminal signals the whole process group, and tsx /
// npm also forward it), so only a repeat after a grace period means "force".
let firstSignalAt = 0;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (!firstSignalAt) {
      firstSignalAt = Date.now();
      return void shutdown(0, `received ${sig} (repeat after 2s to force)`);
    }
    if (Date.now() - firstSignalAt < 2000) return;
    say('repeated signal: killing everything now');
    for (const item of running) item.process.child.pid && tryKill(-item.process.child.pid);
    process.exit(1);
  });
}
process.on('uncaughtException', (err) => void shutdown(1, `launcher error: ${err.stack ?? err}`));
process.on('unhandledRejection', (err) => void shutdown(1, `launcher error: ${(err as Error)?.stack ?? err}`));
// Last resort if the launcher exits without the ordered shutdown: leave no orphans behind.
process.on('exit', () => {
  for (const item of running) if (item.process.isRunning() && item.process.child.pid) tryKill(-item.process.child.pid);
});
function tryKill(pid: number) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

// --- helpers --------------------------------------------------------------------------------
function hostPort(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address);
  if (!match) throw new Error(`TEMPORAL_ADDRESS must be host:port, got "${address}"`);
  return { host: match[1]!, port: Number(match[2]) };
}

async function assertPortFree(port: number, variable: string): Promise<void> {
  if (await isPortOpen(port)) {
    throw new Error(
      `Port ${port} (${variable}) is already in use: a leftover from an earlier \`npm run dev\`, or another program. ` +
        `Stop it, or set ${variable} to a free port.`,
    );
  }
}

/** Runs a TypeScript entry point (tsx as a Node loader: one process, signals reach it directly). */
function startEntry(name: string, entry: string, env: NodeJS.ProcessEnv = {}): Running {
  const file = path.join(projectRoot, entry);
  const proc = spawnManaged(name, process.execPath, ['--import', 'tsx', file], {
    cwd: projectRoot,
    detached: true,
    env: { ...process.env, DATABASE_URL: config.DATABASE_URL, ...env },
    onLine: printer(name),
  });
  // SIGTERM: the entry points drain (Temporal worker shutdown, Fastify close) and exit.
  return track({ name, process: proc, stop: () => proc.stop({ signal: 'SIGTERM', timeoutMs: 30_000 }) });
}

const childGone = (item: Running | undefined) => () =>
  item && !item.process.isRunning() ? `${item.name} exited:\n${item.process.recentOutput()}` : undefined;

function redact(url: string): string {
  const u = new URL(url);
  if (u.password && !config.usesEmbeddedPostgres) u.password = '***';
  return u.toString();
}

// --- main -----------------------------------------------------------------------------------
async function main(): Promise<void> {
  const dataDir = config.DATA_DIR;
  const temporal = hostPort(config.TEMPORAL_ADDRESS);
  const startTemporal = config.DEV_START_TEMPORAL && ['127.0.0.1', 'localhost', '::1'].includes(temporal.host);
  const startSes = config.usesSesStandin;
  const startStripe = config.usesStripeStandin;
  const startSandbox = config.usesPlatformSandbox;
  const startLlm = config.usesLlmStandin;

  // Fail fast, with the variable to change, rather than half-starting into a busy port.
  if (config.usesEmbeddedPostgres) await assertPortFree(config.EMBEDDED_PG_PORT, 'EMBEDDED_PG_PORT');
  if (startTemporal) {
    await assertPortFree(temporal.port, 'TEMPORAL_ADDRESS');
    await assertPortFree(config.TEMPORAL_UI_PORT, 'TEMPORAL_UI_PORT');
  }
  if (startSes) await assertPortFree(config.SES_STANDIN_PORT, 'SES_STANDIN_PORT');
  if (startStripe) await assertPortFree(config.STRIPE_STANDIN_PORT, 'STRIPE_STANDIN_PORT');
  if (startSandbox) await assertPortFree(config.PLATFORM_SANDBOX_PORT, 'PLATFORM_SANDBOX_PORT');
  if (startLlm) await assertPortFree(config.LLM_STANDIN_PORT, 'LLM_STANDIN_PORT');
  const workerMetricsPorts = WORKER_PROCESSES.map((_, i) => config.WORKER_METRICS_PORT + i);
  for (const p of workerMetricsPorts) await assertPortFree(p, 'WORKER_METRICS_PORT');
  await assertPortFree(config.API_PORT, 'API_PORT');

  // (a) Postgres
  if (config.usesEmbeddedPostgres) {
    say(`starting embedded Postgres (data in ${path.join(dataDir, 'postgres')})`);
    await starting(
      startEmbeddedPostgres({
        dataDir: path.join(dataDir, 'postgres'),
        port: config.EMBEDDED_PG_PORT,
        database: decodeURIComponent(new URL(config.DATABASE_URL).pathname.slice(1)),
        detached: true,
        onLine: printer('postgres'),
      }).then((p) => ({ name: 'postgres', process: p.process, stop: p.stop })),
    );
  }
  if (stopping) return;

  // (b) migrations
  say('applying migrations');
  await runMigrations(config.DATABASE_URL).catch((err: Error) => {
    // drizzle wraps the driver error (e.g. ECONNREFUSED) as `cause`; that is the useful part.
    const cause = err.cause instanceof Error ? err.cause.message : err.message;
    throw new Error(`migrations failed on ${redact(config.DATABASE_URL)}: ${cause}`);
  });
  if (stopping) return;

  // (c) Temporal
  const pairs = searchAttributeCliPairs();
  if (startTemporal) {
    say(`starting Temporal dev server (data in ${path.join(dataDir, 'temporal')})`);
    mkdirSync(path.join(dataDir, 'temporal'), { recursive: true });
    await starting(
      startTemporalDevServer({
        ip: '127.0.0.1',
        port: temporal.port,
        uiPort: config.TEMPORAL_UI_PORT,
        dbFilename: path.join(dataDir, 'temporal', 'temporal.sqlite'),
        namespace: config.TEMPORAL_NAMESPACE,
        searchAttributes: pairs,
        detached: true,
        onLine: printer('temporal'),
      }).then((t) => ({ name: 'temporal', process: t.process, stop: t.stop })),
    );
  } else {
    say(`using the Temporal server at ${config.TEMPORAL_ADDRESS}`);
    await waitFor(`Temporal at ${config.TEMPORAL_ADDRESS}`, () => isTemporalReady(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE), {
      timeoutMs: 30_000,
    });
    // Best effort: a managed server (e.g. Temporal Cloud) registers attributes its own way.
    await registerSearchAttributes({
      cliPath: temporalCliPath(),
      address: config.TEMPORAL_ADDRESS,
      namespace: config.TEMPORAL_NAMESPACE,
      pairs,
    }).catch((err: Error) => say(`WARNING: ${err.message}`));
  }
  if (stopping) return;

  // (d) stand-ins, (e) worker, (f) API
  const ses = startSes ? startEntry('ses', 'standins/ses-main.ts') : undefined;
  if (ses)
    await waitFor(`the SES stand-in on port ${config.SES_STANDIN_PORT}`, () => isPortOpen(config.SES_STANDIN_PORT), {
      abort: childGone(ses),
    });
  const stripe = startStripe ? startEntry('stripe', 'standins/stripe-main.ts') : undefined;
  if (stripe)
    await waitFor(`the Stripe stand-in on port ${config.STRIPE_STANDIN_PORT}`, () => isPortOpen(config.STRIPE_STANDIN_PORT), {
      abort: childGone(stripe),
    });
  const sandbox = startSandbox ? startEntry('sandbox', 'standins/platform-sandbox-main.ts') : undefined;
  if (sandbox)
    await waitFor(`the platform sandbox on port ${config.PLATFORM_SANDBOX_PORT}`, () => isPortOpen(config.PLATFORM_SANDBOX_PORT), {
      abort: childGone(sandbox),
    });
  const llm = startLlm ? startEntry('llm', 'standins/llm-main.ts') : undefined;
  if (llm)
    await waitFor(`the LLM stand-in on port ${config.LLM_STANDIN_PORT}`, () => isPortOpen(config.LLM_STANDIN_PORT), {
      abort: childGone(llm),
    });
  if (stopping) return;
  const workers = WORKER_PROCESSES.map((w, i) => startEntry(w.name, 'workers/main.ts', workerProcessEnv(w, workerMetricsPorts[i]!)));
  const api = startEntry('api', 'api/main.ts');
  const healthUrl = `http://127.0.0.1:${config.API_PORT}/api/v1/health`;
  await waitFor(`the API at ${healthUrl}`, async () => (await fetch(healthUrl)).ok, {
    abort: () => [api, ...workers].map((p) => childGone(p)()).find(Boolean),
  });
  // A worker serves SDK metrics once its runtime is up; a crash at start shows up here or above.
  for (const [i, worker] of workers.entries())
    await waitFor(`${worker.name} (metrics port ${workerMetricsPorts[i]})`, () => isPortOpen(workerMetricsPorts[i]!), {
      abort: childGone(worker),
    });
  if (stopping) return;

  const apiUrl = `http://localhost:${config.API_PORT}`;
  const lines = [
    '',
    'OFM Social OS is running:',
    `  API            ${apiUrl}/api/v1  (docs: ${apiUrl}/docs)`,
    `  Temporal UI    ${startTemporal ? `http://localhost:${config.TEMPORAL_UI_PORT}` : '(the UI of your Temporal server)'}`,
    `  Temporal gRPC  ${config.TEMPORAL_ADDRESS}  (namespace ${config.TEMPORAL_NAMESPACE})`,
    `  Postgres       ${redact(config.DATABASE_URL)}${config.usesEmbeddedPostgres ? '  (embedded)' : ''}`,
    `  Mail           ${ses ? `SES stand-in at ${config.SES_ENDPOINT} (read it: ${apiUrl}/api/v1/dev/mailbox?to=<email>)` : `SES at ${config.SES_ENDPOINT ?? 'the AWS default endpoint'}`}`,
    `  Stripe         ${stripe ? `stand-in at http://127.0.0.1:${config.STRIPE_STANDIN_PORT} (webhooks to ${config.PUBLIC_API_URL}/api/v1/webhooks/stripe)` : 'api.stripe.com'}`,
    `  Fan platform   ${sandbox ? `sandbox at ${config.PLATFORM_SANDBOX_URL} (fans reply and buy through ${config.PUBLIC_API_URL}/api/v1/platforms/<platform>/webhook)` : config.PLATFORM_SANDBOX_URL}`,
    `  LLM            ${llm ? `stand-in at ${config.LLM_BASE_URL} (faults, scripted replies, calls: /_llm/)` : (config.LLM_BASE_URL ?? 'api.openai.com')}`,
    ...WORKER_PROCESSES.map(
      (w, i) => `  ${w.name.padEnd(15)}${w.areas.join(', ')} (metrics http://127.0.0.1:${workerMetricsPorts[i]}/metrics)`,
    ),
    `  Data           ${dataDir}`,
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  say('platform ready');
}

main().catch((err: Error) => void shutdown(1, `start-up failed: ${err.message}`));
