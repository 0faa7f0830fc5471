// Whether a creator's send queue will run another batch for a platform without a signal, so that a
// send to a draining queue costs no Temporal call on the request path (table send_queue_awake).
//
// The API's side is in enqueueMessage (domain/outbox.ts): the statement that queues a message reads
// the row under a share lock. The worker's side is settleSendQueueAwake below.
//
// No message may be left unsignalled. Both sides lock the (creator, platform) row, and the worker
// counts what is due only after it holds the lock, in a statement of its own (a fresh snapshot
// under READ COMMITTED):
//  - the API's lock comes first: the worker waits for the API's transaction, then counts the new
//    message as due, stays awake and its workflow sends it; the API, having read "awake", skips the signal;
//  - the worker's lock comes first: it may clear the row without seeing the message, and the API,
//    waiting for that commit, then reads the cleared row and signals.
// A row the worker could not renew (its workflow gone) expires on its own: `awake_until` is the
// platform's whole window (the longest a due message can wait for its turn) plus a grace.
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { sendQueueAwake } from '../db/schema.js';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** Beyond the window, before a row the worker did not renew stops saving signals. */
export const AWAKE_GRACE_MS = 15_000;

/**
 * The worker side, after a batch: counts the due messages per platform under the rows' locks and
 * records each platform as awake (some due: the workflow will send them within the window) or not.
 */
export async function settleSendQueueAwake(
  db: Db,
  creatorId: string,
  windowsMs: Record<string, number>,
  countDue: (tx: Tx) => Promise<Record<string, number>>,
): Promise<Record<string, number>> {
  const platforms = Object.keys(windowsMs).sort();
  if (platforms.length === 0) return {};
  return db.transaction(async (tx) => {
    // Rows first (in one order, so two batches cannot deadlock), then the count, in its own statement.
    await tx
      .insert(sendQueueAwake)
      .values(platforms.map((platform) => ({ creatorId, platform, awakeUntil: sql`'-infinity'::timestamptz` })))
      .onConflictDoNothing();
    await tx
      .select({ platform: sendQueueAwake.platform })
      .from(sendQueueAwake)
      .where(and(eq(sendQueueAwake.creatorId, creatorId), inArray(sendQueueAwake.platform, platforms)))
      .orderBy(sendQueueAwake.platform)
      .for('update');
    const due = await countDue(tx);
    for (const platform of platforms) {
      const awakeUntil =
        (due[platform] ?? 0) > 0
          ? sql`now() + ${windowsMs[platform]! + AWAKE_GRACE_MS} * interval '1 millisecond'`
          : sql`'-infinity'::timestamptz`;
      await tx
        .update(sendQueueAwake)
        .set({ awakeUntil })
        .where(and(eq(sendQueueAwake.creatorId, creatorId), eq(sendQueueAwake.platform, platform)));
    }
    return due;
  });
}
