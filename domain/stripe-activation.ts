// Activation as the SPEC defines it. Pure (no I/O, no Node modules): the onboarding workflow's
// bundle imports it, and so does the status read, which applies it to the committed Stripe facts.

/** A fresh read of a Stripe Connect account: what activation is decided on. */
export interface StripeAccountState {
  detailsSubmitted: boolean;
  chargesEnabled: boolean;
  payoutsEnabled: boolean;
  currentlyDue: string[];
  eventuallyDue: string[];
  disabledReason: string | null;
  deauthorized: boolean;
}

export function isActivatable(s: StripeAccountState): boolean {
  return s.detailsSubmitted && s.chargesEnabled && s.payoutsEnabled && s.currentlyDue.length === 0 && !s.disabledReason && !s.deauthorized;
}
