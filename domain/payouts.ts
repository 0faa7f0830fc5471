// Payouts (SPEC §7): one per closed statement, paid at most once by a Stripe transfer whose
// idempotency key and transfer_group derive from the statement. Every transition is conditional on
// the state it leaves, so a retried activity changes nothing twice.
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { payouts } from '../db/schema.js';
import { postJournal } from './ledger.js';
import type { Statement } from './statements.js';

export type Payout = typeof payouts.$inferSelect;
export type PayoutStatus = Payout['status'];

/** The Stripe transfer_group of a statement: the one thing to look a transfer up by once its key expired. */
export const transferGroupOf = (statementId: string) => `statement:${statementId}`;
/** The idempotency key of a statement's transfer, per try after a refusal (Stripe keeps keys about 24 hours). */
export const transferKeyOf = (statementId: string, attempt: number) => `payout:${statementId}:${attempt}`;

/** The statement's payout, created `scheduled` the first time. */
export async function payoutFor(db: Db, statement: Statement): Promise<Payout> {
  await db
    .insert(payouts)
    .values({
      creatorId: statement.creatorId,
      statementId: statement.id,
      month: statement.month,
      currency: statement.currency,
      amountCents: statement.payableCents,
    })
    .onConflictDoNothing();
  return (await db.query.payouts.findFirst({ where: eq(payouts.statementId, statement.id) }))!;
}

export async function movePayout(
  db: Db,
  id: string,
  from: PayoutStatus[],
  set: { status: PayoutStatus; reason?: string | null; transferId?: string },
): Promise<Payout | undefined> {
  const [row] = await db
    .update(payouts)
    .set({ ...set, updatedAt: sql`now()` })
    .where(and(eq(payouts.id, id), inArray(payouts.status, from)))
    .returning();
  return row;
}

/** Paid: the transfer's id recorded and the money posted out of what the platform owes, once. */
export async function recordPaid(db: Db, payout: Payout, transferId: string): Promise<Payout> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(payouts)
      .set({ status: 'paid', transferId, reason: null, updatedAt: sql`now()` })
      .where(and(eq(payouts.id, payout.id), inArray(payouts.status, ['scheduled', 'processing', 'held', 'failed'])))
      .returning();
    await postJournal(tx, {
      creatorId: payout.creatorId,
      source: `payout:${payout.id}`,
      kind: 'payout',
      currency: payout.currency,
      occurredAt: new Date(),
      lines: [
        { account: 'payouts', amountCents: payout.amountCents },
        { account: 'receivable', amountCents: -payout.amountCents },
      ],
    });
    return row ?? (await tx.query.payouts.findFirst({ where: eq(payouts.id, payout.id) }))!;
  });
}

export const payoutsOf = (db: Db, creatorId: string) =>
  db.select().from(payouts).where(eq(payouts.creatorId, creatorId)).orderBy(desc(payouts.month)).limit(120);
