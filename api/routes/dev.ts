// Development-only routes (ENABLE_DEV_ROUTES; never in production): SPEC §6.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { fetchMailbox } from '../../integrations/email/mailbox.js';
import type { RouteDeps } from '../app.js';
import { and, eq } from 'drizzle-orm';
import { creatorProfiles } from '../../db/schema.js';
import { syncStripeAccountWithin } from '../../domain/stripe-account.js';
import { caller } from '../authenticate.js';
import { ApiError, dependencyDown, notFound } from '../errors.js';
import { bearerAuth, Email, errorResponses } from '../schemas.js';

export const devRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { config, db, stripe }) => {
  // Unauthenticated on purpose: it lets a person or an end-to-end test read the mail of an
  // account that cannot log in yet. It only exists outside production.
  app.get(
    '/dev/mailbox',
    {
      schema: {
        tags: ['dev'],
        summary: 'Mail captured by the local SES stand-in for one address, newest first',
        querystring: Type.Object({ to: Email }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            messages: Type.Array(
              Type.Object({ to: Type.String(), subject: Type.String(), text: Type.String(), html: Type.String(), sentAt: Type.String() }),
            ),
          }),
          ...errorResponses(400, 404, 503),
        },
      },
    },
    async (request) => {
      if (!config.SES_ENDPOINT || !config.usesSesStandin) {
        throw new ApiError(404, 'not_found', 'no local mail stand-in is configured (SES_ENDPOINT points elsewhere)');
      }
      try {
        return { messages: await fetchMailbox(config.SES_ENDPOINT, request.query.to) };
      } catch (err) {
        request.log.warn({ err }, 'mail stand-in unreachable');
        throw dependencyDown('mail stand-in');
      }
    },
  );

  // Finishes KYC in the local Stripe stand-in, which then delivers a signed account.updated to
  // POST /webhooks/stripe, exactly as Stripe would after a person completes the hosted form. The
  // stand-in answers before that delivery, so the route re-reads the account itself (best effort):
  // GET /onboarding/status then shows the result as soon as this returns.
  app.post(
    '/dev/stripe/accounts/:accountId/complete',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['dev'],
        summary: 'Make the local Stripe stand-in complete KYC for one of the caller’s accounts',
        security: bearerAuth,
        params: Type.Object({ accountId: Type.String({ pattern: '^acct_\\w{1,64}$' }) }),
        response: { 200: Type.Object({ completed: Type.Literal(true) }), ...errorResponses(400, 401, 404, 503) },
      },
    },
    async (request) => {
      if (!config.usesStripeStandin)
        throw new ApiError(404, 'not_found', 'no local Stripe stand-in is configured (STRIPE_SECRET_KEY is set)');
      const { accountId } = request.params;
      const owned = await db.query.creatorProfiles.findFirst({
        where: and(eq(creatorProfiles.stripeAccountId, accountId), eq(creatorProfiles.userId, caller(request).userId)),
      });
      if (!owned) throw notFound('account');
      const res = await fetch(`http://127.0.0.1:${config.STRIPE_STANDIN_PORT}/_standin/accounts/${accountId}/complete`, {
        method: 'POST',
        signal: AbortSignal.timeout(5_000),
      }).catch(() => null);
      if (!res?.ok) throw dependencyDown('Stripe stand-in');
      await syncStripeAccountWithin({ db, stripe }, { userId: owned.userId, accountId }, 2_000).catch((err: unknown) =>
        request.log.warn({ err, accountId }, 'stripe account re-read left to the workflow'),
      );
      return { completed: true as const };
    },
  );
};
