// SPEC §4 analytics, read from Postgres: an overview over a range, top fans, revenue per day
// (zero-filled, days in the creator's timezone) and a streamed CSV export of the fans.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { stringify } from 'csv-stringify';
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import postgres from 'postgres';
import { Type } from 'typebox';
import { fans, users } from '../../db/schema.js';
import type { RouteDeps } from '../app.js';
import { caller } from '../authenticate.js';
import { ApiError, throttled } from '../errors.js';
import { bearerAuth, errorResponses, Nullable } from '../schemas.js';

const DAY_MS = 86_400_000;
/** A fan counts as active when seen within the range. */
const Range = {
  from: Type.Optional(Type.String({ format: 'date-time', description: 'default: 30 days before `to`' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'default: now' })),
};

function range(query: { from?: string; to?: string }) {
  const to = query.to ? new Date(query.to) : new Date();
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - 30 * DAY_MS);
  if (from >= to) throw new ApiError(400, 'validation_failed', '`from` must be before `to`');
  if (to.getTime() - from.getTime() > 5 * 366 * DAY_MS) throw new ApiError(400, 'validation_failed', 'the range is at most five years');
  return { from, to };
}

/** Spreadsheets run cells that start with these as formulas: such text cells get a leading quote. */
const safeCell = (v: string | null) => (v !== null && /^[=+\-@\t\r]/.test(v) ? `'${v}` : v);

/** What a refused export is told to wait: exports of a few hundred thousand fans take seconds. */
const EXPORT_RETRY_AFTER_SECONDS = 10;

export const analyticsRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, config }) => {
  app.addHook('onRequest', app.authenticate);

  // CSV exports hold a connection for as long as their reader takes, so they get their own small
  // pool (opened on first use) rather than the API's: slow readers can never take the connections
  // every other route needs. Each of its queries (each page of the cursor) is bounded by
  // statement_timeout; a reader that stops reading is cut by the server's idle timeout, which ends
  // the cursor. Slots are counted here, per API instance and per creator on it: past them a 429,
  // not a wait in the pool's queue.
  const exportSql = postgres(config.DATABASE_URL, {
    max: config.EXPORT_MAX_CONCURRENT,
    onnotice: () => {},
    connection: { application_name: 'ofm-api-export', statement_timeout: config.EXPORT_STATEMENT_TIMEOUT_MS },
  });
  app.addHook('onClose', () => exportSql.end({ timeout: 5 }));
  let exportsRunning = 0;
  const exportsByCreator = new Map<string, number>();
  function takeExportSlot(creatorId: string): () => void {
    const mine = exportsByCreator.get(creatorId) ?? 0;
    if (exportsRunning >= config.EXPORT_MAX_CONCURRENT || mine >= config.EXPORT_MAX_CONCURRENT_PER_CREATOR)
      throw throttled(EXPORT_RETRY_AFTER_SECONDS, 'too many CSV exports are running, try again shortly');
    exportsRunning++;
    exportsByCreator.set(creatorId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      exportsRunning--;
      const left = (exportsByCreator.get(creatorId) ?? 1) - 1;
      if (left > 0) exportsByCreator.set(creatorId, left);
      else exportsByCreator.delete(creatorId);
    };
  }

  app.get(
    '/analytics/overview',
    {
      schema: {
        tags: ['analytics'],
        summary: 'Fans, lifetime value and revenue; activity and revenue over ?from&to (default: the last 30 days)',
        security: bearerAuth,
        querystring: Type.Object(Range, { additionalProperties: false }),
        response: {
          200: Type.Object({
            from: Type.String({ format: 'date-time' }),
            to: Type.String({ format: 'date-time' }),
            totalFans: Type.Integer(),
            activeFans: Type.Integer({ description: 'seen within the range' }),
            newFans: Type.Integer({ description: 'added within the range' }),
            lifetimeValueCents: Type.Integer({ description: 'what all live fans have spent, ever' }),
            revenueCents: Type.Integer({ description: 'purchases and subscriptions within the range' }),
            purchases: Type.Integer(),
            subscriptions: Type.Integer(),
            messagesSent: Type.Integer(),
            messagesReceived: Type.Integer(),
          }),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => {
      const creatorId = caller(request).userId;
      const { from, to } = range(request.query);
      const [f, r, m] = await Promise.all([
        db.execute<{ total: number; active: number; fresh: number; ltv: string }>(sql`
          select count(*)::int as total,
            count(*) filter (where last_seen_at >= ${from.toISOString()} and last_seen_at < ${to.toISOString()})::int as active,
            count(*) filter (where created_at >= ${from.toISOString()} and created_at < ${to.toISOString()})::int as fresh,
            coalesce(sum(value_cents), 0)::text as ltv
          from fans where creator_id = ${creatorId} and deleted_at is null`),
        db.execute<{ revenue: string; purchases: number; subscriptions: number }>(sql`
          select coalesce(sum(amount_cents), 0)::text as revenue,
            count(*) filter (where kind = 'purchase')::int as purchases,
            count(*) filter (where kind = 'subscription')::int as subscriptions
          from revenue_events where creator_id = ${creatorId} and occurred_at >= ${from.toISOString()} and occurred_at < ${to.toISOString()}`),
        db.execute<{ sent: number; received: number }>(sql`
          select count(*) filter (where direction = 'out')::int as sent, count(*) filter (where direction = 'in')::int as received
          from messages where creator_id = ${creatorId} and sent_at >= ${from.toISOString()} and sent_at < ${to.toISOString()}`),
      ]);
      return {
        from: from.toISOString(),
        to: to.toISOString(),
        totalFans: f[0]!.total,
        activeFans: f[0]!.active,
        newFans: f[0]!.fresh,
        lifetimeValueCents: Number(f[0]!.ltv),
        revenueCents: Number(r[0]!.revenue),
        purchases: r[0]!.purchases,
        subscriptions: r[0]!.subscriptions,
        messagesSent: m[0]!.sent,
        messagesReceived: m[0]!.received,
      };
    },
  );

  app.get(
    '/analytics/top-fans',
    {
      schema: {
        tags: ['analytics'],
        summary: 'The fans with the highest lifetime value',
        security: bearerAuth,
        querystring: Type.Object(
          { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10 })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                id: Type.String(),
                handle: Type.String(),
                name: Nullable(Type.String()),
                valueCents: Type.Integer(),
                subscriptionTier: Nullable(Type.String()),
                lastSeenAt: Nullable(Type.String({ format: 'date-time' })),
              }),
            ),
          }),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => {
      const rows = await db
        .select({
          id: fans.id,
          handle: fans.handle,
          name: fans.name,
          valueCents: fans.valueCents,
          subscriptionTier: fans.subscriptionTier,
          lastSeenAt: fans.lastSeenAt,
        })
        .from(fans)
        .where(and(eq(fans.creatorId, caller(request).userId), isNull(fans.deletedAt)))
        .orderBy(desc(fans.valueCents), fans.id)
        .limit(request.query.limit ?? 10);
      return { items: rows.map((r) => ({ ...r, lastSeenAt: r.lastSeenAt?.toISOString() ?? null })) };
    },
  );

  app.get(
    '/analytics/revenue',
    {
      schema: {
        tags: ['analytics'],
        summary: 'Revenue per day for the last ?days (default 30, today included), days in the creator’s timezone, zero-filled',
        security: bearerAuth,
        querystring: Type.Object(
          { days: Type.Optional(Type.Integer({ minimum: 1, maximum: 366, default: 30 })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            timezone: Type.String(),
            totalCents: Type.Integer(),
            days: Type.Array(
              Type.Object({
                date: Type.String({ format: 'date' }),
                revenueCents: Type.Integer(),
                purchases: Type.Integer(),
                subscriptions: Type.Integer(),
              }),
            ),
          }),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => {
      const creatorId = caller(request).userId;
      const days = request.query.days ?? 30;
      const [{ timezone } = { timezone: 'UTC' }] = await db.select({ timezone: users.timezone }).from(users).where(eq(users.id, creatorId));
      // Local calendar days, each turned into its own [start, end) instants: days across a DST
      // change are 23 or 25 hours long, which is what the creator's calendar says.
      const rows = await db.execute<{ date: string; revenue: string; purchases: number; subscriptions: number }>(sql`
        with local_days as (
          select d::date as date,
            (d::timestamp at time zone ${timezone}) as starts,
            ((d + interval '1 day')::timestamp at time zone ${timezone}) as ends
          from generate_series((now() at time zone ${timezone})::date - ${days - 1}::int, (now() at time zone ${timezone})::date, interval '1 day') d
        )
        select to_char(l.date, 'YYYY-MM-DD') as date,
          coalesce(sum(e.amount_cents), 0)::text as revenue,
          count(e.id) filter (where e.kind = 'purchase')::int as purchases,
          count(e.id) filter (where e.kind = 'subscription')::int as subscriptions
        from local_days l
        left join revenue_events e on e.creator_id = ${creatorId} and e.occurred_at >= l.starts and e.occurred_at < l.ends
        group by l.date order by l.date`);
      const out = rows.map((r) => ({
        date: r.date,
        revenueCents: Number(r.revenue),
        purchases: r.purchases,
        subscriptions: r.subscriptions,
      }));
      return { timezone, totalCents: out.reduce((n, d) => n + d.revenueCents, 0), days: out };
    },
  );

  app.get(
    '/analytics/export.csv',
    {
      schema: {
        tags: ['analytics'],
        summary: 'Every live fan as CSV, streamed (the columns of the OnlyFans export, plus tags, notes and dates)',
        security: bearerAuth,
        produces: ['text/csv'],
        response: errorResponses(401, 429),
      },
    },
    async (request, reply) => {
      const creatorId = caller(request).userId;
      const release = takeExportSlot(creatorId);
      // The response ends (sent, or its client gone): the slot is free again.
      reply.raw.once('finish', release).once('close', release);
      // A server-side cursor: rows leave in pages of 500, so the export's memory is one page.
      const cursor = exportSql`
        select handle, name, email, subscription_tier, value_cents, last_seen_at, tags, notes, created_at
        from fans where creator_id = ${creatorId} and deleted_at is null order by created_at, id`.cursor(500);
      const records = Readable.from(
        (async function* () {
          for await (const page of cursor) {
            for (const f of page) {
              yield [
                safeCell(f.handle),
                safeCell(f.name),
                safeCell(f.email),
                safeCell(f.subscription_tier),
                (Number(f.value_cents) / 100).toFixed(2),
                f.last_seen_at ? new Date(f.last_seen_at).toISOString() : '',
                safeCell((f.tags as string[]).join(';')),
                safeCell(f.notes),
                new Date(f.created_at).toISOString(),
              ];
            }
          }
        })(),
      );
      const csv = stringify({
        header: true,
        columns: ['Username', 'Display Name', 'Email', 'Subscription Tier', 'Total Spent', 'Last Seen', 'Tags', 'Notes', 'Created'],
        record_delimiter: 'windows',
      });
      // pipeline: a client that goes away destroys the CSV stream, and with it the rows and the
      // cursor, whose connection goes back to the pool.
      pipeline(records, csv).catch((err: unknown) => request.log.warn({ err }, 'CSV export ended early'));
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="fans.csv"')
        .send(csv);
    },
  );
};
