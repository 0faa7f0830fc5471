// Balances as Stripe keeps them: per account (the platform's own, and each connected account's) and per
// currency, `available` and `pending` in the currency's minor unit. GET /v1/balance answers the
// platform's, or with Stripe-Account the connected account's. In dev the platform is funded through
// the control endpoint (in place of charges), which sends balance.available like Stripe.
import type Stripe from 'stripe';
import type { Logger } from '../../lib/logger.js';
import { rejectUnknown, StripeApiError, type ApiContext, type ApiRoute } from './protocol.js';
import { PLATFORM, type Funds, type State, type Store } from './state.js';
import type { Webhooks } from './webhooks.js';

/** The platform's own account is a US one. */
const PLATFORM_CURRENCY = 'usd';
/** Stripe caps a single amount at eight digits; funding is capped likewise so sums stay exact. */
export const MAX_AMOUNT = 99_999_999;

export function fundsOf(state: State, owner: string, currency: string): Funds {
  // Own properties only: an id like `constructor` must not reach Object.prototype.
  if (!Object.hasOwn(state.balances, owner)) state.balances[owner] = {};
  const byCurrency = state.balances[owner]!;
  if (!Object.hasOwn(byCurrency, currency)) byCurrency[currency] = { available: 0, pending: 0 };
  return byCurrency[currency]!;
}

/** Stripe's error for a transfer (or reversal) the paying balance cannot cover; saved under the Idempotency-Key. */
export function balanceInsufficient(message?: string): StripeApiError {
  const error = new StripeApiError(
    400,
    'invalid_request_error',
    message ??
      'You have insufficient available funds in your Stripe account. Try adding funds directly to your available balance ' +
        'by creating Charges using the 4000000000000077 test card. See: https://stripe.com/docs/testing#available-balance',
    'balance_insufficient',
  );
  error.executed = true;
  return error;
}

/** The balance object of `owner`; an account that never held money shows zero in its default currency. */
export function renderBalance(state: State, owner: string): Stripe.Balance {
  const defaultCurrency =
    owner === PLATFORM
      ? PLATFORM_CURRENCY
      : ((Object.hasOwn(state.accounts, owner) ? state.accounts[owner]!.account.default_currency : undefined) ?? PLATFORM_CURRENCY);
  const held = Object.hasOwn(state.balances, owner) ? Object.entries(state.balances[owner]!) : [];
  const entries: [string, Funds][] = held.length > 0 ? held : [[defaultCurrency, { available: 0, pending: 0 }]];
  return {
    object: 'balance',
    available: entries.map(([currency, funds]) => ({ amount: funds.available, currency, source_types: { card: funds.available } })),
    // Only a platform holds reserves for its connected accounts' negative balances.
    ...(owner === PLATFORM ? { connect_reserved: entries.map(([currency]) => ({ amount: 0, currency })) } : {}),
    livemode: false,
    pending: entries.map(([currency, funds]) => ({ amount: funds.pending, currency, source_types: { card: funds.pending } })),
  };
}

export function createBalances({ store, webhooks, logger }: { store: Store; webhooks: Webhooks; logger?: Logger }) {
  const { state, persist } = store;

  function retrieveBalance({ params, stripeAccount }: ApiContext) {
    rejectUnknown(params, ['expand']);
    return renderBalance(state, stripeAccount ?? PLATFORM);
  }

  /** Adds available funds to the platform's balance (what settled charges do in Stripe) and sends balance.available. */
  async function fund(amount: number, currency = PLATFORM_CURRENCY) {
    if (!Number.isSafeInteger(amount) || amount < 1 || amount > MAX_AMOUNT)
      throw new Error(`amount must be an integer from 1 to ${MAX_AMOUNT} (minor units)`);
    const code = currency.toLowerCase();
    if (!/^[a-z]{3}$/.test(code)) throw new Error(`currency must be a three-letter code, not '${currency}'`);
    const funds = fundsOf(state, PLATFORM, code);
    if (funds.available + amount > Number.MAX_SAFE_INTEGER) throw new Error('the balance would exceed what the stand-in can count exactly');
    funds.available += amount;
    const balance = renderBalance(state, PLATFORM);
    const entry = webhooks.recordEvent('balance.available', null, balance);
    await persist();
    webhooks.scheduleDelivery(entry, 0);
    logger?.info({ amount, currency: code, available: funds.available }, 'Stripe stand-in funded the platform balance');
    return balance;
  }

  const routes: ApiRoute[] = [['GET', /^\/v1\/balance$/, retrieveBalance]];
  return { routes, fund };
}

export type Balances = ReturnType<typeof createBalances>;
