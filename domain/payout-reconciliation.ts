// Reconciliation of a month's payouts (SPEC §7, admin): every payout as the ledger records it
// against the transfers Stripe holds for its statement's transfer_group, a page at a time. What it
// flags: more than one transfer for a statement; a paid payout whose transfer is missing, another
// one or of another amount; a reversal Stripe made that the ledger has not posted (or the other
// way); a transfer for a payout the ledger does not hold as paid (a commit or a webhook lost).
import { and, asc, eq, gt, sql } from 'drizzle-orm';
import Stripe from 'stripe';
import type { Db } from '../db/client.js';
import { payouts } from '../db/schema.js';
import { DomainError } from './errors.js';
import { type Payout, transferGroupOf } from './payouts.js';

/** Stripe lookups in flight at once per page. */
const CONCURRENCY = 8;
/** A payout `processing` for longer than this with a transfer at Stripe is no longer just in flight. */
const IN_FLIGHT_MS = 15 * 60_000;

export interface Reconciliation {
  month: string;
  payouts: number;
  /** What the ledger holds as paid for these payouts, less the reversals it posted. */
  paidCents: number;
  /** What Stripe's transfers for them hold, less what it reversed. */
  transferredCents: number;
  mismatches: { payoutId: string; problem: string }[];
  nextCursor: string | null;
}

async function problemOf(db: Db, stripe: Stripe, p: Payout): Promise<{ problem?: string; paid: number; transferred: number }> {
  const found = (await stripe.transfers.list({ transfer_group: transferGroupOf(p.statementId), limit: 10 })).data;
  const transferred = found.reduce((sum, t) => sum + t.amount - t.amount_reversed, 0);
  const [{ reversed }] = (await db.execute(sql`
    select coalesce(sum(e.amount_cents), 0)::bigint as reversed
    from ledger_journals j join ledger_entries e on e.journal_id = j.id and e.account = 'receivable'
    where j.creator_id = ${p.creatorId} and j.kind = 'payout_reversal' and j.source like ${`transfer_reversal:${p.transferId ?? ''}:%`}`)) as unknown as [
    { reversed: string },
  ];
  const recordedPaid = p.status === 'paid' || p.status === 'reversed';
  const paid = recordedPaid ? p.amountCents - Number(reversed) : 0;
  const result = (problem?: string) => ({ problem, paid, transferred });
  if (found.length > 1) return result(`${found.length} transfers for its statement`);
  const [transfer] = found;
  if (!recordedPaid) {
    if (!transfer) return result();
    if (p.status === 'processing' && Date.now() - p.updatedAt.getTime() < IN_FLIGHT_MS) return result();
    return result(`Stripe holds transfer ${transfer.id} for a payout recorded ${p.status}`);
  }
  if (p.amountCents === 0) return result(transfer ? 'a transfer for a statement with nothing to pay' : undefined);
  if (!transfer) return result('no transfer at Stripe for a paid payout');
  if (transfer.id !== p.transferId) return result('the recorded transfer is not the statement’s');
  if (transfer.amount !== p.amountCents) return result('the transfer’s amount differs');
  if (transfer.amount_reversed !== Number(reversed))
    return result(`Stripe reversed ${transfer.amount_reversed}, the ledger posted ${reversed}`);
  return result();
}

/** One page of the month's payouts (by id, after `after`) reconciled; Stripe unreachable is a 503. */
export async function reconcileMonth(db: Db, stripe: Stripe, r: { month: string; after?: string; limit: number }): Promise<Reconciliation> {
  const rows = await db
    .select()
    .from(payouts)
    .where(and(eq(payouts.month, r.month), r.after ? gt(payouts.id, r.after) : undefined))
    .orderBy(asc(payouts.id))
    .limit(r.limit + 1);
  const page = rows.slice(0, r.limit);
  const out: Reconciliation = { month: r.month, payouts: page.length, paidCents: 0, transferredCents: 0, mismatches: [], nextCursor: null };
  try {
    for (let i = 0; i < page.length; i += CONCURRENCY) {
      const checked = await Promise.all(page.slice(i, i + CONCURRENCY).map((p) => problemOf(db, stripe, p)));
      checked.forEach((c, j) => {
        out.paidCents += c.paid;
        out.transferredCents += c.transferred;
        if (c.problem) out.mismatches.push({ payoutId: page[i + j]!.id, problem: c.problem });
      });
    }
  } catch (err) {
    if (err instanceof Stripe.errors.StripeError)
      throw new DomainError('unavailable', 'dependency_unavailable', 'Stripe is unavailable, try again shortly');
    throw err;
  }
  if (rows.length > r.limit) out.nextCursor = page.at(-1)!.id;
  return out;
}

/** The platform's available Stripe balance per currency; Stripe unreachable is a 503. */
export async function platformAvailable(stripe: Stripe): Promise<{ currency: string; amountCents: number }[]> {
  try {
    return (await stripe.balance.retrieve()).available.map((b) => ({ currency: b.currency, amountCents: b.amount }));
  } catch (err) {
    if (err instanceof Stripe.errors.StripeError)
      throw new DomainError('unavailable', 'dependency_unavailable', 'Stripe is unavailable, try again shortly');
    throw err;
  }
}
