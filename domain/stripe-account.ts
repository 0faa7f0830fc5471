// Re-reads a creator's Stripe account and records what it says in creator_profiles. Used by the
// onboarding workflow's activity (which then decides on activation) and by the routes that learn of
// a change (the Stripe webhook, the dev KYC route), so the facts are committed before they answer.
// Webhooks can be late, duplicated or out of order: only a fresh read is trusted.
import { and, eq, sql } from 'drizzle-orm';
import Stripe from 'stripe';
import type { Db } from '../db/client.js';
import { creatorProfiles, stripeEvents } from '../db/schema.js';
import type { StripeAccountState } from './stripe-activation.js';

export async function syncStripeAccount(
  { db, stripe }: { db: Db; stripe: Stripe },
  input: { userId: string; accountId: string },
  options: { timeoutMs?: number } = {},
): Promise<StripeAccountState> {
  const [deauthorization] = await db
    .select({ id: stripeEvents.id })
    .from(stripeEvents)
    .where(and(eq(stripeEvents.accountId, input.accountId), eq(stripeEvents.type, 'account.application.deauthorized')))
    .limit(1);
  let state: StripeAccountState;
  try {
    const account = await stripe.accounts.retrieve(
      input.accountId,
      undefined,
      options.timeoutMs ? { timeout: options.timeoutMs, maxNetworkRetries: 0 } : undefined,
    );
    state = {
      detailsSubmitted: account.details_submitted ?? false,
      chargesEnabled: account.charges_enabled ?? false,
      payoutsEnabled: account.payouts_enabled ?? false,
      currentlyDue: account.requirements?.currently_due ?? [],
      eventuallyDue: account.requirements?.eventually_due ?? [],
      disabledReason: account.requirements?.disabled_reason ?? null,
      deauthorized: deauthorization !== undefined,
    };
  } catch (err) {
    // After a deauthorization Stripe refuses to show the account to the platform. Any other
    // permission error (a misconfigured key, say) is thrown, not taken as deauthorization.
    if (!(err instanceof Stripe.errors.StripePermissionError && deauthorization)) throw err;
    state = {
      detailsSubmitted: false,
      chargesEnabled: false,
      payoutsEnabled: false,
      currentlyDue: [],
      eventuallyDue: [],
      disabledReason: 'deauthorized',
      deauthorized: true,
    };
  }
  await db
    .update(creatorProfiles)
    .set({
      detailsSubmitted: state.detailsSubmitted,
      chargesEnabled: state.chargesEnabled,
      payoutsEnabled: state.payoutsEnabled,
      requirements: { currentlyDue: state.currentlyDue, eventuallyDue: state.eventuallyDue, disabledReason: state.disabledReason },
      deauthorizedAt: state.deauthorized ? sql`coalesce(${creatorProfiles.deauthorizedAt}, now())` : null,
      stripeSyncedAt: sql`now()`,
      updatedAt: sql`now()`,
    })
    .where(eq(creatorProfiles.userId, input.userId));
  return state;
}

/**
 * The same re-read under a deadline, for a route that wants the facts committed before it answers
 * but must not wait on Stripe for long. Rejects on timeout (the write may still land afterwards,
 * which is as harmless as any other re-read).
 */
export async function syncStripeAccountWithin(
  deps: { db: Db; stripe: Stripe },
  input: { userId: string; accountId: string },
  deadlineMs: number,
): Promise<StripeAccountState> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Stripe account re-read exceeded ${deadlineMs} ms`)), deadlineMs);
  });
  try {
    return await Promise.race([syncStripeAccount(deps, input, { timeoutMs: deadlineMs }), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
