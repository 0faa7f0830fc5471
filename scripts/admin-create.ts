// `npm run admin:create -- --email ops@example.com`: makes that account an administrator (SPEC §8:
// admins are created by a command, never by the API). A new account gets the password in
// ADMIN_PASSWORD, or a generated one printed once; an existing account is promoted and keeps its
// password. The email counts as verified: whoever runs this controls the database.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { eq, sql } from 'drizzle-orm';
import { hashPassword, passwordProblem } from '../api/auth/passwords.js';
import { createDb, type Db } from '../db/client.js';
import { users } from '../db/schema.js';
import { configFromProcess } from '../lib/config.js';

export async function createAdmin(
  db: Db,
  email: string,
  password?: string,
): Promise<{ userId: string; created: boolean; password?: string }> {
  const address = email.trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(address)) throw new Error(`not an email address: ${email}`);
  const [promoted] = await db
    .update(users)
    // Whoever runs this controls the database: the address counts as verified (admin routes need it).
    .set({ role: 'admin', emailVerifiedAt: sql`coalesce(${users.emailVerifiedAt}, now())`, updatedAt: sql`now()` })
    .where(eq(users.email, address))
    .returning({ id: users.id });
  if (promoted) return { userId: promoted.id, created: false };
  const chosen = password ?? randomBytes(18).toString('base64url');
  const problem = passwordProblem(chosen, address);
  if (problem) throw new Error(`ADMIN_PASSWORD: ${problem}`);
  const [created] = await db
    .insert(users)
    .values({ email: address, passwordHash: await hashPassword(chosen), role: 'admin', emailVerifiedAt: sql`now()` })
    .returning({ id: users.id });
  return { userId: created!.id, created: true, ...(password === undefined ? { password: chosen } : {}) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { email: { type: 'string' } } });
  if (!values.email) {
    console.error('usage: npm run admin:create -- --email <address>   (password: ADMIN_PASSWORD, else generated)');
    process.exit(2);
  }
  const config = configFromProcess();
  const { db, close } = createDb(config.DATABASE_URL, { max: 1 });
  try {
    const result = await createAdmin(db, values.email, process.env.ADMIN_PASSWORD);
    console.log(
      result.created ? `admin:create: created ${values.email} (${result.userId})` : `admin:create: ${values.email} is now an admin`,
    );
    if (result.password) console.log(`admin:create: its password, shown once: ${result.password}`);
  } catch (err) {
    console.error(`admin:create: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  } finally {
    await close();
  }
}
