// SPEC §2 Stripe Connect Express routes. Everything that talks to Stripe runs in the onboarding
// workflow (updates → activities); these routes validate, authorise and read the projection.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { eq } from 'drizzle-orm';
import { Type } from 'typebox';
import { creatorProfiles } from '../../db/schema.js';
import type { RouteDeps } from '../app.js';
import { caller } from '../authenticate.js';
import { bearerAuth, errorResponses } from '../schemas.js';

const HttpUrl = Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048 });
const LinkBody = Type.Object({ returnUrl: Type.Optional(HttpUrl), refreshUrl: Type.Optional(HttpUrl) }, { additionalProperties: false });
/** The body is optional: a POST without one is validated as `{}`. */
const emptyBodyIsEmptyObject = async (request: { body: unknown }) => {
  request.body ??= {};
};
const Link = Type.Object({ accountId: Type.String(), onboardingUrl: Type.String(), expiresAt: Type.String({ format: 'date-time' }) });

export const stripeRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, config, onboarding }) => {
  // Each call runs activities and adds to the onboarding's history: a budget per client.
  const stripeLimit = { rateLimit: { max: 30, timeWindow: '1 minute' } };
  const linkRequest = (body: { returnUrl?: string; refreshUrl?: string }) => ({
    returnUrl: body.returnUrl ?? `${config.FRONTEND_URL}/onboarding/stripe/return`,
    refreshUrl: body.refreshUrl ?? `${config.FRONTEND_URL}/onboarding/stripe/refresh`,
  });

  app.post(
    '/stripe/connect/start',
    {
      onRequest: app.authenticate,
      config: stripeLimit,
      schema: {
        tags: ['stripe'],
        summary: 'Create the Express account (once) and a hosted onboarding link; 422 before the terms are accepted',
        security: bearerAuth,
        body: LinkBody,
        response: { 200: Link, ...errorResponses(400, 401, 422, 503) },
      },
      preValidation: emptyBodyIsEmptyObject,
    },
    async (request) => onboarding.startStripeConnect(caller(request).userId, linkRequest(request.body)),
  );

  app.post(
    '/stripe/connect/refresh',
    {
      onRequest: app.authenticate,
      config: stripeLimit,
      schema: {
        tags: ['stripe'],
        summary: 'A fresh single-use onboarding link for the existing account',
        security: bearerAuth,
        body: LinkBody,
        response: {
          200: Type.Object({ onboardingUrl: Type.String(), expiresAt: Type.String({ format: 'date-time' }) }),
          ...errorResponses(400, 401, 422, 503),
        },
      },
      preValidation: emptyBodyIsEmptyObject,
    },
    async (request) => {
      const link = await onboarding.refreshStripeLink(caller(request).userId, linkRequest(request.body));
      return { onboardingUrl: link.onboardingUrl, expiresAt: link.expiresAt };
    },
  );

  app.get(
    '/stripe/status',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['stripe'],
        summary: 'The Stripe account as last read by the onboarding workflow (accountId null before Connect starts)',
        security: bearerAuth,
        response: {
          200: Type.Object({
            accountId: Type.Union([Type.String(), Type.Null()]),
            detailsSubmitted: Type.Boolean(),
            chargesEnabled: Type.Boolean(),
            payoutsEnabled: Type.Boolean(),
            requirements: Type.Object({
              currentlyDue: Type.Array(Type.String()),
              eventuallyDue: Type.Array(Type.String()),
              disabledReason: Type.Union([Type.String(), Type.Null()]),
            }),
          }),
          ...errorResponses(401),
        },
      },
    },
    async (request) => {
      const profile = await db.query.creatorProfiles.findFirst({ where: eq(creatorProfiles.userId, caller(request).userId) });
      return {
        accountId: profile?.stripeAccountId ?? null,
        detailsSubmitted: profile?.detailsSubmitted ?? false,
        chargesEnabled: profile?.chargesEnabled ?? false,
        payoutsEnabled: profile?.payoutsEnabled ?? false,
        requirements: profile?.requirements ?? { currentlyDue: [], eventuallyDue: [], disabledReason: null },
      };
    },
  );

  app.post(
    '/stripe/dashboard-link',
    {
      onRequest: app.authenticate,
      config: stripeLimit,
      schema: {
        tags: ['stripe'],
        summary: 'An Express dashboard login link (once Stripe onboarding is complete)',
        security: bearerAuth,
        response: { 200: Type.Object({ url: Type.String() }), ...errorResponses(401, 422, 503) },
      },
    },
    async (request) => onboarding.createDashboardLink(caller(request).userId),
  );
};
