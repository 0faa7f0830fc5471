// Payouts (SPEC §7): one per closed statement, paid at most once by a Stripe transfer whose
// idempotency key and transfer_group derive from the statement. Every transition is conditional on
// the state it leaves, so a retried activity changes nothing twice.
import { and, asc, desc, eq, gt, inArray, isNotNull, lt, or, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.js';
import { DomainError } from './errors.js';
import { creatorProfiles, payouts } from '../db/schema.js';
import { postJournal } from './ledger.js';
import type { Statement } from './statements.js';

export type Payout = typeof payouts.$inferSelect;
export type PayoutStatus = Payout['status'];

/** The Stripe transfer_group of a statement: the one thing to look a transfer up by once its key expired. */
export const transferGroupOf = (statementId: string) => `statement:${statementId}`;
/** The idempotency key of a statement's transfer, per run and try (Stripe keeps keys about 24 hours). */
export const transferKeyOf = (statementId: string, tryId: string) => `payout:${statementId}:${tryId}`;

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
  db: Db | Tx,
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
export async function recordPaid(db: Db | Tx, payout: Payout, transferId: string): Promise<Payout> {
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

/** What a transfer.* event carries that a payout needs (the Stripe transfer object). */
export interface TransferFacts {
  id: string;
  amount: number;
  amount_reversed: number;
  currency: string;
  destination: string | null;
  transfer_group: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A signed transfer.created / transfer.updated / transfer.reversed event applied to the statement's
 * payout (idempotent, in any order): the transfer makes it paid if the workflow has not recorded
 * that yet, and what Stripe reversed is posted back to the ledger once (the receivable owes it
 * again, in the next statement); fully reversed, the payout is `reversed`. A transfer that is not a
 * payout's (another group, another amount, a second transfer for one statement) changes nothing:
 * the reconciliation shows it. So does a transfer to another account than the creator's.
 */
export async function applyTransferEvent(db: Db, transfer: TransferFacts): Promise<'applied' | 'not_a_payout' | 'mismatch'> {
  const statementId = transfer.transfer_group?.startsWith('statement:') ? transfer.transfer_group.slice('statement:'.length) : '';
  if (!UUID.test(statementId)) return 'not_a_payout';
  const payout = await db.query.payouts.findFirst({ where: eq(payouts.statementId, statementId) });
  if (!payout) return 'not_a_payout';
  const profile = await db.query.creatorProfiles.findFirst({ where: eq(creatorProfiles.userId, payout.creatorId) });
  if (
    !profile?.stripeAccountId ||
    transfer.destination !== profile.stripeAccountId ||
    transfer.amount !== payout.amountCents ||
    transfer.currency !== payout.currency ||
    (payout.transferId !== null && payout.transferId !== 'none' && payout.transferId !== transfer.id)
  )
    return 'mismatch';
  await db
    .transaction(async (tx) => {
      // The payout's row may be locked by its transfer in flight (activities/payouts.ts): wait a
      // little, not with a connection of the API's pool for as long as Stripe takes.
      await tx.execute(sql`set local lock_timeout = '2s'`);
      const paid = payout.status === 'paid' || payout.status === 'reversed' ? payout : await recordPaid(tx, payout, transfer.id);
      if (transfer.amount_reversed > 0) await postReversal(tx, paid, transfer);
    })
    .catch((err: unknown) => {
      const code = (err as { code?: string; cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code;
      if (code === LOCK_NOT_AVAILABLE)
        throw new DomainError('unavailable', 'payout_busy', 'the payout is being paid; send the event again shortly');
      throw err;
    });
  return 'applied';
}

/** Postgres: lock_timeout passed. */
const LOCK_NOT_AVAILABLE = '55P03';

/** What Stripe reversed of the payout's transfer, posted back once per cumulative amount (in a transaction). */
async function postReversal(tx: Tx, payout: Payout, transfer: TransferFacts): Promise<void> {
  // One reversal posting at a time per payout: each posts what the cumulative amount adds.
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`payout:${payout.id}`}, 0))`);
  const [{ posted }] = (await tx.execute(sql`
    select coalesce(sum(e.amount_cents), 0)::bigint as posted
    from ledger_journals j join ledger_entries e on e.journal_id = j.id and e.account = 'receivable'
    where j.creator_id = ${payout.creatorId} and j.kind = 'payout_reversal' and j.source like ${`transfer_reversal:${transfer.id}:%`}`)) as unknown as [
    { posted: string },
  ];
  const more = Math.min(transfer.amount_reversed, transfer.amount) - Number(posted);
  if (more > 0)
    await postJournal(tx, {
      creatorId: payout.creatorId,
      source: `transfer_reversal:${transfer.id}:${transfer.amount_reversed}`,
      kind: 'payout_reversal',
      currency: payout.currency,
      occurredAt: new Date(),
      lines: [
        { account: 'payouts', amountCents: -more },
        { account: 'receivable', amountCents: more },
      ],
    });
  // From the ledger, not this event: an older event arriving late cannot undo a newer one.
  const reversed = Number(posted) + Math.max(more, 0);
  const full = reversed >= transfer.amount;
  await tx
    .update(payouts)
    .set({
      status: full ? 'reversed' : 'paid',
      reason: full ? 'Stripe reversed the transfer' : `Stripe reversed ${reversed} of ${transfer.amount} cents`,
      updatedAt: sql`now()`,
    })
    .where(and(eq(payouts.id, payout.id), inArray(payouts.status, ['paid', 'reversed'])));
}

/** Held payouts whose creator can now be paid (activated, not restricted, payouts enabled), oldest first. */
export const heldNowPayable = (db: Db, limit: number) =>
  db
    .select({ creatorId: payouts.creatorId, month: payouts.month })
    .from(payouts)
    .innerJoin(creatorProfiles, eq(creatorProfiles.userId, payouts.creatorId))
    .where(
      and(
        eq(payouts.status, 'held'),
        eq(creatorProfiles.status, 'active'),
        eq(creatorProfiles.payoutsEnabled, true),
        isNotNull(creatorProfiles.stripeAccountId),
      ),
    )
    .orderBy(asc(payouts.updatedAt))
    .limit(limit);

/** Every creator's payouts in `status` (an admin's list), optionally of one month, by id after `after`. */
export const payoutsByStatus = (db: Db, r: { status: PayoutStatus; month?: string; after?: string; limit: number }) =>
  db
    .select()
    .from(payouts)
    .where(
      and(eq(payouts.status, r.status), r.month ? eq(payouts.month, r.month) : undefined, r.after ? gt(payouts.id, r.after) : undefined),
    )
    .orderBy(asc(payouts.id))
    .limit(r.limit);

/** The creator's payouts, newest month first (then by id), after the cursor's (month, id). */
export const payoutsOf = (db: Db, creatorId: string, limit: number, after?: { value: string; id: string }) =>
  db
    .select()
    .from(payouts)
    .where(
      and(
        eq(payouts.creatorId, creatorId),
        after ? or(lt(payouts.month, after.value), and(eq(payouts.month, after.value), gt(payouts.id, after.id))) : undefined,
      ),
    )
    .orderBy(desc(payouts.month), asc(payouts.id))
    .limit(limit);
