// The one place a Stripe client is built. Outside production without a secret key,
// the client talks to the local stand-in (standins/stripe/) over plain HTTP; the
// SDK code paths (form encoding, Idempotency-Key, typed errors) are the real ones.
import Stripe from 'stripe';
import type { Config } from '../lib/config.js';

/** Any sk_test_ key works with the stand-in; it only checks the shape. */
export const STRIPE_STANDIN_API_KEY = 'sk_test_ofm_standin_0000000000000000';

export type StripeClientConfig = Pick<Config, 'STRIPE_SECRET_KEY' | 'STRIPE_STANDIN_PORT' | 'usesStripeStandin'>;

export function createStripeClient(config: StripeClientConfig): Stripe {
  const common = {
    // Pinned to the version this SDK's types describe, so responses match the types.
    apiVersion: Stripe.API_VERSION,
    // Retries reuse the Idempotency-Key the SDK puts on every POST, so they never duplicate.
    maxNetworkRetries: 2,
    timeout: 20_000,
    typescript: true as const,
    appInfo: { name: 'ofm-social-os' },
  };
  if (config.usesStripeStandin) {
    return new Stripe(STRIPE_STANDIN_API_KEY, {
      ...common,
      host: '127.0.0.1',
      port: config.STRIPE_STANDIN_PORT,
      protocol: 'http',
    });
  }
  if (!config.STRIPE_SECRET_KEY) throw new Error('STRIPE_SECRET_KEY is required when the Stripe stand-in is not used');
  return new Stripe(config.STRIPE_SECRET_KEY, common);
}
