// SPEC §3 conversations: the inbox (newest activity first, `?unread=true`), a thread, a reply
// (queued on the creator's send queue, 202) and mark-read. Another creator's conversation is a 404.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, asc, desc, eq, gt, isNull, sql } from 'drizzle-orm';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { conversations, fans, messages } from '../../db/schema.js';
import type { RouteDeps } from '../app.js';
import { caller } from '../authenticate.js';
import { notFound } from '../errors.js';
import { afterNewest, page, PageQuery } from '../pagination.js';
import { queueMessage } from '../../domain/messages.js';
import { bearerAuth, errorResponses, IdempotencyHeaders, MediaUrls, MessageText, Nullable, PriceCents } from '../schemas.js';
import { Message, presentMessage, presentQueued, Queued } from './messages.js';

const Conversation = Type.Object({
  id: Type.String(),
  fanId: Type.String(),
  platform: Type.String(),
  lastMessageAt: Type.String({ format: 'date-time' }),
  unreadCount: Type.Integer(),
  fan: Type.Object({ id: Type.String(), name: Nullable(Type.String()), handle: Type.String(), avatar: Nullable(Type.String()) }),
});

export const conversationRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, deps) => {
  const { db } = deps;
  app.addHook('onRequest', app.authenticate);
  const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

  /** The caller's conversation with a live fan, or a 404. */
  async function conversationOf(request: FastifyRequest, id: string) {
    const [row] = await db
      .select({ conversation: conversations })
      .from(conversations)
      .innerJoin(fans, eq(fans.id, conversations.fanId))
      .where(and(eq(conversations.id, id), eq(conversations.creatorId, caller(request).userId), isNull(fans.deletedAt)));
    if (!row) throw notFound('conversation');
    return row.conversation;
  }

  app.get(
    '/crm/conversations',
    {
      schema: {
        tags: ['crm'],
        summary: 'The caller’s conversations, latest activity first, with unread counts and the fan',
        security: bearerAuth,
        querystring: Type.Object({ unread: Type.Optional(Type.Boolean()), ...PageQuery }, { additionalProperties: false }),
        response: {
          200: Type.Object({ items: Type.Array(Conversation), nextCursor: Nullable(Type.String()) }),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => {
      const { unread, limit = 50, cursor } = request.query;
      const where = [eq(conversations.creatorId, caller(request).userId), isNull(fans.deletedAt)];
      if (unread) where.push(gt(conversations.unreadCount, 0));
      if (cursor) where.push(afterNewest(conversations.lastMessageAt, conversations.id, cursor));
      const rows = await db
        .select({
          c: conversations,
          fan: { id: fans.id, name: fans.name, handle: fans.handle, avatar: fans.avatarUrl },
          key: sql<string>`${conversations.lastMessageAt}::text`,
        })
        .from(conversations)
        .innerJoin(fans, eq(fans.id, conversations.fanId))
        .where(and(...where))
        .orderBy(desc(conversations.lastMessageAt), asc(conversations.id))
        .limit(limit + 1);
      const result = page(
        rows.map((r) => ({ ...r, id: r.c.id })),
        limit,
        (r) => r.key,
      );
      return {
        items: result.items.map(({ c, fan }) => ({
          id: c.id,
          fanId: c.fanId,
          platform: c.platform,
          lastMessageAt: c.lastMessageAt.toISOString(),
          unreadCount: c.unreadCount,
          fan,
        })),
        nextCursor: result.nextCursor,
      };
    },
  );

  app.get(
    '/crm/conversations/:id/messages',
    {
      schema: {
        tags: ['crm'],
        summary: 'A thread, newest message first (both directions, with each outgoing message’s delivery state)',
        security: bearerAuth,
        params: IdParams,
        querystring: Type.Object(PageQuery, { additionalProperties: false }),
        response: {
          200: Type.Object({ items: Type.Array(Message), nextCursor: Nullable(Type.String()) }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => {
      const conversation = await conversationOf(request, request.params.id);
      const { limit = 50, cursor } = request.query;
      const rows = await db
        .select({ m: messages, key: sql<string>`${messages.createdAt}::text` })
        .from(messages)
        .where(and(eq(messages.conversationId, conversation.id), cursor ? afterNewest(messages.createdAt, messages.id, cursor) : undefined))
        .orderBy(desc(messages.createdAt), asc(messages.id))
        .limit(limit + 1);
      const result = page(
        rows.map((r) => ({ ...r, id: r.m.id })),
        limit,
        (r) => r.key,
      );
      return { items: result.items.map((r) => presentMessage(r.m)), nextCursor: result.nextCursor };
    },
  );

  app.post(
    '/crm/conversations/:id/messages',
    {
      config: { idempotent: true },
      schema: {
        tags: ['crm'],
        summary: 'Reply in a thread: the message is queued (202) and sent by the creator’s send queue',
        security: bearerAuth,
        params: IdParams,
        headers: IdempotencyHeaders,
        body: Type.Object(
          { text: MessageText, priceCents: Type.Optional(PriceCents), attachments: Type.Optional(MediaUrls) },
          { additionalProperties: false },
        ),
        response: { 202: Type.Object({ ...Queued.properties, message: Message }), ...errorResponses(400, 401, 404, 422, 503) },
      },
    },
    async (request, reply) => {
      const conversation = await conversationOf(request, request.params.id);
      const { text, priceCents, attachments } = request.body;
      const { message, estimatedSendTime } = await queueMessage({ ...deps, log: request.log }, caller(request).userId, {
        fanId: conversation.fanId,
        text,
        priceCents,
        attachments,
        priority: 'normal',
        idempotency: request.idempotency,
      });
      return reply.status(202).send({ ...presentQueued(message, estimatedSendTime), message: presentMessage(message) });
    },
  );

  app.post(
    '/crm/conversations/:id/read',
    {
      schema: {
        tags: ['crm'],
        summary: 'Mark every received message of the thread read',
        security: bearerAuth,
        params: IdParams,
        response: { 200: Type.Object({ id: Type.String(), unreadCount: Type.Literal(0) }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const conversation = await conversationOf(request, request.params.id);
      await db.transaction(async (tx) => {
        // Locked first: an inbound message committing meanwhile waits, so its unread count survives.
        await tx.execute(sql`select 1 from ${conversations} where ${conversations.id} = ${conversation.id} for update`);
        await tx
          .update(messages)
          .set({ readAt: sql`now()` })
          .where(and(eq(messages.conversationId, conversation.id), eq(messages.direction, 'in'), isNull(messages.readAt)));
        await tx.update(conversations).set({ unreadCount: 0 }).where(eq(conversations.id, conversation.id));
      });
      return { id: conversation.id, unreadCount: 0 as const };
    },
  );
};
