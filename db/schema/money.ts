// Money (SPEC §7): the double-entry earnings ledger. Append-only (triggers in migration 0012 refuse
// UPDATE and DELETE) and balanced (a deferred constraint trigger refuses a journal whose entries do
// not sum to zero per currency at commit). No foreign keys to users or fans: a creator's ledger
// outlives the deletion of their account (the law keeps it; GDPR erasure anonymises it instead).
import { bigint, bigserial, index, jsonb, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { createdAt } from './columns.js';

/** One business fact, posted once: `source` is unique per creator (`platform:<platform>:<event id>`). */
export const ledgerJournals = pgTable(
  'ledger_journals',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    creatorId: uuid('creator_id').notNull(),
    source: text('source').notNull(),
    /** sale, refund or chargeback (later: commission, payout, reversal). */
    kind: text('kind').notNull(),
    /** A sale's type: ppv, tip or subscription. */
    revenueType: text('revenue_type'),
    currency: text('currency').notNull(),
    fanId: uuid('fan_id'),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    postedAt: timestamp('posted_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('ledger_journals_creator_source_key').on(t.creatorId, t.source),
    index('ledger_journals_creator_occurred_idx').on(t.creatorId, t.occurredAt),
  ],
);

/** A journal's lines: debits positive, credits negative, in the journal's currency. */
export const ledgerEntries = pgTable(
  'ledger_entries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    journalId: uuid('journal_id')
      .notNull()
      .references(() => ledgerJournals.id),
    creatorId: uuid('creator_id').notNull(),
    account: text('account').notNull(),
    currency: text('currency').notNull(),
    amountCents: bigint('amount_cents', { mode: 'number' }).notNull(),
  },
  (t) => [index('ledger_entries_journal_idx').on(t.journalId), index('ledger_entries_creator_idx').on(t.creatorId, t.id)],
);

/**
 * A closed month (SPEC §7), immutable (migration 0014's trigger refuses UPDATE and DELETE). Its
 * journals are listed in `statement_journals`: every journal belongs to at most one statement, so a
 * fact posted after its month closed goes to the next statement instead of changing this one.
 * `content_hash` is the SHA-256 of its canonical content (domain/statements.ts); rebuilding it from
 * its journals gives the same figures and hash.
 */
export const statements = pgTable(
  'statements',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    creatorId: uuid('creator_id').notNull(),
    month: text('month').notNull(),
    currency: text('currency').notNull(),
    grossCents: bigint('gross_cents', { mode: 'number' }).notNull(),
    refundsCents: bigint('refunds_cents', { mode: 'number' }).notNull(),
    /** Transfers Stripe reversed since the previous statement: owed again, outside commission. */
    reversalsCents: bigint('reversals_cents', { mode: 'number' }).notNull().default(0),
    commissionCents: bigint('commission_cents', { mode: 'number' }).notNull(),
    /** Gross less refunds plus carried in, less commission (negative when refunds passed it all). */
    netCents: bigint('net_cents', { mode: 'number' }).notNull(),
    /** A negative commission base the previous statement carried into this one (refunds beyond its sales). */
    carriedInCents: bigint('carried_in_cents', { mode: 'number' }).notNull(),
    /** What is owed: the net when positive, plus reversals. */
    payableCents: bigint('payable_cents', { mode: 'number' }).notNull(),
    /** The net when negative: carried into the next statement's commission base. */
    carriedOutCents: bigint('carried_out_cents', { mode: 'number' }).notNull(),
    content: jsonb('content').$type<StatementContent>().notNull(),
    contentHash: text('content_hash').notNull(),
    closedAt: timestamp('closed_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('statements_creator_month_currency_key').on(t.creatorId, t.month, t.currency)],
);

export const statementJournals = pgTable(
  'statement_journals',
  {
    journalId: uuid('journal_id')
      .primaryKey()
      .references(() => ledgerJournals.id),
    statementId: uuid('statement_id')
      .notNull()
      .references(() => statements.id),
  },
  (t) => [index('statement_journals_statement_idx').on(t.statementId)],
);

/** What a statement says, hashed as canonical JSON. */
export interface StatementContent {
  creatorId: string;
  month: string;
  currency: string;
  tiers: { upToCents: number | null; rateBps: number }[];
  byType: Record<string, number>;
  lines: { journalId: string; kind: string; revenueType: string | null; source: string; occurredAt: string; amountCents: number }[];
}

export const payoutStatus = pgEnum('payout_status', ['scheduled', 'held', 'processing', 'paid', 'failed', 'reversed']);

/**
 * Paying a statement (SPEC §7), one per statement: `payout:<creatorId>:<YYYY-MM>` moves it from
 * scheduled to held (not payable, with the reason), processing, paid (the Stripe transfer) or
 * failed. The transfer's idempotency key and transfer_group derive from the statement, so it is
 * paid at most once (domain/payouts.ts).
 */
export const payouts = pgTable(
  'payouts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    creatorId: uuid('creator_id').notNull(),
    statementId: uuid('statement_id')
      .notNull()
      .references(() => statements.id),
    month: text('month').notNull(),
    currency: text('currency').notNull(),
    amountCents: bigint('amount_cents', { mode: 'number' }).notNull(),
    status: payoutStatus('status').notNull().default('scheduled'),
    transferId: text('transfer_id'),
    reason: text('reason'),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('payouts_statement_key').on(t.statementId), index('payouts_creator_month_idx').on(t.creatorId, t.month)],
);

/** An admin's commission tiers for one creator, instead of COMMISSION_TIERS (a statement keeps the tiers it used). */
export const commissionOverrides = pgTable('commission_overrides', {
  creatorId: uuid('creator_id').primaryKey(),
  tiers: jsonb('tiers').$type<{ upToCents: number | null; rateBps: number }[]>().notNull(),
  setBy: uuid('set_by').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
