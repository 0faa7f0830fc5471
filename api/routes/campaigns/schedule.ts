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
import { assertRoomForCampaign, isOpen } from './bulk.js';

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
const invalidSchedule = () => new ApiError(400, 'invalid_schedule', 'the cron expression or interval is not valid');

/** The values a cron field (`*`, `a`, `a-b`, each optionally `/step`, comma-separated) takes in [0, max]. */
function cronValues(field: string, max: number): number[] {
  const values = new Set<number>();
  for (const part of field.split(',')) {
    const m = /^(\*|(\d{1,2})(?:-(\d{1,2}))?)(?:\/(\d{1,2}))?$/.exec(part);
    if (!m) throw invalidSchedule();
    const from = m[2] === undefined ? 0 : Number(m[2]);
    const to = m[3] !== undefined ? Number(m[3]) : m[2] === undefined || m[4] !== undefined ? max : from;
    const step = m[4] === undefined ? 1 : Number(m[4]);
    if (to > max || from > to || step === 0) throw invalidSchedule();
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return [...values].sort((a, b) => a - b);
}

/**
 * Refuses a schedule that can fire more often than every MIN_SCHEDULE_INTERVAL_SECONDS. A cron must
 * be the five-field kind (no seconds field, no `@every`); its shortest gap is taken over the minutes
 * of a day it fires at (hour × minute fields), as if every day fired: never shorter than the truth,
 * so nothing too frequent passes, though a weekly cron counts as daily (only a minimum above a day
 * would notice).
 */
function assertNotTooFrequent(schedule: { cron?: string; every?: string }, minSeconds: number) {
  let seconds: number;
  if (schedule.every) {
    seconds = Number(schedule.every.slice(0, -1)) * UNIT_SECONDS[schedule.every.slice(-1) as keyof typeof UNIT_SECONDS];
  } else {
    const fields = schedule.cron!.trim().split(/\s+/);
    if (fields.length !== 5) throw invalidSchedule();
    const minutes = cronValues(fields[0]!, 59);
    const times = cronValues(fields[1]!, 23).flatMap((h) => minutes.map((m) => h * 60 + m));
    seconds = (1440 - times.at(-1)! + times[0]!) * 60;
    for (let i = 1; i < times.length; i++) seconds = Math.min(seconds, (times[i]! - times[i - 1]!) * 60);
  }
  if (seconds < minSeconds)
    throw new ApiError(422, 'schedule_too_frequent', `a recurring campaign fires at most once every ${minSeconds} seconds`, {
      minIntervalSeconds: minSeconds,
    });
}

export const scheduleRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, config, campaignProcess }) => {
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
        response: { 200: ScheduleView, ...errorResponses(400, 401, 404, 409, 422, 503) },
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
      assertNotTooFrequent(body, config.MIN_SCHEDULE_INTERVAL_SECONDS);
      // A finished campaign made recurring is open again, and counts.
      if (!isOpen(campaign)) await assertRoomForCampaign(db, campaign.creatorId, config.MAX_OPEN_CAMPAIGNS_PER_CREATOR, campaign.id);
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
