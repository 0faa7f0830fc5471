// The creator's earnings ledger (SPEC §7): double-entry, per currency, append-only. Every money
// fact from a platform (sale, refund, chargeback) posts one journal, once: its `source` (the
// platform's event id) is unique per creator, so a replayed webhook posts nothing. Balances and
// earnings are derived from the entries, never stored on their own.
//
// Accounts of a creator (debits positive, credits negative):
//   receivable          what the platform owes the creator for the fans' payments, less its
//                       commission and what it paid out: the balance still owed (or carried)
//   gross:<type>        sales by type (ppv, tip, subscription): income, credited
//   refunds, chargebacks  money given back to fans: contra-income, debited
//   commission          the platform's share, debited when a statement closes
//   payouts             what was transferred to the creator's Stripe account, less what Stripe
//                       reversed (a reversal posts back to receivable: owed again, see statements.ts)
import { and, desc, eq, lt } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.js';
import { ledgerEntries, ledgerJournals } from '../db/schema.js';

export const REVENUE_TYPES = ['ppv', 'tip', 'subscription'] as const;
export type RevenueType = (typeof REVENUE_TYPES)[number];

export interface Journal {
  creatorId: string;
  source: string;
  kind: 'sale' | 'refund' | 'chargeback' | 'commission' | 'payout' | 'payout_reversal';
  revenueType?: RevenueType;
  currency: string;
  fanId?: string | null;
  occurredAt: Date;
  lines: { account: string; amountCents: number }[];
}

/** Posts the journal unless its source already posted; whether it posted now. Nothing for zero amounts. */
export async function postJournal(db: Db | Tx, j: Journal): Promise<boolean> {
  if (j.lines.every((l) => l.amountCents === 0)) return false;
  const [journal] = await db
    .insert(ledgerJournals)
    .values({
      creatorId: j.creatorId,
      source: j.source,
      kind: j.kind,
      revenueType: j.revenueType ?? null,
      currency: j.currency,
      fanId: j.fanId ?? null,
      occurredAt: j.occurredAt,
    })
    .onConflictDoNothing()
    .returning({ id: ledgerJournals.id });
  if (!journal) return false;
  await db.insert(ledgerEntries).values(
    j.lines.map((l) => ({
      journalId: journal.id,
      creatorId: j.creatorId,
      account: l.account,
      currency: j.currency,
      amountCents: l.amountCents,
    })),
  );
  return true;
}

/** A fan paid: the platform owes it, and it is the creator's gross income of that type. */
export const saleJournal = (base: Omit<Journal, 'kind' | 'lines'> & { revenueType: RevenueType }, amountCents: number): Journal => ({
  ...base,
  kind: 'sale',
  lines: [
    { account: 'receivable', amountCents },
    { account: `gross:${base.revenueType}`, amountCents: -amountCents },
  ],
});

/** Money given back to a fan (a refund, or a chargeback the platform lost). */
export const reversalJournal = (base: Omit<Journal, 'kind' | 'lines'>, kind: 'refund' | 'chargeback', amountCents: number): Journal => ({
  ...base,
  kind,
  lines: [
    { account: kind === 'refund' ? 'refunds' : 'chargebacks', amountCents },
    { account: 'receivable', amountCents: -amountCents },
  ],
});

export interface MonthEarnings {
  month: string;
  currency: string;
  grossCents: number;
  refundsCents: number;
  commissionCents: number;
  netCents: number;
  carriedCents: number;
  paidCents: number;
  pendingCents: number;
  byType: Record<RevenueType, number>;
}

/** `YYYY-MM` → its first instant and the next month's, in UTC (money months are UTC months). */
export function monthRange(month: string): { from: Date; to: Date } {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return { from: new Date(Date.UTC(y, m - 1, 1)), to: new Date(Date.UTC(y, m, 1)) };
}

/** The creator's entries, newest first, after the cursor (an entry id). */
export async function ledgerPage(db: Db, creatorId: string, limit: number, before?: number) {
  return db
    .select({
      id: ledgerEntries.id,
      journalId: ledgerEntries.journalId,
      account: ledgerEntries.account,
      amountCents: ledgerEntries.amountCents,
      currency: ledgerEntries.currency,
      kind: ledgerJournals.kind,
      revenueType: ledgerJournals.revenueType,
      source: ledgerJournals.source,
      occurredAt: ledgerJournals.occurredAt,
      postedAt: ledgerJournals.postedAt,
    })
    .from(ledgerEntries)
    .innerJoin(ledgerJournals, eq(ledgerJournals.id, ledgerEntries.journalId))
    .where(and(eq(ledgerEntries.creatorId, creatorId), before === undefined ? undefined : lt(ledgerEntries.id, before)))
    .orderBy(desc(ledgerEntries.id))
    .limit(limit);
}
