// SPEC §3 fan CRM: list (search, tag filter, sort by value / last seen), create, read, update,
// soft delete. Every query is scoped by the caller's creator id; another creator's fan is a 404.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, arrayContains, asc, desc, eq, gt, ilike, isNull, lt, or, sql, type SQL } from 'drizzle-orm';
import { Type } from 'typebox';
import { fans } from '../../db/schema.js';
import type { RouteDeps } from '../app.js';
import { caller } from '../authenticate.js';
import { ApiError, notFound } from '../errors.js';
import { decodeCursor, decodeTimestampCursor, page, PageQuery } from '../pagination.js';
import { bearerAuth, errorResponses, Nullable, PlatformName } from '../schemas.js';

const Tag = Type.String({ minLength: 1, maxLength: 50, pattern: '^[^,]+$' });
const FanFields = {
  name: Nullable(Type.String({ minLength: 1, maxLength: 200 })),
  email: Nullable(Type.String({ format: 'email', maxLength: 254 })),
  avatarUrl: Nullable(Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048 })),
  tags: Type.Array(Tag, { maxItems: 50, uniqueItems: true }),
  valueCents: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  subscriptionTier: Nullable(Type.String({ minLength: 1, maxLength: 50 })),
  notes: Nullable(Type.String({ maxLength: 10_000 })),
  lastSeenAt: Nullable(Type.String({ format: 'date-time' })),
};
/** What a create or an update may set (all optional; platform and handle are set at creation only). */
const WritableFields = { ...Type.Partial(Type.Object(FanFields)).properties, optedOut: Type.Optional(Type.Boolean()) };
const Handle = Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\s]+$' });
const Platform = PlatformName({ default: 'onlyfans' });

const Fan = Type.Object({
  id: Type.String(),
  platform: Type.String(),
  handle: Type.String(),
  ...FanFields,
  optedOut: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

type Row = typeof fans.$inferSelect;
const present = (f: Row) => ({
  id: f.id,
  platform: f.platform,
  handle: f.handle,
  name: f.name,
  email: f.email,
  avatarUrl: f.avatarUrl,
  tags: f.tags,
  valueCents: f.valueCents,
  subscriptionTier: f.subscriptionTier,
  notes: f.notes,
  lastSeenAt: f.lastSeenAt?.toISOString() ?? null,
  optedOut: f.optedOutAt !== null,
  createdAt: f.createdAt.toISOString(),
  updatedAt: f.updatedAt.toISOString(),
});

/**
 * Writable columns from a body (absent keys untouched; ISO strings to dates). Opting out keeps the
 * first opt-out time on an update; an insert has no earlier one to keep.
 */
function columns(body: Partial<Record<keyof typeof FanFields, unknown>> & { optedOut?: boolean }, on: 'insert' | 'update') {
  const { lastSeenAt, optedOut, ...rest } = body;
  return {
    ...(rest as Partial<Pick<Row, 'name' | 'email' | 'avatarUrl' | 'tags' | 'valueCents' | 'subscriptionTier' | 'notes'>>),
    ...(lastSeenAt === undefined ? {} : { lastSeenAt: lastSeenAt === null ? null : new Date(lastSeenAt as string) }),
    ...(optedOut === undefined
      ? {}
      : { optedOutAt: optedOut ? (on === 'insert' ? sql`now()` : sql`coalesce(${fans.optedOutAt}, now())`) : null }),
  };
}

/**
 * Sort orders of the list; each has its index (db/schema.ts), a sort key read back exactly as
 * Postgres holds it (timestamps as text: JavaScript dates would drop the microseconds and repeat
 * rows across pages) and its keyset condition.
 */
const ts = (v: unknown) => sql`${String(v)}::timestamptz`;
const SORTS = {
  value: {
    order: [desc(fans.valueCents), asc(fans.id)],
    key: sql<string>`${fans.valueCents}::text`,
    after: (v: unknown, id: string) => or(lt(fans.valueCents, Number(v)), and(eq(fans.valueCents, Number(v)), gt(fans.id, id))),
  },
  last_seen: {
    order: [sql`${fans.lastSeenAt} desc nulls last`, asc(fans.id)],
    key: sql<string | null>`${fans.lastSeenAt}::text`,
    after: (v: unknown, id: string) =>
      v === null
        ? and(isNull(fans.lastSeenAt), gt(fans.id, id))
        : or(sql`${fans.lastSeenAt} < ${ts(v)}`, and(sql`${fans.lastSeenAt} = ${ts(v)}`, gt(fans.id, id)), isNull(fans.lastSeenAt)),
  },
  created: {
    order: [asc(fans.createdAt), asc(fans.id)],
    key: sql<string>`${fans.createdAt}::text`,
    after: (v: unknown, id: string) => or(sql`${fans.createdAt} > ${ts(v)}`, and(sql`${fans.createdAt} = ${ts(v)}`, gt(fans.id, id))),
  },
} as const;

export const fanRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db }) => {
  app.addHook('onRequest', app.authenticate);
  const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
  const mine = (creatorId: string, id: string) => and(eq(fans.creatorId, creatorId), eq(fans.id, id), isNull(fans.deletedAt));

  app.get(
    '/crm/fans',
    {
      schema: {
        tags: ['crm'],
        summary: 'The caller’s fans: search by name or handle, filter by tag, sort by value, last seen or creation',
        security: bearerAuth,
        querystring: Type.Object(
          {
            search: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            tag: Type.Optional(Tag),
            sort: Type.Optional(
              Type.Union([Type.Literal('value'), Type.Literal('last_seen'), Type.Literal('created')], { default: 'created' }),
            ),
            ...PageQuery,
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Fan), nextCursor: Nullable(Type.String()) }), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { search, tag, sort = 'created', limit = 50, cursor } = request.query;
      const order = SORTS[sort];
      const where: (SQL | undefined)[] = [eq(fans.creatorId, caller(request).userId), isNull(fans.deletedAt)];
      if (search) {
        const pattern = `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        where.push(or(ilike(fans.name, pattern), ilike(fans.handle, pattern)));
      }
      if (tag) where.push(arrayContains(fans.tags, [tag]));
      if (cursor) {
        const { value, id } = decodeCursor(cursor);
        // The value must be what this sort order keys on: a number for value, a timestamp for the others.
        const fits =
          sort === 'value'
            ? typeof value === 'string' && /^\d+$/.test(value)
            : value === null
              ? sort === 'last_seen'
              : decodeTimestampCursor(cursor) !== undefined;
        if (!fits) throw new ApiError(400, 'invalid_cursor', 'cursor does not belong to this sort order');
        where.push(order.after(value, id));
      }
      const rows = await db
        .select({ fan: fans, key: order.key })
        .from(fans)
        .where(and(...where))
        .orderBy(...order.order)
        .limit(limit + 1);
      const result = page(
        rows.map((r) => ({ ...r, id: r.fan.id })),
        limit,
        (r) => r.key,
      );
      return { items: result.items.map((r) => present(r.fan)), nextCursor: result.nextCursor };
    },
  );

  app.post(
    '/crm/fans',
    {
      schema: {
        tags: ['crm'],
        summary: 'Add a fan (unique per platform and handle)',
        security: bearerAuth,
        body: Type.Object({ platform: Type.Optional(Platform), handle: Handle, ...WritableFields }, { additionalProperties: false }),
        response: { 201: Fan, ...errorResponses(400, 401, 409) },
      },
    },
    async (request, reply) => {
      const { platform = 'onlyfans', handle, ...rest } = request.body;
      const [row] = await db
        .insert(fans)
        .values({ creatorId: caller(request).userId, platform, handle, ...columns(rest, 'insert') })
        .onConflictDoNothing({ target: [fans.creatorId, fans.platform, fans.handle], where: isNull(fans.deletedAt) })
        .returning();
      if (!row) throw new ApiError(409, 'fan_exists', `a fan ${handle} on ${platform} already exists`);
      return reply.status(201).send(present(row));
    },
  );

  app.get(
    '/crm/fans/:id',
    {
      schema: {
        tags: ['crm'],
        summary: 'One fan',
        security: bearerAuth,
        params: IdParams,
        response: { 200: Fan, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const row = await db.query.fans.findFirst({ where: mine(caller(request).userId, request.params.id) });
      if (!row) throw notFound('fan');
      return present(row);
    },
  );

  app.put(
    '/crm/fans/:id',
    {
      schema: {
        tags: ['crm'],
        summary: 'Update a fan (fields given are replaced; platform and handle are fixed)',
        security: bearerAuth,
        params: IdParams,
        body: Type.Object(WritableFields, { additionalProperties: false }),
        response: { 200: Fan, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const [row] = await db
        .update(fans)
        .set({ ...columns(request.body, 'update'), updatedAt: sql`now()` })
        .where(mine(caller(request).userId, request.params.id))
        .returning();
      if (!row) throw notFound('fan');
      return present(row);
    },
  );

  app.delete(
    '/crm/fans/:id',
    {
      schema: {
        tags: ['crm'],
        summary: 'Delete a fan: hidden from lists and excluded from every send; kept for history',
        security: bearerAuth,
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const [row] = await db
        .update(fans)
        .set({ deletedAt: sql`now()`, updatedAt: sql`now()` })
        .where(mine(caller(request).userId, request.params.id))
        .returning({ id: fans.id });
      if (!row) throw notFound('fan');
      return reply.status(204).send(null);
    },
  );
};
