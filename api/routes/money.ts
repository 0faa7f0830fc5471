// SPEC §7 money: the commission tiers and calculator (with an admin's per-creator override), the
// month's earnings, the ledger they are derived from, closed monthly statements as JSON, CSV and
// PDF, and payouts with their admin retry and reconciliation (domain/commissions.ts,
// domain/ledger.ts, domain/statements.ts, domain/payouts.ts; docs/DECISIONS.md "Money").
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, eq } from 'drizzle-orm';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { payouts, users } from '../../db/schema.js';
import { commissionOn, effectiveRate, tiersProblem } from '../../domain/commissions.js';
import { clearTierOverride, overrideTiers, tiersFor } from '../../domain/commission-tiers.js';
import { ledgerPage } from '../../domain/ledger.js';
import { platformAvailable, reconcileMonth } from '../../domain/payout-reconciliation.js';
import { type Payout, type PayoutStatus, payoutsByStatus, payoutsOf } from '../../domain/payouts.js';
import { statementCsv, statementPdf } from '../../domain/statement-documents.js';
import { earningsOf, type Statement, statementOf } from '../../domain/statements.js';
import type { RouteDeps } from '../app.js';
import { caller } from '../authenticate.js';
import { ApiError, notFound } from '../errors.js';
import { requireAdmin } from '../authenticate.js';
import { decodeCursor, PageQuery, page } from '../pagination.js';
import { bearerAuth, errorResponses, Nullable } from '../schemas.js';

const Cents = Type.Integer({ minimum: -1_000_000_000_00, maximum: 1_000_000_000_00 });
const Currency = Type.String({ pattern: '^[a-z]{3}$', default: 'usd', description: 'ISO 4217, lower case' });
const Month = Type.String({ pattern: '^\\d{4}-(0[1-9]|1[0-2])$', description: 'YYYY-MM (UTC)' });
const rate = (bps: number) => bps / 10_000;

const Rates = Type.Object({
  currency: Type.String(),
  tiers: Type.Array(Type.Object({ upToCents: Nullable(Type.Integer()), rate: Type.Number() })),
});
const Calculation = Type.Object({
  grossCents: Type.Integer(),
  commissionCents: Type.Integer(),
  netCents: Type.Integer(),
  effectiveRate: Type.Number(),
  breakdown: Type.Array(
    Type.Object({
      fromCents: Type.Integer(),
      upToCents: Nullable(Type.Integer()),
      rate: Type.Number(),
      amountCents: Type.Integer(),
      commissionCents: Type.Integer(),
    }),
  ),
});
const Earnings = Type.Object({
  month: Type.String(),
  currency: Type.String(),
  grossCents: Type.Integer(),
  refundsCents: Type.Integer({ description: 'refunds and chargebacks' }),
  commissionCents: Type.Integer(),
  netCents: Type.Integer(),
  carriedCents: Type.Integer(),
  paidCents: Type.Integer(),
  pendingCents: Type.Integer(),
  byType: Type.Object({ ppv: Type.Integer(), tip: Type.Integer(), subscription: Type.Integer() }),
});
const Entry = Type.Object({
  id: Type.String(),
  journalId: Type.String(),
  account: Type.String(),
  amountCents: Type.Integer({ description: 'debit positive, credit negative' }),
  currency: Type.String(),
  kind: Type.String(),
  revenueType: Nullable(Type.String()),
  source: Type.String(),
  occurredAt: Type.String({ format: 'date-time' }),
  postedAt: Type.String({ format: 'date-time' }),
});

const StatementView = Type.Object({
  id: Type.String(),
  month: Type.String(),
  currency: Type.String(),
  grossCents: Type.Integer(),
  refundsCents: Type.Integer(),
  reversalsCents: Type.Integer({ description: 'transfers Stripe reversed since the last statement: owed again, outside commission' }),
  commissionCents: Type.Integer(),
  netCents: Type.Integer({ description: 'gross − refunds + carried in − commission; negative when refunds passed it all' }),
  carriedInCents: Type.Integer({ description: 'a negative commission base carried from the last statement (refunds beyond its sales)' }),
  payableCents: Type.Integer({ description: 'the net when positive, plus reversals' }),
  carriedOutCents: Type.Integer(),
  byType: Type.Object({ ppv: Type.Integer(), tip: Type.Integer(), subscription: Type.Integer() }),
  tiers: Type.Array(Type.Object({ upToCents: Nullable(Type.Integer()), rate: Type.Number() })),
  lines: Type.Array(
    Type.Object({
      journalId: Type.String(),
      kind: Type.String(),
      revenueType: Nullable(Type.String()),
      source: Type.String(),
      occurredAt: Type.String(),
      amountCents: Type.Integer(),
    }),
  ),
  contentHash: Type.String({ description: 'SHA-256 of the canonical content; a rebuild from the ledger gives the same' }),
  closedAt: Type.String({ format: 'date-time' }),
});

const presentStatement = (s: Statement) => ({
  id: s.id,
  month: s.month,
  currency: s.currency,
  grossCents: s.grossCents,
  refundsCents: s.refundsCents,
  reversalsCents: s.reversalsCents,
  commissionCents: s.commissionCents,
  netCents: s.netCents,
  carriedInCents: s.carriedInCents,
  payableCents: s.payableCents,
  carriedOutCents: s.carriedOutCents,
  byType: s.content.byType as { ppv: number; tip: number; subscription: number },
  tiers: s.content.tiers.map((t) => ({ upToCents: t.upToCents, rate: rate(t.rateBps) })),
  lines: s.content.lines,
  contentHash: s.contentHash,
  closedAt: s.closedAt.toISOString(),
});

const PayoutView = Type.Object({
  id: Type.String(),
  month: Type.String(),
  currency: Type.String(),
  status: Type.String({ description: 'scheduled, held, processing, paid, failed or reversed' }),
  amountCents: Type.Integer(),
  transferId: Nullable(Type.String()),
  reason: Nullable(Type.String()),
  statementId: Type.String(),
  updatedAt: Type.String({ format: 'date-time' }),
});
const presentPayout = (p: Payout) => ({
  id: p.id,
  month: p.month,
  currency: p.currency,
  status: p.status,
  amountCents: p.amountCents,
  transferId: p.transferId,
  reason: p.reason,
  statementId: p.statementId,
  updatedAt: p.updatedAt.toISOString(),
});

export const moneyRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, config, stripe, payouts: payoutProcess }) => {
  app.addHook('onRequest', app.authenticate);
  /** The caller's tiers: an admin's override for them, else COMMISSION_TIERS. */
  const tiersOf = async (request: FastifyRequest) => (await tiersFor(db, config.COMMISSION_TIERS, caller(request).userId)).tiers;
  const TiersBody = Type.Array(
    Type.Object(
      { upToCents: Nullable(Type.Integer({ minimum: 1, maximum: 1_000_000_000_00 })), rate: Type.Number({ minimum: 0, maximum: 1 }) },
      { additionalProperties: false },
    ),
    { minItems: 1, maxItems: 10 },
  );

  app.get(
    '/commissions/rates',
    {
      schema: {
        tags: ['money'],
        summary: 'The commission tiers: each rate applies to the part of a month’s gross inside its tier',
        security: bearerAuth,
        response: { 200: Rates, ...errorResponses(401) },
      },
    },
    async (request) => ({
      currency: 'usd',
      tiers: (await tiersOf(request)).map((t) => ({ upToCents: t.upToCents, rate: rate(t.rateBps) })),
    }),
  );

  app.post(
    '/commissions/calculate',
    {
      schema: {
        tags: ['money'],
        summary: 'The commission and net on a month’s gross, tier by tier (rounded half to even once)',
        security: bearerAuth,
        body: Type.Object({ grossCents: Cents }, { additionalProperties: false }),
        response: { 200: Calculation, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const c = commissionOn(request.body.grossCents, await tiersOf(request));
      return {
        grossCents: c.grossCents,
        commissionCents: c.commissionCents,
        netCents: c.netCents,
        effectiveRate: effectiveRate(c),
        breakdown: c.parts.map(({ rateBps, ...p }) => ({ ...p, rate: rate(rateBps) })),
      };
    },
  );

  app.get(
    '/earnings',
    {
      schema: {
        tags: ['money'],
        summary: 'A month’s earnings from the ledger: gross by type, refunds, commission, net (default: this month)',
        security: bearerAuth,
        querystring: Type.Object({ month: Type.Optional(Month), currency: Type.Optional(Currency) }, { additionalProperties: false }),
        response: { 200: Earnings, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const month = request.query.month ?? new Date().toISOString().slice(0, 7);
      if (month < '2000-01' || month > '2099-12') throw new ApiError(400, 'validation_failed', 'month must be between 2000-01 and 2099-12');
      return earningsOf(db, caller(request).userId, month, request.query.currency ?? 'usd', await tiersOf(request));
    },
  );

  app.get(
    '/statements/:file',
    {
      schema: {
        tags: ['money'],
        summary: 'A closed month’s statement: `/statements/2026-10` (JSON), `.csv` or `.pdf`',
        security: bearerAuth,
        params: Type.Object({ file: Type.String({ pattern: '^\\d{4}-(0[1-9]|1[0-2])(\\.(csv|pdf))?$' }) }),
        querystring: Type.Object({ currency: Type.Optional(Currency) }, { additionalProperties: false }),
        response: { 200: StatementView, ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const [month, format] = request.params.file.split('.') as [string, 'csv' | 'pdf' | undefined];
      const statement = await statementOf(db, caller(request).userId, month, request.query.currency ?? 'usd');
      if (!statement) throw notFound('statement (the month closes when it is paid out)');
      const filename = `statement-${month}-${statement.currency}`;
      if (format === 'csv')
        return (
          reply
            .type('text/csv; charset=utf-8')
            .header('content-disposition', `attachment; filename="${filename}.csv"`)
            // The 200 schema describes the JSON variant; the files bypass its serializer.
            .send(statementCsv(statement) as never)
        );
      if (format === 'pdf')
        return reply
          .type('application/pdf')
          .header('content-disposition', `attachment; filename="${filename}.pdf"`)
          .send((await statementPdf(statement)) as never);
      return presentStatement(statement);
    },
  );

  app.get(
    '/payouts',
    {
      schema: {
        tags: ['money'],
        summary: 'The caller’s payouts, newest month first, cursor-paginated',
        security: bearerAuth,
        querystring: Type.Object(PageQuery, { additionalProperties: false }),
        response: { 200: Type.Object({ items: Type.Array(PayoutView), nextCursor: Nullable(Type.String()) }), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit = 50, cursor } = request.query;
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      if (after && (typeof after.value !== 'string' || !/^\d{4}-(0[1-9]|1[0-2])$/.test(after.value)))
        throw new ApiError(400, 'invalid_cursor', 'cursor does not belong to this list');
      const rows = await payoutsOf(db, caller(request).userId, limit + 1, after as { value: string; id: string } | undefined);
      const { items, nextCursor } = page(rows, limit, (p) => p.month);
      return { items: items.map(presentPayout), nextCursor };
    },
  );

  const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
  app.get(
    '/payouts/:id',
    {
      schema: {
        tags: ['money'],
        summary: 'One of the caller’s payouts',
        security: bearerAuth,
        params: IdParams,
        response: { 200: PayoutView, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const payout = await db.query.payouts.findFirst({
        where: and(eq(payouts.id, request.params.id), eq(payouts.creatorId, caller(request).userId)),
      });
      if (!payout) throw notFound('payout');
      return presentPayout(payout);
    },
  );

  app.post(
    '/payouts/:id/retry',
    {
      onRequest: requireAdmin(db),
      schema: {
        tags: ['money'],
        summary: 'Admin: run a held, failed or stuck processing payout again (a paid one is never paid twice)',
        security: bearerAuth,
        params: IdParams,
        response: { 202: PayoutView, ...errorResponses(400, 401, 403, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const payout = await db.query.payouts.findFirst({ where: eq(payouts.id, request.params.id) });
      if (!payout) throw notFound('payout');
      // Processing too: a run that ended (terminated) after Stripe made the transfer, its webhook lost, is
      // repaired by the run's lookup; a run still open is joined, not doubled.
      if (payout.status !== 'held' && payout.status !== 'failed' && payout.status !== 'processing')
        throw new ApiError(409, 'invalid_state', `only a held, failed or processing payout can be retried; this one is ${payout.status}`);
      await payoutProcess.retry(payout.creatorId, payout.month);
      return reply.status(202).send(presentPayout(payout));
    },
  );

  app.get(
    '/payouts/reconciliation',
    {
      onRequest: requireAdmin(db),
      schema: {
        tags: ['money'],
        summary: 'Admin: a month’s payouts in the ledger against the transfers Stripe holds, a page at a time, and the platform balance',
        security: bearerAuth,
        querystring: Type.Object(
          {
            month: Month,
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 100 })),
            cursor: Type.Optional(Type.String({ format: 'uuid', description: 'nextCursor of the previous page' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            month: Type.String(),
            payouts: Type.Integer({ description: 'payouts on this page' }),
            paidCents: Type.Integer({ description: 'what the ledger holds as paid for them, less reversals it posted' }),
            transferredCents: Type.Integer({ description: 'what Stripe’s transfers for them hold, less reversals' }),
            mismatches: Type.Array(Type.Object({ payoutId: Type.String(), problem: Type.String() })),
            platformAvailable: Type.Array(Type.Object({ currency: Type.String(), amountCents: Type.Integer() })),
            nextCursor: Nullable(Type.String()),
          }),
          ...errorResponses(400, 401, 403, 503),
        },
      },
    },
    async (request) => {
      const { month, limit = 100, cursor } = request.query;
      const page = await reconcileMonth(db, stripe, { month, after: cursor, limit });
      return { ...page, platformAvailable: await platformAvailable(stripe) };
    },
  );

  app.get(
    '/admin/payouts',
    {
      onRequest: requireAdmin(db),
      schema: {
        tags: ['money'],
        summary: 'Admin: payouts of every creator by status (held and failed ones wait for a person), a page at a time',
        security: bearerAuth,
        querystring: Type.Object(
          {
            status: Type.Union(['scheduled', 'held', 'processing', 'paid', 'failed', 'reversed'].map((s) => Type.Literal(s))),
            month: Type.Optional(Month),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
            cursor: Type.Optional(Type.String({ format: 'uuid', description: 'nextCursor of the previous page' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(Type.Intersect([PayoutView, Type.Object({ creatorId: Type.String() })])),
            nextCursor: Nullable(Type.String()),
          }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (request) => {
      const { status, month, limit = 50, cursor } = request.query;
      const rows = await payoutsByStatus(db, { status: status as PayoutStatus, month, after: cursor, limit: limit + 1 });
      const items = rows.slice(0, limit).map((p) => ({ ...presentPayout(p), creatorId: p.creatorId }));
      return { items, nextCursor: rows.length > limit ? items.at(-1)!.id : null };
    },
  );

  app.put(
    '/admin/creators/:id/commission',
    {
      onRequest: requireAdmin(db),
      schema: {
        tags: ['money'],
        summary: 'Admin: this creator’s commission tiers from their next statement on (closed statements keep theirs)',
        security: bearerAuth,
        params: IdParams,
        body: Type.Object({ tiers: TiersBody }, { additionalProperties: false }),
        response: { 200: Rates, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const creator = await db.query.users.findFirst({ where: eq(users.id, request.params.id), columns: { id: true } });
      if (!creator) throw notFound('creator');
      const tiers = request.body.tiers.map((t) => ({ upToCents: t.upToCents, rateBps: Math.round(t.rate * 10_000) }));
      const problem = tiersProblem(tiers);
      if (problem) throw new ApiError(400, 'validation_failed', problem, [{ field: 'body.tiers', message: problem }]);
      await overrideTiers(db, creator.id, tiers, caller(request).userId);
      return { currency: 'usd', tiers: tiers.map((t) => ({ upToCents: t.upToCents, rate: rate(t.rateBps) })) };
    },
  );

  app.delete(
    '/admin/creators/:id/commission',
    {
      onRequest: requireAdmin(db),
      schema: {
        tags: ['money'],
        summary: 'Admin: back to the default tiers (COMMISSION_TIERS) for this creator',
        security: bearerAuth,
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      await clearTierOverride(db, request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/ledger',
    {
      schema: {
        tags: ['money'],
        summary: 'The caller’s ledger entries, newest first',
        security: bearerAuth,
        querystring: Type.Object(PageQuery, { additionalProperties: false }),
        response: { 200: Type.Object({ items: Type.Array(Entry), nextCursor: Nullable(Type.String()) }), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit = 50, cursor } = request.query;
      if (cursor !== undefined && !/^[1-9]\d{0,15}$/.test(cursor))
        throw new ApiError(400, 'invalid_cursor', 'cursor is not one this API issued');
      const rows = await ledgerPage(db, caller(request).userId, limit + 1, cursor === undefined ? undefined : Number(cursor));
      const items = rows.slice(0, limit).map((r) => ({
        ...r,
        id: String(r.id),
        occurredAt: r.occurredAt.toISOString(),
        postedAt: r.postedAt.toISOString(),
      }));
      return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
    },
  );
};
