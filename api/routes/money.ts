// SPEC §7 money, first part: the commission tiers and calculator, the month's earnings and the
// ledger they are derived from (domain/commissions.ts, domain/ledger.ts). Statements and payouts
// come next (see docs/DECISIONS.md "Money").
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { commissionOn, effectiveRate } from '../../domain/commissions.js';
import { ledgerPage, monthEarnings } from '../../domain/ledger.js';
import type { RouteDeps } from '../app.js';
import { caller } from '../authenticate.js';
import { ApiError } from '../errors.js';
import { PageQuery } from '../pagination.js';
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

export const moneyRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, config }) => {
  app.addHook('onRequest', app.authenticate);
  const tiers = config.COMMISSION_TIERS;

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
    async () => ({ currency: 'usd', tiers: tiers.map((t) => ({ upToCents: t.upToCents, rate: rate(t.rateBps) })) }),
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
      const c = commissionOn(request.body.grossCents, tiers);
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
      return monthEarnings(db, caller(request).userId, month, request.query.currency ?? 'usd', tiers);
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
