// GET /campaigns, /campaigns/:id and /campaigns/:id/recipients: Postgres only (the runs project
// their status; totals come from the recipients snapshot and their messages).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, asc, desc, eq, gt, sql, type SQL } from 'drizzle-orm';
import { Type } from 'typebox';
import { campaignRecipients, campaigns, fans, messages } from '../../../db/schema.js';
import { caller } from '../../authenticate.js';
import { afterNewest, decodeCursor, page, PageQuery } from '../../pagination.js';
import { bearerAuth, errorResponses, Nullable } from '../../schemas.js';
import type { RouteDeps } from '../../app.js';
import { Campaign, IdParams, RecipientStatus } from './schemas.js';
import { campaignOf, campaignView, present } from './view.js';

/** A recipient's status from its snapshot row and message (domain/campaigns.ts counts the totals the same way). */
const recipientStatus = sql<'queued' | 'sent' | 'failed' | 'skipped'>`case
  when ${campaignRecipients.skipReason} is not null or ${messages.status} = 'cancelled' then 'skipped'
  when ${messages.status} = 'sent' then 'sent'
  when ${messages.status} = 'dead' then 'failed'
  else 'queued' end`;

export const readRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db }) => {
  app.get(
    '/campaigns',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'The caller’s campaigns, newest first, with status and totals',
        security: bearerAuth,
        querystring: Type.Object(PageQuery, { additionalProperties: false }),
        response: { 200: Type.Object({ items: Type.Array(Campaign), nextCursor: Nullable(Type.String()) }), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit = 50, cursor } = request.query;
      const where: (SQL | undefined)[] = [eq(campaigns.creatorId, caller(request).userId)];
      if (cursor) where.push(afterNewest(campaigns.createdAt, campaigns.id, cursor));
      const rows = await db
        .select({ c: campaignView, key: sql<string>`${campaigns.createdAt}::text` })
        .from(campaigns)
        .where(and(...where))
        .orderBy(desc(campaigns.createdAt), asc(campaigns.id))
        .limit(limit + 1);
      const result = page(
        rows.map((r) => ({ ...r, id: r.c.id })),
        limit,
        (r) => r.key,
      );
      return {
        items: await present(
          db,
          result.items.map((r) => r.c),
        ),
        nextCursor: result.nextCursor,
      };
    },
  );

  app.get(
    '/campaigns/:id',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'A campaign’s status and totals',
        security: bearerAuth,
        params: IdParams,
        response: { 200: Campaign, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => (await present(db, [await campaignOf(db, request, request.params.id)]))[0]!,
  );

  app.get(
    '/campaigns/:id/recipients',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'Recipients of a run (the latest unless ?run=) with their status; ?status=failed lists what retry-failed would resend',
        security: bearerAuth,
        params: IdParams,
        querystring: Type.Object(
          { status: Type.Optional(RecipientStatus), run: Type.Optional(Type.Integer({ minimum: 1 })), ...PageQuery },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                fanId: Type.String(),
                handle: Nullable(Type.String()),
                name: Nullable(Type.String()),
                status: RecipientStatus,
                messageId: Nullable(Type.String()),
                skipReason: Nullable(Type.String()),
                lastError: Nullable(Type.String()),
                sentAt: Nullable(Type.String({ format: 'date-time' })),
              }),
            ),
            nextCursor: Nullable(Type.String()),
          }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => {
      const campaign = await campaignOf(db, request, request.params.id);
      const { status, run = Math.max(campaign.runs, 1), limit = 50, cursor } = request.query;
      const where: (SQL | undefined)[] = [eq(campaignRecipients.campaignId, campaign.id), eq(campaignRecipients.run, run)];
      if (status) where.push(sql`${recipientStatus} = ${status}`);
      if (cursor) where.push(gt(campaignRecipients.fanId, decodeCursor(cursor).id));
      const rows = await db
        .select({
          fanId: campaignRecipients.fanId,
          handle: fans.handle,
          name: fans.name,
          status: recipientStatus,
          messageId: campaignRecipients.messageId,
          skipReason: campaignRecipients.skipReason,
          lastError: messages.lastError,
          sentAt: messages.sentAt,
        })
        .from(campaignRecipients)
        .leftJoin(messages, eq(messages.id, campaignRecipients.messageId))
        .leftJoin(fans, and(eq(fans.id, campaignRecipients.fanId), eq(fans.creatorId, campaign.creatorId)))
        .where(and(...where))
        .orderBy(asc(campaignRecipients.fanId))
        .limit(limit + 1);
      const result = page(
        rows.map((r) => ({ ...r, id: r.fanId })),
        limit,
        () => null,
      );
      return {
        items: result.items.map(({ id: _id, sentAt, ...r }) => ({ ...r, sentAt: sentAt?.toISOString() ?? null })),
        nextCursor: result.nextCursor,
      };
    },
  );
};
