// What GET /onboarding/status shows. The onboarding workflow projects its state to
// onboarding_status, but asynchronously: after POST /auth/verify-email or /auth/accept-terms has
// committed its fact and answered, the workflow still has to receive the signal, run and project.
// A read in between would show the old step. So the read overlays the facts committed in Postgres
// (users.email_verified_at, terms_accepted_at, the creator profile's activation) on the projection:
// whichever is further wins. Activation also shows as soon as the Stripe facts the webhook route
// committed (domain/stripe-account.ts) satisfy the workflow's own rule (domain/stripe-activation.ts). The projection alone is never rewritten by the API: its version guard
// (activities/onboarding.ts projectOnboarding) stays the workflow's, and the workflow, which
// reaches the same step from the same facts, catches up with what was shown.
import type { OnboardingStepRecord, StripeRequirements } from '../db/schema.js';
import { isActivatable } from './stripe-activation.js';

/** The steps in order; the workflow's own list (workflows/onboarding.ts) is the same. */
export const ONBOARDING_STEPS = ['verify_email', 'accept_terms', 'stripe_connect', 'activated'] as const;

export interface OnboardingView {
  step: string;
  completed: boolean;
  steps: OnboardingStepRecord[];
}

export interface OnboardingFacts {
  emailVerifiedAt: Date | null;
  termsAcceptedAt: Date | null;
  /** The creator profile left `onboarding` (active, or restricted after activation). */
  activated: boolean;
  activatedAt: Date | null;
}

/** The committed creator profile: its status and the Stripe account as last read. */
export interface CreatorProfileFacts {
  status: 'onboarding' | 'active' | 'restricted';
  activatedAt: Date | null;
  detailsSubmitted: boolean;
  chargesEnabled: boolean;
  payoutsEnabled: boolean;
  requirements: StripeRequirements;
  deauthorizedAt: Date | null;
  stripeSyncedAt: Date | null;
}

/**
 * Whether the creator is activated as far as committed facts prove: the workflow activated them,
 * or the terms are accepted and the last read of the Stripe account passes the activation rule
 * (the workflow, re-reading the same account, will activate them too).
 */
export function activationFacts(
  profile: CreatorProfileFacts | null,
  termsAcceptedAt: Date | null,
): Pick<OnboardingFacts, 'activated' | 'activatedAt'> {
  if (!profile) return { activated: false, activatedAt: null };
  if (profile.status === 'active' || profile.status === 'restricted') return { activated: true, activatedAt: profile.activatedAt };
  const stripeReady =
    profile.stripeSyncedAt !== null &&
    isActivatable({
      detailsSubmitted: profile.detailsSubmitted,
      chargesEnabled: profile.chargesEnabled,
      payoutsEnabled: profile.payoutsEnabled,
      currentlyDue: profile.requirements.currentlyDue,
      eventuallyDue: profile.requirements.eventuallyDue,
      disabledReason: profile.requirements.disabledReason,
      deauthorized: profile.deauthorizedAt !== null,
    });
  return termsAcceptedAt && stripeReady
    ? { activated: true, activatedAt: profile.stripeSyncedAt }
    : { activated: false, activatedAt: null };
}

/** The projection, moved forward to the step the committed facts prove (null: no projection yet). */
export function onboardingView(projection: OnboardingView | null, facts: OnboardingFacts): OnboardingView {
  // Terms can only be accepted with a verified email (POST /auth/accept-terms), activation only after both.
  const reached = facts.activated ? 3 : facts.emailVerifiedAt ? (facts.termsAcceptedAt ? 2 : 1) : 0;
  if (projection && ONBOARDING_STEPS.indexOf(projection.step as (typeof ONBOARDING_STEPS)[number]) >= reached) return projection;
  // When each step was left, as the workflow records it.
  const leftAt: Record<string, Date | null> = {
    verify_email: facts.emailVerifiedAt,
    accept_terms: facts.termsAcceptedAt,
    stripe_connect: facts.activatedAt,
    activated: facts.activatedAt,
  };
  const projected = new Map(projection?.steps.map((s) => [s.name, s]));
  const steps = ONBOARDING_STEPS.map((name, i): OnboardingStepRecord => {
    if (i < reached || (i === reached && name === 'activated')) {
      const known = projected.get(name);
      return { name, status: 'done', at: known?.status === 'done' ? known.at : (leftAt[name]?.toISOString() ?? null) };
    }
    return { name, status: i === reached ? 'current' : 'pending', at: null };
  });
  const step = ONBOARDING_STEPS[reached]!;
  return { step, completed: step === 'activated', steps };
}
