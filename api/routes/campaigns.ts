// SPEC §4 campaigns: POST /messages/bulk creates a campaign and starts its first run
// (`campaign:<id>:1`); the lists read Postgres (the runs project their status and the totals come
// from the recipients snapshot); pause, resume, cancel and retry-failed signal the latest run.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  ServiceError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { and, asc, count, desc, eq, getTableColumns, gt, sql, type SQL } from 'drizzle-orm';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { campaignRecipients, campaigns, fans, messages, platformConnections, type CampaignAudience } from '../../db/schema.js';
import { campaignTotals, segmentWhere } from '../../domain/campaigns.js';
import { taskQueue } from '../../lib/temporal.js';
import {
  cancelCampaignSignal,
  campaignRunWorkflow,
  campaignScheduleId,
  campaignWorkflowId,
  scheduledCampaignWorkflow,
  pauseCampaignSignal,
  resumeCampaignSignal,
  retryFailedSignal,
} from '../../workflows/campaign.js';
import { CampaignId, CreatorId } from '../../workflows/search-attributes.js';
import type { RouteDeps } from '../app.js';
import { caller } from '../authenticate.js';
import { ApiError, notFound } from '../errors.js';
import { assertIanaTimezone } from '../timezones.js';
import { afterNewest, decodeCursor, page, PageQuery } from '../pagination.js';
import { bearerAuth, errorResponses, IdempotencyHeaders, Nullable } from '../schemas.js';
import { MediaUrls, MessageText, PriceCents } from './messages.js';

/** The largest explicit recipient list; larger audiences are segments. */
const MAX_RECIPIENT_IDS = 100_000;

const Segment = Type.Object(
  {
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { minItems: 1, maxItems: 50 })),
    minValueCents: Type.Optional(Type.Integer({ minimum: 0 })),
    maxValueCents: Type.Optional(Type.Integer({ minimum: 0 })),
    lastSeenAfter: Type.Optional(Type.String({ format: 'date-time' })),
    lastSeenBefore: Type.Optional(Type.String({ format: 'date-time' })),
    subscriptionTiers: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { minItems: 1, maxItems: 20 })),
  },
  { additionalProperties: false, description: 'fans matching every given condition (tags: any of them)' },
);
const Totals = Type.Object({
  recipients: Type.Integer(),
  queued: Type.Integer(),
  sent: Type.Integer(),
  failed: Type.Integer(),
  skipped: Type.Integer(),
  purchases: Type.Integer(),
  revenueCents: Type.Integer(),
});
const Campaign = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.Enum(['scheduled', 'running', 'paused', 'completed', 'cancelled']),
  content: Type.String(),
  mediaUrls: Type.Array(Type.String()),
  priceCents: Nullable(Type.Integer()),
  audience: Type.Unknown({ description: '{segment} as created, or {recipientCount} for an explicit list' }),
  sendAt: Nullable(Type.String({ format: 'date-time' })),
  run: Type.Integer({ description: 'the latest run; totals are this run’s (purchases and revenue: all runs)' }),
  totals: Totals,
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
const RecipientStatus = Type.Enum(['queued', 'sent', 'failed', 'skipped']);

/**
 * A campaign as routes read it: an explicit list shows as its size (it can hold 100,000 ids),
 * a segment as given.
 */
const { audience: _audience, ...campaignColumns } = getTableColumns(campaigns);
const campaignView = {
  ...campaignColumns,
  audience: sql<
    CampaignAudience | { recipientCount: number }
  >`case when ${campaigns.audience} ? 'recipientIds' then jsonb_build_object('recipientCount', jsonb_array_length(${campaigns.audience} -> 'recipientIds')) else ${campaigns.audience} end`,
};
type Row = Omit<typeof campaigns.$inferSelect, 'audience'> & { audience: unknown };
const emptyTotals = { recipients: 0, queued: 0, sent: 0, failed: 0, skipped: 0, purchases: 0, revenueCents: 0 };

/** A recipient's status from its snapshot row and message (see lib/campaigns.ts for the totals). */
const recipientStatus = sql<'queued' | 'sent' | 'failed' | 'skipped'>`case
  when ${campaignRecipients.skipReason} is not null or ${messages.status} = 'cancelled' then 'skipped'
  when ${messages.status} = 'sent' then 'sent'
  when ${messages.status} = 'dead' then 'failed'
  else 'queued' end`;

export const campaignRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, temporal, config }) => {
  app.addHook('onRequest', app.authenticate);
  const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

  async function present(rows: Row[]) {
    const totals = await campaignTotals(
      db,
      rows.map((r) => ({ campaignId: r.id, run: Math.max(r.runs, 1) })),
    );
    return rows.map((c) => ({
      id: c.id,
      name: c.name,
      status: c.status,
      content: c.content,
      mediaUrls: c.mediaUrls,
      priceCents: c.priceCents,
      audience: c.audience,
      sendAt: c.sendAt?.toISOString() ?? null,
      run: c.runs,
      totals: totals.get(c.id) ?? emptyTotals,
      createdAt: c.createdAt.toISOString(),
      updatedAt: c.updatedAt.toISOString(),
    }));
  }

  async function campaignOf(request: FastifyRequest, id: string) {
    const [row] = await db
      .select(campaignView)
      .from(campaigns)
      .where(and(eq(campaigns.id, id), eq(campaigns.creatorId, caller(request).userId)));
    if (!row) throw notFound('campaign');
    return row;
  }

  app.post(
    '/messages/bulk',
    {
      config: { idempotent: true },
      bodyLimit: config.BULK_BODY_LIMIT_BYTES,
      schema: {
        tags: ['campaigns'],
        summary: 'Send one message to many fans: a campaign whose run snapshots the audience and feeds the send queue',
        description: `Give recipientIds (at most ${MAX_RECIPIENT_IDS}) or a segment. Fans who opted out or were deleted are skipped, visibly. 202 with the campaign id to follow at GET /campaigns/{id}.`,
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
          ...errorResponses(400, 401, 503),
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

      const [campaign] = await db
        .insert(campaigns)
        .values({
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
        .returning();
      try {
        await temporal.workflow.start(campaignRunWorkflow, {
          workflowId: campaignWorkflowId(campaign!.id, 1),
          taskQueue: taskQueue(config, 'campaigns'),
          args: [{ campaignId: campaign!.id, run: 1, ...(sendAt ? { sendAt: startAt } : {}) }],
          typedSearchAttributes: [
            { key: CampaignId, value: campaign!.id },
            { key: CreatorId, value: creatorId },
          ],
        });
      } catch (err) {
        await db.delete(campaigns).where(eq(campaigns.id, campaign!.id));
        throw err;
      }
      // At the creator's slowest connected limit (or the default): the paced time to send them all.
      const [limit] = await db
        .select({
          perMessageMs: sql<number>`max(${platformConnections.rateLimitSeconds} * 1000.0 / ${platformConnections.rateLimitMessages})`,
        })
        .from(platformConnections)
        .where(eq(platformConnections.creatorId, creatorId));
      const perMessageMs = limit?.perMessageMs ?? 60_000 / config.SEND_RATE_LIMIT_PER_MINUTE;
      return reply.status(202).send({
        campaignId: campaign!.id,
        totalRecipients,
        estimatedCompletionTime: new Date(startAt + totalRecipients * perMessageMs).toISOString(),
        status: 'queued' as const,
      });
    },
  );

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
      return { items: await present(result.items.map((r) => r.c)), nextCursor: result.nextCursor };
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
    async (request) => (await present([await campaignOf(request, request.params.id)]))[0]!,
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
      const campaign = await campaignOf(request, request.params.id);
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

  const ScheduleBody = Type.Object(
    {
      cron: Type.Optional(
        Type.String({ minLength: 9, maxLength: 100, description: 'five-field cron in the timezone, e.g. "0 9 * * 1-5"' }),
      ),
      every: Type.Optional(Type.String({ pattern: '^[1-9]\\d{0,4}(s|m|h|d)$', description: 'an interval: 30m, 12h, 7d (…s for seconds)' })),
      timezone: Type.String({ minLength: 1, maxLength: 64 }),
      startAt: Type.Optional(Type.String({ format: 'date-time' })),
      endAt: Type.Optional(Type.String({ format: 'date-time' })),
      maxRuns: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    },
    { additionalProperties: false },
  );
  const ScheduleView = Type.Object({
    ...ScheduleBody.properties,
    paused: Type.Boolean(),
    remainingRuns: Nullable(Type.Integer()),
    nextRuns: Type.Array(Type.String({ format: 'date-time' })),
    recentRuns: Type.Array(Type.String({ format: 'date-time' })),
    skippedOverlapping: Type.Integer(),
  });
  const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

  async function scheduleView(campaign: Row) {
    if (!campaign.schedule) throw notFound('schedule');
    const d = await temporal.schedule
      .getHandle(campaignScheduleId(campaign.id))
      .describe()
      .catch((err: unknown) => {
        throw err instanceof ScheduleNotFoundError ? notFound('schedule') : err;
      });
    return {
      ...campaign.schedule,
      paused: d.state.paused,
      remainingRuns: d.state.remainingActions ?? null,
      nextRuns: (d.state.remainingActions === 0 ? [] : d.info.nextActionTimes.slice(0, d.state.remainingActions ?? undefined)).map((t) =>
        t.toISOString(),
      ),
      recentRuns: d.info.recentActions.map((a) => a.scheduledAt.toISOString()),
      skippedOverlapping: d.info.numActionsSkippedOverlap,
    };
  }

  app.put(
    '/campaigns/:id/schedule',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'Make the campaign recurring (or change how): each run snapshots its own recipients; a firing during a run is skipped',
        description:
          'Give cron or every, and an IANA timezone: times are that zone’s wall-clock times across daylight-saving changes. A local time that repeats when the clocks go back fires once; one that does not exist when they go forward is skipped (Temporal’s calendar rule).',
        security: bearerAuth,
        params: IdParams,
        body: ScheduleBody,
        response: { 200: ScheduleView, ...errorResponses(400, 401, 404, 409, 503) },
      },
    },
    async (request) => {
      const campaign = await campaignOf(request, request.params.id);
      const body = request.body;
      if ((body.cron === undefined) === (body.every === undefined))
        throw new ApiError(400, 'validation_failed', 'give either cron or every');
      assertIanaTimezone(body.timezone);
      if (body.startAt && body.endAt && Date.parse(body.startAt) >= Date.parse(body.endAt))
        throw new ApiError(400, 'validation_failed', 'startAt must be before endAt');
      if (campaign.status === 'cancelled') throw new ApiError(409, 'invalid_state', 'the campaign is cancelled');
      const every = body.every ? Number(body.every.slice(0, -1)) * UNIT_MS[body.every.slice(-1) as keyof typeof UNIT_MS] : undefined;
      const spec = {
        ...(body.cron ? { cronExpressions: [body.cron] } : { intervals: [{ every: every! }] }),
        timezone: body.timezone,
        ...(body.startAt ? { startAt: new Date(body.startAt) } : {}),
        ...(body.endAt ? { endAt: new Date(body.endAt) } : {}),
      };
      const action = {
        type: 'startWorkflow' as const,
        workflowType: scheduledCampaignWorkflow,
        workflowId: campaignScheduleId(campaign.id),
        taskQueue: taskQueue(config, 'campaigns'),
        args: [{ campaignId: campaign.id }] as [{ campaignId: string }],
        typedSearchAttributes: [
          { key: CampaignId, value: campaign.id },
          { key: CreatorId, value: campaign.creatorId },
        ],
      };
      const state = body.maxRuns === undefined ? {} : { limitedActions: true, remainingActions: body.maxRuns };
      // The Temporal client raises the server's INVALID_ARGUMENT on the spec (a bad cron expression)
      // as a TypeError, and others as a ServiceError around the gRPC status 3: both are the caller's.
      const invalid = (err: unknown): never => {
        if (err instanceof TypeError) throw new ApiError(400, 'invalid_schedule', err.message);
        if (err instanceof ServiceError && (err.cause as { code?: number } | undefined)?.code === 3)
          throw new ApiError(400, 'invalid_schedule', err.message);
        throw err;
      };
      // Recorded first, so the routes that look for the schedule find it; taken back if Temporal refuses.
      const [updated] = await db
        .update(campaigns)
        .set({ schedule: { ...body }, updatedAt: sql`now()` })
        .where(eq(campaigns.id, campaign.id))
        .returning({ id: campaigns.id });
      const restore = () => db.update(campaigns).set({ schedule: campaign.schedule }).where(eq(campaigns.id, updated!.id));
      try {
        await temporal.schedule.create({
          scheduleId: campaignScheduleId(campaign.id),
          spec,
          action,
          policies: { overlap: ScheduleOverlapPolicy.SKIP },
          state,
        });
      } catch (err) {
        try {
          if (!(err instanceof ScheduleAlreadyRunning)) invalid(err);
          await temporal.schedule
            .getHandle(campaignScheduleId(campaign.id))
            .update((previous) => ({
              ...previous,
              spec,
              action,
              state: {
                ...previous.state,
                ...state,
                ...(body.maxRuns === undefined ? { limitedActions: false, remainingActions: undefined } : {}),
              },
            }))
            .catch(invalid);
        } catch (refused) {
          await restore();
          throw refused;
        }
      }
      return scheduleView({ ...campaign, schedule: body });
    },
  );

  app.get(
    '/campaigns/:id/schedule',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'The campaign’s schedule with its next runs',
        security: bearerAuth,
        params: IdParams,
        response: { 200: ScheduleView, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => scheduleView(await campaignOf(request, request.params.id)),
  );

  app.delete(
    '/campaigns/:id/schedule',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'Stop the campaign recurring (a run in progress finishes)',
        security: bearerAuth,
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const campaign = await campaignOf(request, request.params.id);
      // Tried whatever the row says, so a Schedule whose row update was lost can still be removed.
      const existed = await temporal.schedule
        .getHandle(campaignScheduleId(campaign.id))
        .delete()
        .then(() => true)
        .catch((err: unknown) => {
          if (!(err instanceof ScheduleNotFoundError)) throw err;
          return false;
        });
      if (!existed && !campaign.schedule) throw notFound('schedule');
      await db.update(campaigns).set({ schedule: null, updatedAt: sql`now()` }).where(eq(campaigns.id, campaign.id));
      return reply.status(204).send(null);
    },
  );

  for (const verb of ['pause', 'unpause'] as const) {
    app.post(
      `/campaigns/:id/schedule/${verb}`,
      {
        schema: {
          tags: ['campaigns'],
          summary: `${verb} the campaign’s schedule`,
          security: bearerAuth,
          params: IdParams,
          response: { 200: ScheduleView, ...errorResponses(400, 401, 404) },
        },
      },
      async (request) => {
        const campaign = await campaignOf(request, request.params.id);
        if (!campaign.schedule) throw notFound('schedule');
        const handle = temporal.schedule.getHandle(campaignScheduleId(campaign.id));
        await (verb === 'pause' ? handle.pause('paused through the API') : handle.unpause('unpaused through the API')).catch(
          (err: unknown) => {
            throw err instanceof ScheduleNotFoundError ? notFound('schedule') : err;
          },
        );
        return scheduleView(campaign);
      },
    );
  }

  const actions = {
    // A run waiting for its sendAt can be cancelled, not paused.
    pause: { signal: pauseCampaignSignal, allowed: ['running'] },
    resume: { signal: resumeCampaignSignal, allowed: ['paused'] },
    // Cancelling a completed campaign stops its recurring runs (firings then start nothing).
    cancel: { signal: cancelCampaignSignal, allowed: ['scheduled', 'running', 'paused', 'completed'] },
    'retry-failed': { signal: retryFailedSignal, allowed: ['running', 'paused', 'completed'] },
  } as const;
  for (const [action, { signal, allowed }] of Object.entries(actions)) {
    app.post(
      `/campaigns/:id/${action}`,
      {
        schema: {
          tags: ['campaigns'],
          summary: `${action} the campaign’s latest run`,
          security: bearerAuth,
          params: IdParams,
          response: {
            202: Type.Object({ campaignId: Type.String(), run: Type.Integer(), action: Type.String() }),
            ...errorResponses(400, 401, 404, 409, 503),
          },
        },
      },
      async (request, reply) => {
        const campaign = await campaignOf(request, request.params.id);
        if (!(allowed as readonly string[]).includes(campaign.status))
          throw new ApiError(409, 'invalid_state', `cannot ${action} a ${campaign.status} campaign`);
        const run = Math.max(campaign.runs, 1);
        const workflowId = campaignWorkflowId(campaign.id, run);
        if (action === 'cancel' && campaign.status === 'completed') {
          await db.update(campaigns).set({ status: 'cancelled', updatedAt: sql`now()` }).where(eq(campaigns.id, campaign.id));
        } else if (action === 'retry-failed') {
          // The run may have completed: a retry is then a new execution of the same id.
          await temporal.workflow.signalWithStart(campaignRunWorkflow, {
            workflowId,
            taskQueue: taskQueue(config, 'campaigns'),
            args: [{ campaignId: campaign.id, run, phase: 'sending', retryRequested: true }],
            signal,
            typedSearchAttributes: [
              { key: CampaignId, value: campaign.id },
              { key: CreatorId, value: campaign.creatorId },
            ],
          });
        } else {
          await temporal.workflow
            .getHandle(workflowId)
            .signal(signal)
            .catch((err: unknown) => {
              throw err instanceof WorkflowNotFoundError ? new ApiError(409, 'invalid_state', 'the campaign’s run has already ended') : err;
            });
        }
        return reply.status(202).send({ campaignId: campaign.id, run, action });
      },
    );
  }
};
