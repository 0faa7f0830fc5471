import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';

export function createMaintenanceActivities({ db }: { db: Db }) {
  return {
    /** Idempotent delete of tokens that expired more than `graceHours` ago. */
    async purgeExpiredTokens({ graceHours }: { graceHours: number }): Promise<{ emailTokens: number; refreshTokens: number }> {
      const cutoff = sql`now() - make_interval(hours => ${graceHours})`;
      const email = await db.execute(sql`delete from email_tokens where expires_at < ${cutoff}`);
      const refresh = await db.execute(sql`delete from refresh_tokens where expires_at < ${cutoff}`);
      return { emailTokens: email.count, refreshTokens: refresh.count };
    },
  };
}

export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;
