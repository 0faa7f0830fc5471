// Once per `vitest run`: a Temporal dev server (in memory, headless), a fresh migrated database,
// and the workflow bundle. Test files read them with `inject(...)`; each file uses its own task
// queue and ids, so they share these without interfering.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, bundleWorkflowCode } from '@temporalio/worker';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { runMigrations } from '../db/migrate.js';
import { startEmbeddedPostgres } from '../dev/embedded-postgres.js';
import { freePort, projectRoot, startTemporalDevServer } from '../dev/toolchain.js';
import { searchAttributeCliPairs } from '../workflows/search-attributes.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** host:port of a Temporal dev server; namespace `default`, search attributes registered. */
    temporalAddress: string;
    /** A database created (and migrated) for this run, dropped at the end. */
    databaseUrl: string;
    /** Workflow code bundled once: `Worker.create({ workflowBundle: { codePath } })`. */
    workflowBundlePath: string;
  }
}

type Cleanup = () => Promise<void>;

export default async function setup(project: TestProject): Promise<Cleanup> {
  const cleanups: Cleanup[] = [];
  const teardown = async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err: unknown) => console.error('[global-setup] teardown:', err));
    }
  };
  const [temporal, database, bundle] = await Promise.allSettled([startTemporal(cleanups), prepareDatabase(cleanups), bundleWorkflows()]);
  if (temporal.status === 'rejected' || database.status === 'rejected' || bundle.status === 'rejected') {
    await teardown();
    throw [temporal, database, bundle].flatMap((r) => (r.status === 'rejected' ? [r.reason] : []))[0];
  }
  project.provide('temporalAddress', temporal.value);
  project.provide('databaseUrl', database.value);
  project.provide('workflowBundlePath', bundle.value);
  return teardown;
}

async function startTemporal(cleanups: Cleanup[]): Promise<string> {
  const server = await startTemporalDevServer({ port: await freePort(), searchAttributes: searchAttributeCliPairs() });
  cleanups.push(server.stop);
  return server.address;
}

/** TEST_DATABASE_URL's server when set, else an embedded one; either way a fresh database per run. */
async function prepareDatabase(cleanups: Cleanup[]): Promise<string> {
  let serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) {
    const pg = await startEmbeddedPostgres({
      dataDir: path.join(projectRoot, '.data', 'test-postgres'),
      port: await freePort(),
      database: 'postgres',
      // Throwaway data: skip the fsyncs (still safe when a process dies, only not on power loss).
      postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off'],
    });
    cleanups.push(pg.stop);
    serverUrl = pg.url;
  }
  const name = `ofm_test_${Date.now()}_${process.pid}`;
  await withAdmin(serverUrl, async (sql) => {
    // Databases of earlier runs that could not clean up (killed); hours old, so not a concurrent run's.
    const stale = await sql<{ datname: string }[]>`select datname from pg_database where datname like 'ofm\\_test\\_%'`;
    for (const { datname } of stale) {
      const startedAt = Number(datname.split('_')[2]);
      if (startedAt < Date.now() - 6 * 3600_000) await sql`drop database if exists ${sql(datname)} with (force)`;
    }
    await sql`create database ${sql(name)}`;
  });
  cleanups.push(() => withAdmin(serverUrl, async (sql) => void (await sql`drop database if exists ${sql(name)} with (force)`)));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  await runMigrations(url.toString());
  return url.toString();
}

async function bundleWorkflows(): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(projectRoot, 'workflows', 'index.ts'),
    logger: new DefaultLogger('WARN'),
  });
  const file = path.join(projectRoot, '.data', 'test', 'workflow-bundle.js');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, code);
  return file;
}

async function withAdmin(url: string, fn: (sql: postgres.Sql) => Promise<void>): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
