// SPEC §2 onboarding status: the projection the workflow writes, with the facts already committed in Postgres.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { eq, sql } from 'drizzle-orm';
import { Type } from 'typebox';
import { creatorProfiles, onboardingStatus, users } from '../../db/schema.js';
import { activationFacts, onboardingView } from '../../domain/onboarding-status.js';
import type { RouteDeps } from '../app.js';
import { caller } from '../authenticate.js';
import { notFound } from '../errors.js';
import { assertIanaTimezone } from '../timezones.js';
import { bearerAuth, errorResponses } from '../schemas.js';

const StepRecord = Type.Object({
  name: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('current'), Type.Literal('done'), Type.Literal('expired')]),
  at: Type.Union([Type.String(), Type.Null()]),
});

export const onboardingRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, onboarding }) => {
  app.get(
    '/onboarding/status',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['onboarding'],
        summary: 'Where the caller is in onboarding',
        security: bearerAuth,
        response: {
          200: Type.Object({
            step: Type.String(),
            completed: Type.Boolean(),
            steps: Type.Array(StepRecord),
            locale: Type.String(),
            timezone: Type.String(),
          }),
          ...errorResponses(401, 404),
        },
      },
    },
    async (request) => {
      const { userId } = caller(request);
      const [row] = await db
        .select({
          user: users,
          status: onboardingStatus,
          profile: {
            status: creatorProfiles.status,
            activatedAt: creatorProfiles.activatedAt,
            detailsSubmitted: creatorProfiles.detailsSubmitted,
            chargesEnabled: creatorProfiles.chargesEnabled,
            payoutsEnabled: creatorProfiles.payoutsEnabled,
            requirements: creatorProfiles.requirements,
            deauthorizedAt: creatorProfiles.deauthorizedAt,
            stripeSyncedAt: creatorProfiles.stripeSyncedAt,
          },
        })
        .from(users)
        .leftJoin(onboardingStatus, eq(onboardingStatus.userId, users.id))
        .leftJoin(creatorProfiles, eq(creatorProfiles.userId, users.id))
        .where(eq(users.id, userId));
      if (!row) throw notFound('user');
      const { user, status, profile } = row;
      // No projection yet: the workflow has not run its first step (or never started: repair it).
      if (!status) await onboarding.ensureStarted(userId, request.id).catch((err) => request.log.warn({ err }, 'onboarding ensure failed'));
      // Read-your-writes: the facts a route committed before answering show at once (domain/onboarding-status.ts).
      const view = onboardingView(status, {
        emailVerifiedAt: user.emailVerifiedAt,
        termsAcceptedAt: user.termsAcceptedAt,
        ...activationFacts(profile, user.termsAcceptedAt),
      });
      return { step: view.step, completed: view.completed, steps: view.steps, locale: user.locale, timezone: user.timezone };
    },
  );

  app.post(
    '/onboarding/update-timezone',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['onboarding'],
        summary: 'Set the caller’s timezone (IANA names only)',
        security: bearerAuth,
        body: Type.Object({ timezone: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ timezone: Type.String() }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { timezone } = request.body;
      assertIanaTimezone(timezone);
      const [user] = await db
        .update(users)
        .set({ timezone, updatedAt: sql`now()` })
        .where(eq(users.id, caller(request).userId))
        .returning({ timezone: users.timezone });
      if (!user) throw notFound('user');
      return user;
    },
  );
};
