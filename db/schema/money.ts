// Money (SPEC §7): the double-entry earnings ledger. Append-only (triggers in migration 0012 refuse
// UPDATE and DELETE) and balanced (a deferred constraint trigger refuses a journal whose entries do
// not sum to zero per currency at commit). No foreign keys to users or fans: a creator's ledger
// outlives the deletion of their account (the law keeps it; GDPR erasure anonymises it instead).
import { bigint, bigserial, index, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

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
