import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';

export interface PurgeResult {
  emailTokens: number;
  refreshTokens: number;
  idempotencyKeys: number;
}

export function createMaintenanceActivities({ db }: { db: Db }) {
  return {
    /**
     * Idempotent delete of tokens that expired more than `graceHours` ago, and of Idempotency-Key
     * records past the same age (their replay window).
     */
    async purgeExpiredTokens({ graceHours }: { graceHours: number }): Promise<PurgeResult> {
      const cutoff = sql`now() - make_interval(hours => ${graceHours})`;
      const email = await db.execute(sql`delete from email_tokens where expires_at < ${cutoff}`);
      const refresh = await db.execute(sql`delete from refresh_tokens where expires_at < ${cutoff}`);
      const idempotency = await db.execute(sql`delete from idempotency_keys where created_at < ${cutoff}`);
      return { emailTokens: email.count, refreshTokens: refresh.count, idempotencyKeys: idempotency.count };
    },
  };
}

export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;
