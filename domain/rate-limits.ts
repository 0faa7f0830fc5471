// Durable fixed-window rate limits, shared by every API instance through Postgres (the
// rate_limit_counters table). One statement per check, whatever the number of keys: an upsert that
// counts this request in each key's current window and returns the counts. A request refused still
// counts (a client hammering past its limit does not earn a fresh window sooner).
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';

export interface Limit {
  /** Prefixed by what it counts (`user:`, `ip:`, `register-email:`, …), so keys of different limits never meet. */
  key: string;
  max: number;
  /** At most an hour: the maintenance purge removes windows that started over two hours ago. */
  windowSeconds: number;
}

/**
 * Counts one hit against every limit; null when all allow it, else the seconds until the latest
 * refusing window ends. Rows are written in key order so that concurrent checks lock them in the
 * same order (no deadlock).
 */
export async function hitLimits(db: Db, limits: Limit[]): Promise<{ retryAfterSeconds: number } | null> {
  if (limits.length === 0) return null;
  const byKey = new Map(limits.map((l) => [l.key, l]));
  const rows = await db.execute<{ key: string; count: number; age: number }>(sql`
    insert into rate_limit_counters (key, window_start, count)
    select k, to_timestamp(floor(extract(epoch from now()) / w) * w), 1
    from json_to_recordset(${JSON.stringify([...byKey.values()].map((l) => ({ k: l.key, w: l.windowSeconds })))}::json) as t(k text, w int)
    order by k
    on conflict (key, window_start) do update set count = rate_limit_counters.count + 1
    returning key, count, extract(epoch from now() - window_start)::float8 as age`);
  let retryAfterSeconds = 0;
  for (const row of rows) {
    const limit = byKey.get(row.key)!;
    if (row.count > limit.max) retryAfterSeconds = Math.max(retryAfterSeconds, 1, limit.windowSeconds - row.age);
  }
  return retryAfterSeconds > 0 ? { retryAfterSeconds } : null;
}
