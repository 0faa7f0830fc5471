// Monthly statements (SPEC §7): closing a creator's month takes every ledger journal of theirs up
// to the month's end that no statement holds yet (so a refund posted after its month closed lands
// in the next statement), applies the commission tiers once to the month's gross less refunds plus
// what the last statement carried in, carries a negative result into the next month, and records
// all of it, immutable, with a hash of its canonical content. Rebuilding a statement from its
// journals gives the same figures and hash.
//
// The carried amount is carried *before* commission: refunds beyond a month's sales lower the next
// month's commission base, just as refunds within a month lower that month's. Carrying it after
// commission would charge commission twice on refunded sales (once on the sale's month, once more on
// the month that absorbs the refund). Transfers Stripe reversed are owed again, outside commission.
import { createHash } from 'node:crypto';
import { and, desc, eq, gt, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { payouts, type StatementContent, statementJournals, statements } from '../db/schema.js';
import { commissionOn, type Tier } from './commissions.js';
import { DomainError } from './errors.js';
import { type MonthEarnings, monthRange, postJournal, REVENUE_TYPES } from './ledger.js';

export type Statement = typeof statements.$inferSelect;
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** JSON with every object's keys sorted: the same content always hashes the same (jsonb reorders keys). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

export interface StatementFigures {
  grossCents: number;
  refundsCents: number;
  /** Transfers Stripe reversed since the last statement: owed to the creator again. */
  reversalsCents: number;
  commissionCents: number;
  /** Gross less refunds plus carried in, less commission: negative when refunds passed it all. */
  netCents: number;
  carriedInCents: number;
  payableCents: number;
  carriedOutCents: number;
}

/** The journal kinds a statement takes in, beside the commission it posts itself. */
export const STATEMENT_KINDS = ['sale', 'refund', 'chargeback', 'payout_reversal'] as const;

/**
 * A month's figures: commission on gross − refunds + carried in (≤ 0), a negative base carried out
 * whole, and payable the positive net plus reversals. Never pays below zero.
 */
export function monthFigures(
  a: { grossCents: number; refundsCents: number; reversalsCents: number; carriedInCents: number },
  tiers: Tier[],
): StatementFigures {
  const commission = commissionOn(a.grossCents - a.refundsCents + a.carriedInCents, tiers);
  return {
    ...a,
    commissionCents: commission.commissionCents,
    netCents: commission.netCents,
    payableCents: Math.max(commission.netCents, 0) + a.reversalsCents,
    carriedOutCents: Math.min(commission.netCents, 0),
  };
}

const sumOf = (lines: StatementContent['lines'], kinds: string[]) =>
  lines.filter((l) => kinds.includes(l.kind)).reduce((s, l) => s + l.amountCents, 0);

/** The figures and hash a statement's content and carried-in amount give. */
export function figuresOf(content: StatementContent, carriedInCents: number): { figures: StatementFigures; contentHash: string } {
  const figures = monthFigures(
    {
      grossCents: sumOf(content.lines, ['sale']),
      refundsCents: 0 - sumOf(content.lines, ['refund', 'chargeback']),
      reversalsCents: sumOf(content.lines, ['payout_reversal']),
      carriedInCents,
    },
    content.tiers,
  );
  const contentHash = createHash('sha256').update(canonicalJson({ content, figures })).digest('hex');
  return { figures, contentHash };
}

/** The journals the creator's statement of `month` takes: facts up to its end that no statement holds yet. */
const unstatedUpTo = (creatorId: string, month: string, currency: string) =>
  sql`j.creator_id = ${creatorId} and j.currency = ${currency} and j.occurred_at < ${monthRange(month).to.toISOString()}::timestamptz
    and j.kind in ${sql.raw(`(${STATEMENT_KINDS.map((k) => `'${k}'`).join(', ')})`)}
    and not exists (select 1 from statement_journals sj where sj.journal_id = j.id)`;

/** Each journal's effect on what the platform owes the creator: + for a sale, − for money given back. */
async function journalLines(db: Db | Tx, where: ReturnType<typeof sql>): Promise<StatementContent['lines']> {
  const rows = await db.execute<{
    journal_id: string;
    kind: string;
    revenue_type: string | null;
    source: string;
    occurred_at: string;
    amount_cents: string;
  }>(sql`
    select j.id as journal_id, j.kind, j.revenue_type, j.source,
      to_char(j.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as occurred_at,
      sum(e.amount_cents) filter (where e.account = 'receivable') as amount_cents
    from ledger_journals j join ledger_entries e on e.journal_id = j.id
    where ${where}
    group by j.id
    order by j.occurred_at, j.id`);
  return rows.map((r) => ({
    journalId: r.journal_id,
    kind: r.kind,
    revenueType: r.revenue_type,
    source: r.source,
    occurredAt: r.occurred_at,
    amountCents: Number(r.amount_cents ?? 0),
  }));
}

const contentOf = (
  creatorId: string,
  month: string,
  currency: string,
  tiers: Tier[],
  lines: StatementContent['lines'],
): StatementContent => ({
  creatorId,
  month,
  currency,
  tiers,
  byType: Object.fromEntries(
    REVENUE_TYPES.map((t) => [t, lines.filter((l) => l.kind === 'sale' && l.revenueType === t).reduce((s, l) => s + l.amountCents, 0)]),
  ),
  lines,
});

export const statementOf = (db: Db | Tx, creatorId: string, month: string, currency: string) =>
  db.query.statements.findFirst({
    where: and(eq(statements.creatorId, creatorId), eq(statements.month, month), eq(statements.currency, currency)),
  });

/**
 * Closes the month (idempotent: a closed month is returned as it is). Months close in order: a
 * month after which a later one is already closed is refused, as is a month not yet over.
 */
export async function closeStatement(db: Db, r: { creatorId: string; month: string; currency: string; tiers: Tier[] }): Promise<Statement> {
  const { creatorId, month, currency } = r;
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) throw new DomainError('invalid', 'invalid_month', `${month} is not a YYYY-MM month`);
  if (month >= new Date().toISOString().slice(0, 7)) throw new DomainError('invalid_state', 'month_open', `${month} is not over yet`);
  return db.transaction(async (tx) => {
    // One close at a time per creator and currency: each takes the journals no statement holds yet.
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`statement:${creatorId}:${currency}`}, 0))`);
    const existing = await statementOf(tx, creatorId, month, currency);
    if (existing) return existing;
    const later = await tx.query.statements.findFirst({
      where: and(eq(statements.creatorId, creatorId), eq(statements.currency, currency), gt(statements.month, month)),
    });
    if (later) throw new DomainError('invalid_state', 'month_skipped', `${later.month} is already closed; ${month} can no longer close`);
    const previous = await tx.query.statements.findFirst({
      where: and(eq(statements.creatorId, creatorId), eq(statements.currency, currency), lt(statements.month, month)),
      orderBy: desc(statements.month),
    });
    const lines = await journalLines(tx, unstatedUpTo(creatorId, month, currency));
    const content = contentOf(creatorId, month, currency, r.tiers, lines);
    const { figures, contentHash } = figuresOf(content, previous?.carriedOutCents ?? 0);
    const [statement] = await tx
      .insert(statements)
      .values({ creatorId, month, currency, ...figures, content, contentHash })
      .returning();
    if (lines.length > 0)
      await tx.insert(statementJournals).values(lines.map((l) => ({ journalId: l.journalId, statementId: statement!.id })));
    // The platform keeps its commission out of what it owes the creator.
    await postJournal(tx, {
      creatorId,
      source: `statement:${statement!.id}`,
      kind: 'commission',
      currency,
      occurredAt: monthRange(month).to,
      lines: [
        { account: 'commission', amountCents: figures.commissionCents },
        { account: 'receivable', amountCents: -figures.commissionCents },
      ],
    });
    return statement!;
  });
}

/** The statement recomputed from its journals in the ledger: the same figures and hash, or the ledger changed. */
export async function rebuildStatement(db: Db, statement: Statement): Promise<{ figures: StatementFigures; contentHash: string }> {
  const lines = await journalLines(db, sql`j.id in (select journal_id from statement_journals where statement_id = ${statement.id})`);
  const content = contentOf(statement.creatorId, statement.month, statement.currency, statement.content.tiers, lines);
  return figuresOf(content, statement.carriedInCents);
}

/**
 * A month's earnings (GET /earnings): a closed month's statement, or for an open month the statement
 * it would get if it closed now; paid is what its payout transferred.
 */
export async function earningsOf(db: Db, creatorId: string, month: string, currency: string, tiers: Tier[]): Promise<MonthEarnings> {
  const closed = await statementOf(db, creatorId, month, currency);
  if (closed) {
    const payout = await db.query.payouts.findFirst({ where: eq(payouts.statementId, closed.id) });
    // A reversed payout was paid; what Stripe took back is owed in the next statement.
    const paidCents = payout?.status === 'paid' || payout?.status === 'reversed' ? payout.amountCents : 0;
    return {
      month,
      currency,
      grossCents: closed.grossCents,
      refundsCents: closed.refundsCents,
      commissionCents: closed.commissionCents,
      netCents: closed.netCents,
      carriedCents: closed.carriedInCents,
      paidCents,
      pendingCents: closed.payableCents - paidCents,
      byType: closed.content.byType as MonthEarnings['byType'],
    };
  }
  const previous = await db.query.statements.findFirst({
    where: and(eq(statements.creatorId, creatorId), eq(statements.currency, currency), lt(statements.month, month)),
    orderBy: desc(statements.month),
  });
  // An open month: its own facts no statement holds, and when it is the next to close (no open month
  // with facts lies between it and the last statement) also the late facts of closed months, which
  // its statement will take, and what the last statement carried.
  const { from } = monthRange(month);
  const between = previous
    ? await db.execute(sql`select 1 from ledger_journals j
        where ${unstatedUpTo(creatorId, month, currency)} and j.occurred_at >= ${monthRange(previous.month).to.toISOString()}::timestamptz
          and j.occurred_at < ${from.toISOString()}::timestamptz
        limit 1`)
    : [];
  const nextToClose = previous !== undefined && between.length === 0;
  const rows = await db.execute<{ kind: string; revenue_type: string | null; amount_cents: string }>(sql`
    select j.kind, j.revenue_type, sum(e.amount_cents)::bigint as amount_cents
    from ledger_journals j join ledger_entries e on e.journal_id = j.id and e.account = 'receivable'
    where ${unstatedUpTo(creatorId, month, currency)} and (${nextToClose}::boolean or j.occurred_at >= ${from.toISOString()}::timestamptz)
    group by j.kind, j.revenue_type`);
  const sum = (kinds: string[], revenueType?: string) =>
    rows
      .filter((r) => kinds.includes(r.kind) && (revenueType === undefined || r.revenue_type === revenueType))
      .reduce((s, r) => s + Number(r.amount_cents), 0);
  const byType = Object.fromEntries(REVENUE_TYPES.map((t) => [t, sum(['sale'], t)])) as MonthEarnings['byType'];
  const sums = { grossCents: sum(['sale']), refundsCents: 0 - sum(['refund', 'chargeback']), reversalsCents: sum(['payout_reversal']) };
  const figures = monthFigures({ ...sums, carriedInCents: nextToClose ? previous.carriedOutCents : 0 }, tiers);
  return {
    month,
    currency,
    grossCents: figures.grossCents,
    refundsCents: figures.refundsCents,
    commissionCents: figures.commissionCents,
    netCents: figures.netCents,
    carriedCents: figures.carriedInCents,
    paidCents: 0,
    pendingCents: figures.payableCents,
    byType,
  };
}
