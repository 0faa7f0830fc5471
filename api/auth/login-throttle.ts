// Login throttling from the recorded attempts (login_attempts), so it holds across API instances.
// Per account: after LOGIN_MAX_FAILURES consecutive failures, an exponential lock-out from the last
// failure (base × 2^(extra failures), capped at one hour). Per IP: a cap on failures in 15 minutes.
import { eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { loginAttempts } from '../../db/schema.js';
import type { Config } from '../../lib/config.js';

type ThrottleConfig = Pick<Config, 'LOGIN_MAX_FAILURES' | 'LOGIN_LOCKOUT_BASE_SECONDS' | 'LOGIN_IP_MAX_FAILURES_PER_15MIN'>;
export type LoginOutcome = 'pending' | 'ok' | 'invalid_credentials' | 'throttled_account' | 'throttled_ip';
/** Outcomes that count as failures: an attempt still being checked counts until it is settled. */
const FAILURES = sql`outcome in ('invalid_credentials', 'pending')`;

const MAX_LOCKOUT_SECONDS = 3600;

export function lockoutSeconds(consecutiveFailures: number, config: ThrottleConfig): number {
  if (consecutiveFailures < config.LOGIN_MAX_FAILURES) return 0;
  return Math.min(config.LOGIN_LOCKOUT_BASE_SECONDS * 2 ** (consecutiveFailures - config.LOGIN_MAX_FAILURES), MAX_LOCKOUT_SECONDS);
}

/** Seconds the caller must wait, with the reason, or null when a login may be tried. */
type Executor = Db | Parameters<Parameters<Db['transaction']>[0]>[0];

export async function loginThrottle(
  db: Executor,
  email: string,
  ip: string,
  config: ThrottleConfig,
): Promise<{ outcome: 'throttled_account' | 'throttled_ip'; retryAfterSeconds: number } | null> {
  const [account] = await db.execute<{ failures: number; since_last: number | null }>(sql`
    select count(*)::int as failures,
           extract(epoch from now() - max(created_at))::float8 as since_last
      from login_attempts
     where email = ${email} and ${FAILURES}
       and created_at > now() - interval '24 hours'
       and created_at > coalesce((select max(created_at) from login_attempts where email = ${email} and success), '-infinity')`);
  const lock = lockoutSeconds(account?.failures ?? 0, config);
  if (lock > 0 && account?.since_last != null && account.since_last < lock) {
    return { outcome: 'throttled_account', retryAfterSeconds: lock - account.since_last };
  }
  const [byIp] = await db.execute<{ failures: number; oldest_age: number | null }>(sql`
    select count(*)::int as failures, extract(epoch from now() - min(created_at))::float8 as oldest_age
      from login_attempts
     where ip = ${ip} and ${FAILURES} and created_at > now() - interval '15 minutes'`);
  if (byIp && byIp.failures >= config.LOGIN_IP_MAX_FAILURES_PER_15MIN) {
    return { outcome: 'throttled_ip', retryAfterSeconds: 900 - (byIp.oldest_age ?? 0) };
  }
  return null;
}

export async function recordLoginAttempt(
  db: Executor,
  attempt: { email: string; userId: string | null; ip: string; outcome: LoginOutcome },
): Promise<number> {
  const [row] = await db
    .insert(loginAttempts)
    .values({ ...attempt, success: attempt.outcome === 'ok' })
    .returning({ id: loginAttempts.id });
  return row!.id;
}

/** Records how a pending attempt ended. */
export async function settleLoginAttempt(
  db: Executor,
  id: number,
  result: { userId: string | null; outcome: 'ok' | 'invalid_credentials' },
): Promise<void> {
  await db
    .update(loginAttempts)
    .set({ ...result, success: result.outcome === 'ok' })
    .where(eq(loginAttempts.id, id));
}
