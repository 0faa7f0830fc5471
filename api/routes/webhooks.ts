// POST /webhooks/stripe: signature checked on the raw body, each event stored once by id, and
// account events routed to the creator's onboarding workflow as a signal. The workflow re-reads
// the account before deciding, so late, duplicated or out-of-order events are harmless.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { WorkflowNotFoundError } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import type Stripe from 'stripe';
import { Type } from 'typebox';
import { creatorProfiles, stripeEvents } from '../../db/schema.js';
import type { RouteDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { errorResponses } from '../schemas.js';

/** jsonb cannot hold U+0000, which text a person typed into Stripe's forms may contain. */
const withoutNul = (event: Stripe.Event): unknown =>
  // `\u0000` escapes in the JSON text, but not an escaped backslash followed by "u0000".
  JSON.parse(JSON.stringify(event).replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1'));

const ROUTED_EVENTS = new Set(['account.updated', 'capability.updated', 'account.application.deauthorized']);

export const webhookRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, stripe, config, onboarding }) => {
  // This plugin's context only: keep the exact bytes Stripe signed.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.post(
    '/webhooks/stripe',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Stripe events (signed); duplicates are acknowledged and ignored',
        headers: Type.Object({ 'stripe-signature': Type.String({ minLength: 1, maxLength: 2048 }) }),
        response: { 200: Type.Object({ received: Type.Literal(true), duplicate: Type.Boolean() }), ...errorResponses(400, 415, 503) },
      },
    },
    async (request) => {
      let event: Stripe.Event;
      try {
        event = stripe.webhooks.constructEvent(request.body as Buffer, request.headers['stripe-signature'], config.STRIPE_WEBHOOK_SECRET);
      } catch {
        throw new ApiError(400, 'invalid_signature', 'the Stripe-Signature header does not match the payload');
      }
      // Signed but not shaped like an event (only someone holding the secret can send this).
      if (
        typeof event?.id !== 'string' ||
        typeof event.type !== 'string' ||
        typeof event.data?.object !== 'object' ||
        event.data.object === null
      ) {
        throw new ApiError(400, 'invalid_event', 'the payload is not a Stripe event');
      }
      const object = event.data.object as { object?: string; id?: string };
      const accountId = event.account ?? (object.object === 'account' ? (object.id ?? null) : null);
      let duplicate = false;
      // Stored and signalled in one transaction: if the signal fails, the event is not kept and
      // Stripe's retry delivers it again.
      await db.transaction(async (tx) => {
        const [stored] = await tx
          .insert(stripeEvents)
          .values({ id: event.id, type: event.type, accountId, payload: withoutNul(event) })
          .onConflictDoNothing()
          .returning({ id: stripeEvents.id });
        duplicate = !stored;
        if (duplicate || !accountId || !ROUTED_EVENTS.has(event.type)) return;
        const profile = await tx.query.creatorProfiles.findFirst({ where: eq(creatorProfiles.stripeAccountId, accountId) });
        if (!profile) return request.log.warn({ eventId: event.id, accountId }, 'stripe event for an unknown account');
        await onboarding.stripeAccountChanged(profile.userId, { eventId: event.id, type: event.type }).catch((err) => {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          request.log.warn({ eventId: event.id, userId: profile.userId }, 'no onboarding workflow to tell');
        });
      });
      return { received: true as const, duplicate };
    },
  );
};
