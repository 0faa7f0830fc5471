// A campaign's recurring runs: PUT / GET / DELETE /campaigns/:id/schedule and pause / unpause. The
// row keeps the schedule as the creator set it; Temporal's Schedule (processes/campaign.ts) runs it.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { eq, sql } from 'drizzle-orm';
import { Type } from 'typebox';
import { campaigns } from '../../../db/schema.js';
import { ApiError, notFound } from '../../errors.js';
import { bearerAuth, errorResponses } from '../../schemas.js';
import { assertIanaTimezone } from '../../timezones.js';
import type { RouteDeps } from '../../app.js';
import { IdParams, ScheduleBody, ScheduleView } from './schemas.js';
import { campaignOf, type CampaignRow } from './view.js';

export const scheduleRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, campaignProcess }) => {
  async function scheduleView(campaign: CampaignRow) {
    if (!campaign.schedule) throw notFound('schedule');
    return { ...campaign.schedule, ...(await campaignProcess.describeSchedule(campaign.id)) };
  }

  app.put(
    '/campaigns/:id/schedule',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'Make the campaign recurring (or change how): each run snapshots its own recipients; a firing during a run is skipped',
        description: [
          'Give cron or every, and an IANA timezone: times are that zone’s wall-clock times across daylight-saving changes.',
          'A local time that repeats when the clocks go back fires once; one that does not exist when they go forward is skipped',
          '(Temporal’s calendar rule).',
        ].join(' '),
        security: bearerAuth,
        params: IdParams,
        body: ScheduleBody,
        response: { 200: ScheduleView, ...errorResponses(400, 401, 404, 409, 503) },
      },
    },
    async (request) => {
      const campaign = await campaignOf(db, request, request.params.id);
      const body = request.body;
      if ((body.cron === undefined) === (body.every === undefined))
        throw new ApiError(400, 'validation_failed', 'give either cron or every');
      assertIanaTimezone(body.timezone);
      if (body.startAt && body.endAt && Date.parse(body.startAt) >= Date.parse(body.endAt))
        throw new ApiError(400, 'validation_failed', 'startAt must be before endAt');
      if (campaign.status === 'cancelled') throw new ApiError(409, 'invalid_state', 'the campaign is cancelled');
      // Recorded first, so the routes that look for the schedule find it; taken back if Temporal refuses.
      await db
        .update(campaigns)
        .set({ schedule: { ...body }, updatedAt: sql`now()` })
        .where(eq(campaigns.id, campaign.id));
      try {
        await campaignProcess.putSchedule({ campaignId: campaign.id, creatorId: campaign.creatorId }, body);
      } catch (refused) {
        await db.update(campaigns).set({ schedule: campaign.schedule }).where(eq(campaigns.id, campaign.id));
        throw refused;
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
    async (request) => scheduleView(await campaignOf(db, request, request.params.id)),
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
      const campaign = await campaignOf(db, request, request.params.id);
      // Tried whatever the row says, so a Schedule whose row update was lost can still be removed.
      const existed = await campaignProcess.deleteSchedule(campaign.id);
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
        const campaign = await campaignOf(db, request, request.params.id);
        if (!campaign.schedule) throw notFound('schedule');
        await campaignProcess.pauseSchedule(campaign.id, verb === 'pause');
        return scheduleView(campaign);
      },
    );
  }
};
