// postgres.js 3.4.9 writes a transaction's ROLLBACK on a socket it has already dropped when the
// backend dies mid-query, and the TypeError escapes from a setImmediate: no caller can catch it and
// the API or worker process exits (porsager/postgres#1208; found by `npm run chaos` killing
// Postgres). patches/postgres+3.4.9.patch adds upstream's proposed guard; this proves it is applied.
import { spawnSync } from 'node:child_process';
import { describe, expect, inject, it } from 'vitest';
import { projectRoot } from '../../dev/toolchain.js';

// Runs in a child process: without the guard the uncaught error would take the test runner down.
const backendDiesInTransaction = `
import postgres from 'postgres';
const url = process.argv[1];
const sql = postgres(url, { max: 2, onnotice: () => {} });
const killer = postgres(url, { max: 1, onnotice: () => {} });
let pid;
const tx = sql.begin(async (t) => {
  [{ pid }] = await t\`select pg_backend_pid() as pid\`;
  await t\`select pg_sleep(5)\`;
});
while (pid === undefined) await new Promise((r) => setTimeout(r, 20));
await killer\`select pg_terminate_backend(\${pid})\`;
const outcome = await tx.then(() => 'committed', (err) => err.code ?? err.message);
// The pool carries on: the dead connection's slot reconnects and every later query answers.
let one = 0;
for (let i = 0; i < 6; i++) one = (await Promise.all([sql\`select 1 as one\`, sql\`select 1 as one\`]))[0][0].one;
// A reserved connection whose backend dies: released, then the pool still serves.
const reserved = await sql.reserve();
const [{ pid: reservedPid }] = await reserved\`select pg_backend_pid() as pid\`;
const sleeping = reserved\`select pg_sleep(5)\`.catch((err) => err.code);
// Killed while the sleep runs.
while ((await killer\`select 1 from pg_stat_activity where pid = \${reservedPid} and query like '%pg_sleep%' and state = 'active'\`).length === 0);
await killer\`select pg_terminate_backend(\${reservedPid})\`;
await sleeping;
reserved.release();
one = (await sql\`select 1 as one\`)[0].one;
await new Promise((r) => setImmediate(r)); // a write deferred to setImmediate (the crash) would run before this
console.log(JSON.stringify({ outcome, one }));
await Promise.all([sql.end(), killer.end()]);
`;

// A transaction (and a reserved session) whose backend dies between statements, with another query
// waiting so the pool reconnects that slot at once: the statements after the death must fail, not
// run in autocommit on the new session (unpatched, 'after' is committed while 'before' is rolled back).
const laterStatementsAfterBackendDeath = `
import postgres from 'postgres';
const url = process.argv[1];
const table = process.argv[2];
const sql = postgres(url, { max: 1, onnotice: () => {} });
const killer = postgres(url, { max: 1, onnotice: () => {} });
await killer.unsafe('create table ' + table + ' (v text)');
const dieBetweenStatements = async (run) => {
  let pid;
  let killed;
  const died = new Promise((r) => (killed = r));
  const work = run(async (t) => {
    [{ pid }] = await t\`select pg_backend_pid() as pid\`;
    await died;
  }).catch(() => null);
  while (pid === undefined) await new Promise((r) => setTimeout(r, 20));
  const waiting = sql\`select 1\`.catch(() => null); // queued behind the busy slot: it reconnects the slot
  await killer\`select pg_terminate_backend(\${pid})\`;
  await waiting; // the slot reconnected and served it: the body's next statement meets a new session
  killed();
  await work;
};
await dieBetweenStatements((body) =>
  sql.begin(async (t) => {
    await t.unsafe("insert into " + table + " values ('tx before')");
    await body(t);
    await t.unsafe("insert into " + table + " values ('tx after')");
  }),
);
await dieBetweenStatements(async (body) => {
  const r = await sql.reserve();
  try {
    await r\`begin\`;
    await r.unsafe("insert into " + table + " values ('reserved before')");
    await body(r);
    await r.unsafe("insert into " + table + " values ('reserved after')");
    await r\`commit\`;
  } finally {
    r.release();
  }
});
const rows = await killer.unsafe('select v from ' + table + ' order by v');
await killer.unsafe('drop table ' + table);
console.log(JSON.stringify({ rows: rows.map((r) => r.v), one: (await sql\`select 1 as one\`)[0].one }));
await Promise.all([sql.end(), killer.end()]);
`;

describe('postgres driver (patched)', () => {
  it('survives a backend killed in the middle of a transaction: the transaction rejects, the process lives on', () => {
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', backendDiesInTransaction, inject('databaseUrl')], {
      cwd: projectRoot,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.stderr).not.toMatch(/TypeError/);
    expect(child.status, `${child.stdout}\n${child.stderr}`).toBe(0);
    const result = JSON.parse(child.stdout.trim().split('\n').pop()!);
    expect(result.one).toBe(1);
    expect(result.outcome).not.toBe('committed');
  });

  it('fails the statements of a transaction or reserved session after its backend died, instead of running them on a new session', () => {
    const table = `driver_probe_${process.pid}_${Date.now()}`;
    const child = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', laterStatementsAfterBackendDeath, inject('databaseUrl'), table],
      {
        cwd: projectRoot,
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(child.status, `${child.stdout}\n${child.stderr}`).toBe(0);
    const result = JSON.parse(child.stdout.trim().split('\n').pop()!);
    expect(result.rows).toEqual([]);
    expect(result.one).toBe(1);
  });
});
