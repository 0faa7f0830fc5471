// POST /webhooks/stripe: signature checked on the raw body, each event stored once by id, and
// account events routed to the creator's onboarding workflow as a signal after the commit.
// Transfer events are applied to their payout (paid, reversed) before the event is stored. The
// workflow re-reads the account before deciding, so late, duplicated or out-of-order events are
// harmless, and so is routing one twice. The route re-reads the account too (best effort) before
// answering, so GET /onboarding/status shows what the event changed as soon as it is answered.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type Stripe from 'stripe';
import { Type } from 'typebox';
import { creatorProfiles, stripeEvents } from '../../db/schema.js';
import { applyTransferEvent, type TransferFacts } from '../../domain/payouts.js';
import { syncStripeAccountWithin } from '../../domain/stripe-account.js';
import { onboardingStripeEventTypes } from '../../processes/onboarding.js';
import type { RouteDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { errorResponses } from '../schemas.js';

/** jsonb cannot hold U+0000, which text a person typed into Stripe's forms may contain. */
const withoutNul = (event: Stripe.Event): unknown =>
  // `\u0000` escapes in the JSON text, but not an escaped backslash followed by "u0000".
  JSON.parse(JSON.stringify(event).replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1'));

/** transfer.* events that change a payout (domain/payouts.ts applyTransferEvent). */
const PAYOUT_TRANSFER_EVENTS = ['transfer.created', 'transfer.updated', 'transfer.reversed'];

/** The transfer's facts from a signed event's object, shape-checked (a signed payload may still be odd). */
function transferFacts(object: Record<string, unknown>): TransferFacts {
  const int = (v: unknown) => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : 0);
  return {
    id: typeof object.id === 'string' ? object.id : '',
    amount: int(object.amount),
    amount_reversed: int(object.amount_reversed),
    currency: typeof object.currency === 'string' ? object.currency : '',
    destination: typeof object.destination === 'string' ? object.destination : null,
    transfer_group: typeof object.transfer_group === 'string' ? object.transfer_group : null,
  };
}

/** How long the answer may wait on the account re-read before leaving it to the workflow. */
const ACCOUNT_SYNC_DEADLINE_MS = 2_000;

export const webhookRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, stripe, config, onboarding }) => {
  // This plugin's context only: keep the exact bytes Stripe signed.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.post(
    '/webhooks/stripe',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Stripe events (signed); duplicates are acknowledged, and routed again only if their first routing was lost',
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
      // Money first, then the event stored: a failure answers 5xx, Stripe redelivers, and the
      // application (idempotent) runs again instead of the event being kept as handled.
      // The platform's own transfers only: a connected account's events (`account` set) are not payouts.
      if (PAYOUT_TRANSFER_EVENTS.includes(event.type) && !event.account) {
        const outcome = await applyTransferEvent(db, transferFacts(object));
        if (outcome === 'mismatch')
          request.log.warn({ eventId: event.id, transferId: object.id }, 'transfer event does not match its payout');
      }
      const accountId = event.account ?? (object.object === 'account' ? (object.id ?? null) : null);
      const routable = accountId !== null && onboardingStripeEventTypes.includes(event.type);
      const [stored] = await db
        .insert(stripeEvents)
        .values({ id: event.id, type: event.type, accountId, payload: withoutNul(event), routedAt: routable ? null : sql`now()` })
        .onConflictDoNothing()
        .returning({ id: stripeEvents.id });
      const duplicate = !stored;
      // A redelivery of an event whose routing never happened (the signal failed, or this process
      // died after the commit) is routed now instead of being dropped as a duplicate.
      const unrouted = duplicate
        ? await db.query.stripeEvents.findFirst({ where: and(eq(stripeEvents.id, event.id), isNull(stripeEvents.routedAt)) })
        : routable;
      if (!unrouted) return { received: true as const, duplicate };

      const markRouted = () =>
        db
          .update(stripeEvents)
          .set({ routedAt: sql`now()` })
          .where(and(eq(stripeEvents.id, event.id), isNull(stripeEvents.routedAt)));
      const profile = await db.query.creatorProfiles.findFirst({ where: eq(creatorProfiles.stripeAccountId, accountId!) });
      if (!profile) {
        // Nobody to tell: an account created before its id was stored is read by its workflow anyway.
        request.log.warn({ eventId: event.id, accountId }, 'stripe event for an unknown account');
        await markRouted();
        return { received: true as const, duplicate };
      }
      // Read-your-writes: commit the account's facts before answering. A failure or a slow Stripe
      // changes nothing else: the workflow re-reads the account when the signal reaches it.
      await syncStripeAccountWithin({ db, stripe }, { userId: profile.userId, accountId: accountId! }, ACCOUNT_SYNC_DEADLINE_MS).catch(
        (err: unknown) =>
          request.log.warn({ err, eventId: event.id, userId: profile.userId }, 'stripe account re-read left to the workflow'),
      );
      // The event is stored: if the signal fails (Temporal down or slow past the deadline), the
      // answer is still 200 and the onboarding sweep routes it. A 503 would make Stripe redeliver
      // with backoff, which routes no sooner than the sweep during an outage, and Stripe disables
      // an endpoint that keeps failing.
      try {
        await onboarding.stripeAccountChanged(profile.userId, { eventId: event.id, type: event.type });
        await markRouted();
      } catch (err) {
        request.log.warn({ err, eventId: event.id, userId: profile.userId }, 'stripe event stored; routing left to the sweep');
      }
      return { received: true as const, duplicate };
    },
  );
};
