// SPEC §3 messaging: queue a 1:1 message (202 with an estimated send time), the queue's status,
// one message, lists by status (the dead-letter view), retry of a dead message, and the manual
// adapter's operator tasks. Sending itself is the `send-queue:<creatorId>` workflow's.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, asc, count, desc, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { messages, messageStatus, users } from '../../db/schema.js';
import { completeByOperator, queueMessage, retryDeadMessage } from '../../domain/messages.js';
import { PRIORITY, type PriorityName } from '../../domain/outbox.js';
import type { RouteDeps } from '../app.js';
import { caller } from '../authenticate.js';
import { notFound } from '../errors.js';
import { afterNewest, page, PageQuery } from '../pagination.js';
import { bearerAuth, errorResponses, IdempotencyHeaders, MediaUrls, MessageText, Nullable, PriceCents } from '../schemas.js';

const PriorityNames = ['high', 'normal', 'low'] as const satisfies readonly PriorityName[];
const priorityName = (value: number): PriorityName => PriorityNames.find((n) => PRIORITY[n] === value) ?? 'low';
const Priority = Type.Enum(PriorityNames);

const Status = Type.Enum(messageStatus.enumValues);
export const Message = Type.Object({
  id: Type.String(),
  conversationId: Type.String(),
  fanId: Type.String(),
  platform: Type.String(),
  direction: Type.Union([Type.Literal('in'), Type.Literal('out')]),
  status: Status,
  priority: Priority,
  text: Type.String(),
  priceCents: Nullable(Type.Integer()),
  attachments: Type.Array(Type.String()),
  attempts: Type.Integer(),
  lastError: Nullable(Type.String()),
  campaignId: Nullable(Type.String()),
  queuedAt: Nullable(Type.String({ format: 'date-time' })),
  sentAt: Nullable(Type.String({ format: 'date-time' })),
  readAt: Nullable(Type.String({ format: 'date-time' })),
  createdAt: Type.String({ format: 'date-time' }),
});

type Row = typeof messages.$inferSelect;
export const presentMessage = (m: Row) => ({
  id: m.id,
  conversationId: m.conversationId,
  fanId: m.fanId,
  platform: m.platform,
  direction: m.direction,
  status: m.status,
  priority: priorityName(m.priority),
  text: m.text,
  priceCents: m.priceCents,
  attachments: m.attachments,
  attempts: m.attempts,
  lastError: m.lastError,
  campaignId: m.campaignId,
  queuedAt: m.queuedAt?.toISOString() ?? null,
  sentAt: m.sentAt?.toISOString() ?? null,
  readAt: m.readAt?.toISOString() ?? null,
  createdAt: m.createdAt.toISOString(),
});

export const Queued = Type.Object({
  messageId: Type.String(),
  status: Type.Literal('queued'),
  queuedAt: Type.String({ format: 'date-time' }),
  estimatedSendTime: Type.String({
    format: 'date-time',
    description: 'from the messages ahead in the queue, paced at the account’s rate limit',
  }),
});

/** The 202 answer to a queued message. */
export const presentQueued = (message: Row, estimatedSendTime: Date) => ({
  messageId: message.id,
  status: 'queued' as const,
  queuedAt: message.queuedAt!.toISOString(),
  estimatedSendTime: estimatedSendTime.toISOString(),
});

export const messageRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, deps) => {
  const { db } = deps;
  app.addHook('onRequest', app.authenticate);
  const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
  const mine = (request: FastifyRequest, id: string) => and(eq(messages.id, id), eq(messages.creatorId, caller(request).userId));

  app.post(
    '/onlyfans/messages/send',
    {
      config: { idempotent: true },
      schema: {
        tags: ['messaging'],
        summary: 'Queue a message to one fan; the creator’s send queue delivers it within the platform’s rate limit',
        security: bearerAuth,
        headers: IdempotencyHeaders,
        body: Type.Object(
          {
            recipientId: Type.String({ format: 'uuid', description: 'the fan’s id' }),
            content: MessageText,
            mediaUrls: Type.Optional(MediaUrls),
            priceCents: Type.Optional(PriceCents),
            priority: Type.Optional(
              Type.Enum(PriorityNames, { default: 'normal', description: 'high and normal go before campaign traffic (low)' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 202: Queued, ...errorResponses(400, 401, 404, 422, 503) },
      },
    },
    async (request, reply) => {
      const { recipientId, content, mediaUrls, priceCents, priority = 'normal' } = request.body;
      const { message, estimatedSendTime } = await queueMessage({ ...deps, log: request.log }, caller(request).userId, {
        fanId: recipientId,
        text: content,
        attachments: mediaUrls,
        priceCents,
        priority,
        idempotency: request.idempotency,
      });
      return reply.status(202).send(presentQueued(message, estimatedSendTime));
    },
  );

  app.get(
    '/onlyfans/messages/status',
    {
      schema: {
        tags: ['messaging'],
        summary: 'The caller’s send queue: depth, in flight, dead-letter, last send and today’s counts',
        description: '“Today” is the creator’s day in their timezone. failureRate is dead / (sent + dead) among messages queued today.',
        security: bearerAuth,
        response: {
          200: Type.Object({
            queueDepth: Type.Integer(),
            messagesInFlight: Type.Integer(),
            dlqCount: Type.Integer(),
            awaitingOperator: Type.Integer(),
            lastProcessedAt: Nullable(Type.String({ format: 'date-time' })),
            metrics: Type.Object({
              messagesQueuedToday: Type.Integer(),
              messagesProcessedToday: Type.Integer(),
              failureRate: Type.Number(),
            }),
          }),
          ...errorResponses(401),
        },
      },
    },
    async (request) => {
      const creatorId = caller(request).userId;
      // Three index-backed reads: counts by status, today's range of queued_at, the latest sent_at.
      const byStatus = await db
        .select({ status: messages.status, n: count() })
        .from(messages)
        .where(
          and(eq(messages.creatorId, creatorId), inArray(messages.status, ['queued', 'failed', 'sending', 'dead', 'awaiting_operator'])),
        )
        .groupBy(messages.status);
      const n = (...statuses: string[]) => byStatus.filter((r) => statuses.includes(r.status)).reduce((sum, r) => sum + r.n, 0);
      const tz = sql`(select ${users.timezone} from ${users} where ${users.id} = ${creatorId})`;
      const today = sql`(date_trunc('day', now() at time zone ${tz}) at time zone ${tz})`;
      const [queued] = await db
        .select({
          queued: count(),
          sent: sql<number>`count(*) filter (where ${messages.status} = 'sent')::int`,
          dead: sql<number>`count(*) filter (where ${messages.status} = 'dead')::int`,
        })
        .from(messages)
        .where(and(eq(messages.creatorId, creatorId), sql`${messages.queuedAt} >= ${today}`));
      const [sent] = await db
        .select({
          today: sql<number>`count(*) filter (where ${messages.sentAt} >= ${today})::int`,
          last: sql<string | null>`max(${messages.sentAt})::text`,
        })
        .from(messages)
        .where(and(eq(messages.creatorId, creatorId), isNotNull(messages.sentAt), eq(messages.direction, 'out')));
      const settled = (queued?.sent ?? 0) + (queued?.dead ?? 0);
      return {
        queueDepth: n('queued', 'failed'),
        messagesInFlight: n('sending'),
        dlqCount: n('dead'),
        awaitingOperator: n('awaiting_operator'),
        lastProcessedAt: sent?.last ? new Date(sent.last).toISOString() : null,
        metrics: {
          messagesQueuedToday: queued?.queued ?? 0,
          messagesProcessedToday: sent?.today ?? 0,
          failureRate: settled === 0 ? 0 : (queued?.dead ?? 0) / settled,
        },
      };
    },
  );

  app.get(
    '/messages',
    {
      schema: {
        tags: ['messaging'],
        summary:
          'The caller’s messages by status, newest first: `?status=dead` is the dead-letter queue, `awaiting_operator` the manual tasks',
        security: bearerAuth,
        querystring: Type.Object({ status: Status, ...PageQuery }, { additionalProperties: false }),
        response: { 200: Type.Object({ items: Type.Array(Message), nextCursor: Nullable(Type.String()) }), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { status, limit = 50, cursor } = request.query;
      const where = [eq(messages.creatorId, caller(request).userId), eq(messages.status, status)];
      if (cursor) where.push(afterNewest(messages.createdAt, messages.id, cursor));
      const rows = await db
        .select({ m: messages, key: sql<string>`${messages.createdAt}::text` })
        .from(messages)
        .where(and(...where))
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

  app.get(
    '/messages/:id',
    {
      schema: {
        tags: ['messaging'],
        summary: 'One message and its delivery state',
        security: bearerAuth,
        params: IdParams,
        response: { 200: Message, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const row = await db.query.messages.findFirst({ where: mine(request, request.params.id) });
      if (!row) throw notFound('message');
      return presentMessage(row);
    },
  );

  app.post(
    '/messages/:id/retry',
    {
      schema: {
        tags: ['messaging'],
        summary: 'Send a dead-lettered message again (its idempotency key is kept, so it is never delivered twice)',
        security: bearerAuth,
        params: IdParams,
        response: { 202: Message, ...errorResponses(400, 401, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const key = { creatorId: caller(request).userId, id: request.params.id };
      const row = await retryDeadMessage({ db, sendQueue: deps.sendQueue, log: request.log }, key);
      return reply.status(202).send(presentMessage(row));
    },
  );

  app.post(
    '/messages/:id/complete',
    {
      schema: {
        tags: ['messaging'],
        summary: 'Manual adapter: the person who sent (or could not send) the message on the platform says so',
        security: bearerAuth,
        params: IdParams,
        body: Type.Object(
          {
            outcome: Type.Union([Type.Literal('sent'), Type.Literal('failed')]),
            platformMessageId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            error: Type.Optional(Type.String({ minLength: 1, maxLength: 1_000 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Message, ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request) => {
      const key = { creatorId: caller(request).userId, id: request.params.id };
      return presentMessage(await completeByOperator(db, key, request.body));
    },
  );
};
