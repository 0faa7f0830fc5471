// POST /messages/bulk: stores the campaign and starts its first run. A retried request never
// starts a second campaign: with an Idempotency-Key the campaign id derives from (creator, key), the
// row insert finds the first attempt's row, and the start finds its run (processes/campaign.ts);
// nothing after the start can fail the request (a 5xx frees the key for yet another attempt).
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, count, eq, sql, type SQL } from 'drizzle-orm';
import { Type } from 'typebox';
import { campaigns, fans, type CampaignAudience } from '../../../db/schema.js';
import { campaignIdForRequest, pacedMessageMs, segmentWhere } from '../../../domain/campaigns.js';
import { caller } from '../../authenticate.js';
import { ApiError } from '../../errors.js';
import { bearerAuth, errorResponses, IdempotencyHeaders, MediaUrls, MessageText, PriceCents } from '../../schemas.js';
import type { RouteDeps } from '../../app.js';
import { MAX_RECIPIENT_IDS, Segment } from './schemas.js';
import type { Db } from '../../../db/client.js';

/** A campaign holds work while it is scheduled, running or paused, or while it recurs. */
export const isOpen = (c: { status: string; schedule: unknown }) =>
  ['scheduled', 'running', 'paused'].includes(c.status) || c.schedule !== null;

/**
 * Refuses a creator's new open campaign beyond `max` (MAX_OPEN_CAMPAIGNS_PER_CREATOR); `except` is the
 * campaign being opened, when its row exists. A count, then the write: two requests racing at the cap
 * can both pass, so the cap can be overshot by the concurrent requests of one creator, which is
 * enough for a bound on work (a lock per creator would serialise every campaign write for it).
 */
export async function assertRoomForCampaign(db: Db, creatorId: string, max: number, except: string): Promise<void> {
  const [{ n } = { n: 0 }] = await db
    .select({ n: count() })
    .from(campaigns)
    .where(
      and(
        eq(campaigns.creatorId, creatorId),
        sql`${campaigns.id} <> ${except}`,
        sql`(${campaigns.status} in ('scheduled', 'running', 'paused') or ${campaigns.schedule} is not null)`,
      ),
    );
  if (n >= max)
    throw new ApiError(409, 'too_many_open_campaigns', `at most ${max} open campaigns (scheduled, running, paused or recurring) at once`, {
      max,
    });
}

export const bulkRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, config, campaignProcess }) => {
  app.post(
    '/messages/bulk',
    {
      config: { idempotent: true },
      bodyLimit: config.BULK_BODY_LIMIT_BYTES,
      schema: {
        tags: ['campaigns'],
        summary: 'Send one message to many fans: a campaign whose run snapshots the audience and feeds the send queue',
        description: [
          `Give recipientIds (at most ${MAX_RECIPIENT_IDS}) or a segment. Fans who opted out or were deleted are skipped, visibly.`,
          '202 with the campaign id to follow at GET /campaigns/{id}. With an Idempotency-Key, a retry names the same campaign.',
        ].join(' '),
        security: bearerAuth,
        headers: IdempotencyHeaders,
        body: Type.Object(
          {
            campaignName: Type.String({ minLength: 1, maxLength: 200 }),
            content: MessageText,
            mediaUrls: Type.Optional(MediaUrls),
            priceCents: Type.Optional(PriceCents),
            recipientIds: Type.Optional(
              Type.Array(Type.String({ format: 'uuid' }), { minItems: 1, maxItems: MAX_RECIPIENT_IDS, uniqueItems: true }),
            ),
            segment: Type.Optional(Segment),
            sendAt: Type.Optional(Type.String({ format: 'date-time' })),
          },
          { additionalProperties: false },
        ),
        response: {
          202: Type.Object({
            campaignId: Type.String(),
            totalRecipients: Type.Integer(),
            estimatedCompletionTime: Type.String({ format: 'date-time' }),
            status: Type.Literal('queued'),
          }),
          ...errorResponses(400, 401, 409, 422, 503),
        },
      },
    },
    async (request, reply) => {
      const creatorId = caller(request).userId;
      const { campaignName, content, mediaUrls = [], priceCents, segment, sendAt } = request.body;
      // Postgres prints ids in lower case; so are they kept, once each.
      const recipientIds = request.body.recipientIds && [...new Set(request.body.recipientIds.map((id) => id.toLowerCase()))];
      if ((recipientIds === undefined) === (segment === undefined))
        throw new ApiError(400, 'validation_failed', 'give either recipientIds or segment');
      const audience: CampaignAudience = recipientIds ? { recipientIds } : { segment: segment! };
      // The ids travel as one JSON parameter: 100,000 of them would pass Postgres's 65,535 bind parameters.
      const eligible: SQL = recipientIds
        ? and(
            eq(fans.creatorId, creatorId),
            sql`${fans.id} in (select value::uuid from json_array_elements_text(${JSON.stringify(recipientIds)}::json))`,
            sql`${fans.deletedAt} is null`,
          )!
        : segmentWhere(creatorId, segment!);
      const [{ n: totalRecipients } = { n: 0 }] = await db
        .select({ n: count() })
        .from(fans)
        .where(and(eligible, sql`${fans.optedOutAt} is null`));
      const startAt = sendAt ? Math.max(Date.parse(sendAt), Date.now()) : Date.now();

      const key = request.idempotency?.key;
      const campaignId = key ? campaignIdForRequest(creatorId, key) : randomUUID();
      // A retry with the same key names the campaign it opened, which does not count against itself.
      await assertRoomForCampaign(db, creatorId, config.MAX_OPEN_CAMPAIGNS_PER_CREATOR, campaignId);
      const inserted = await db
        .insert(campaigns)
        .values({
          id: campaignId,
          creatorId,
          name: campaignName,
          content,
          mediaUrls,
          priceCents,
          audience,
          status: sendAt && Date.parse(sendAt) > Date.now() ? 'scheduled' : 'running',
          sendAt: sendAt ? new Date(sendAt) : null,
          runs: 1,
        })
        .onConflictDoNothing()
        .returning({ id: campaigns.id });
      if (inserted.length === 0) {
        // The row of an earlier attempt with this key. The idempotency layer refuses another body for
        // a key it still holds; past its 24 h, a key reused for another campaign is refused here: the
        // caller's row must hold the whole normalised request (jsonb equality ignores key order).
        const [first] = await db
          .select({ id: campaigns.id })
          .from(campaigns)
          .where(
            and(
              eq(campaigns.id, campaignId),
              eq(campaigns.creatorId, creatorId),
              eq(campaigns.name, campaignName),
              eq(campaigns.content, content),
              sql`${campaigns.mediaUrls} = ${JSON.stringify(mediaUrls)}::jsonb`,
              sql`${campaigns.priceCents} is not distinct from ${priceCents ?? null}::int`,
              sql`${campaigns.audience} = ${JSON.stringify(audience)}::jsonb`,
              sql`${campaigns.sendAt} is not distinct from ${sendAt ? new Date(sendAt).toISOString() : null}::timestamptz`,
            ),
          );
        if (!first) throw new ApiError(422, 'idempotency_key_reused', 'this Idempotency-Key was used for another campaign');
      }
      try {
        await campaignProcess.start({ campaignId, creatorId, ...(sendAt ? { sendAt: startAt } : {}) });
      } catch (err) {
        // With a key the row stays: the client's retry (the answer is a 5xx, which frees the key)
        // needs it, and the start may have reached Temporal though its answer did not come back.
        // Without a key no retry can name this campaign again, so the row goes rather than stay
        // "running" with no run; a run that did start then stops at its first step (no campaign).
        if (!key) await db.delete(campaigns).where(eq(campaigns.id, campaignId));
        throw err;
      }
      // An estimate, best effort: the run has started, so this answer must be a 202 whatever happens.
      const perMessageMs = await pacedMessageMs(db, creatorId, config.SEND_RATE_LIMIT_PER_MINUTE).catch((err: unknown) => {
        request.log.warn({ err: { message: (err as Error).message } }, 'campaign estimate failed');
        return 60_000 / config.SEND_RATE_LIMIT_PER_MINUTE;
      });
      return reply.status(202).send({
        campaignId,
        totalRecipients,
        estimatedCompletionTime: new Date(startAt + totalRecipients * perMessageMs).toISOString(),
        status: 'queued' as const,
      });
    },
  );
};
