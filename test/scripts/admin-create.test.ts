// `npm run admin:create`: the one way an administrator comes to be (SPEC §8).
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../dev/toolchain.js';
import { createAdmin } from '../../scripts/admin-create.js';
import { type Harness, login, registerUnverified, startHarness, uniqueEmail } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workers: false });
});
afterAll(() => h?.close());

const roleOf = async (userId: string) => (await h.sql`select role from users where id = ${userId}`)[0]!.role;

describe('admin:create', () => {
  it('creates a verified admin who can log in, with the given or a generated password', async () => {
    const email = uniqueEmail('ops');
    const made = await createAdmin(h.db, email, 'a-long-admin-passphrase-42');
    expect(made).toEqual({ userId: expect.any(String), created: true });
    expect(await roleOf(made.userId)).toBe('admin');
    expect((await login(h, email, 'a-long-admin-passphrase-42')).accessToken).toBeTruthy();

    const generated = await createAdmin(h.db, uniqueEmail('ops2'));
    expect(generated.password).toMatch(/^[\w-]{24}$/);
    await expect(createAdmin(h.db, uniqueEmail('ops3'), 'short')).rejects.toThrow(/ADMIN_PASSWORD/);
    await expect(createAdmin(h.db, 'not-an-email')).rejects.toThrow(/not an email/);
  });

  it('promotes an existing account, keeping its password and verifying its address', async () => {
    const user = await registerUnverified(h);
    expect(await createAdmin(h.db, user.email.toUpperCase(), 'ignored-for-existing-42')).toEqual({ userId: user.userId, created: false });
    expect(await roleOf(user.userId)).toBe('admin');
    expect((await h.sql`select email_verified_at from users where id = ${user.userId}`)[0]!.email_verified_at).not.toBeNull();
    expect((await login(h, user.email)).accessToken).toBeTruthy();
  });

  it('runs as the npm script against DATABASE_URL', () => {
    const email = uniqueEmail('cli');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/admin-create.ts', '--email', email], {
      cwd: projectRoot,
      env: { ...process.env, DATABASE_URL: h.config.DATABASE_URL, ADMIN_PASSWORD: 'cli-admin-passphrase-42', NODE_ENV: 'test' },
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`created ${email}`));
    expect(spawnSync(process.execPath, ['--import', 'tsx', 'scripts/admin-create.ts'], { cwd: projectRoot, encoding: 'utf8' }).status).toBe(
      2,
    );
  });
});
