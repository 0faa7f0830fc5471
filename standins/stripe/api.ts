// The Stripe API (v1) routes the platform uses: accounts, account links and login links here, balances
// (balances.ts) and transfers (transfers.ts), with Stripe-Account scoping and Idempotency-Key replays.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../lib/logger.js';
import { readBody, sendJson } from '../http.js';
import { buildAccount } from './accounts.js';
import { createBalances } from './balances.js';
import {
  authenticate,
  canonical,
  invalidRequest,
  missingParam,
  noAccess,
  optionalString,
  parseForm,
  rejectUnknown,
  StripeApiError,
  validUrl,
  type ApiContext,
  type ApiRoute,
} from './protocol.js';
import { IDEMPOTENCY_TTL_MS, now, randomId, type StoredAccount, type StoredLink, type Store } from './state.js';
import { createTransfers } from './transfers.js';
import type { Webhooks } from './webhooks.js';

export const MAX_BODY_BYTES = 1024 * 1024;
const LINK_TTL_SECONDS = 300; // Stripe's account links expire after five minutes
/** How long a withheld answer keeps its socket open before dropping it (callers time out sooner). */
const WITHHELD_ANSWER_MS = 60_000;

/** `publicUrl` is read per request: the server knows its own url only once it listens. */
export function createApi({
  store,
  webhooks,
  logger,
  publicUrl: base,
}: {
  store: Store;
  webhooks: Webhooks;
  logger?: Logger;
  publicUrl: () => string;
}) {
  const { state, persist } = store;
  const balances = createBalances({ store, webhooks, logger });
  const transfers = createTransfers({ store, webhooks, logger });

  function accessibleAccount(id: string, apiKey: string): StoredAccount {
    const stored = Object.hasOwn(state.accounts, id) ? state.accounts[id] : undefined;
    if (!stored || stored.deauthorized) throw noAccess(apiKey, id);
    return stored;
  }

  function retrieveAccount({ match, apiKey, stripeAccount }: ApiContext) {
    const id = decodeURIComponent(match[1]!);
    // Under Stripe-Account the request acts as that connected account, which sees only itself.
    if (stripeAccount && stripeAccount !== id)
      throw new StripeApiError(
        403,
        'invalid_request_error',
        `The account '${stripeAccount}' (Stripe-Account header) does not have access to account '${id}'.`,
        'account_invalid',
      );
    return accessibleAccount(id, apiKey).account;
  }

  function retrieveCurrentAccount({ stripeAccount }: ApiContext) {
    if (stripeAccount) return state.accounts[stripeAccount]!.account; // checked in handleApi
    // The platform's own account.
    return {
      id: 'acct_standinplatform0',
      object: 'account',
      type: 'standard',
      country: 'US',
      email: null,
      details_submitted: true,
      charges_enabled: true,
      payouts_enabled: true,
    };
  }

  function createAccount({ params }: ApiContext) {
    const account = buildAccount(params);
    state.accounts[account.id] = { account, deauthorized: false };
    state.accountCreations += 1;
    logger?.info({ accountId: account.id, email: account.email }, 'Stripe stand-in created Express account');
    return account;
  }

  function createAccountLink({ params, apiKey }: ApiContext) {
    rejectUnknown(params, ['account', 'collect', 'collection_options', 'expand', 'refresh_url', 'return_url', 'type']);
    const accountId = optionalString(params, 'account');
    if (!accountId) throw missingParam('account');
    const type = optionalString(params, 'type');
    if (!type) throw missingParam('type');
    if (type !== 'account_onboarding' && type !== 'account_update')
      throw invalidRequest('Invalid type: must be one of account_onboarding or account_update', 'type');
    const refreshUrl = validUrl(params, 'refresh_url');
    const returnUrl = validUrl(params, 'return_url');
    const { account } = accessibleAccount(accountId, apiKey);
    if (type === 'account_update' && account.type === 'express')
      throw invalidRequest('Account Links of type account_update are not supported for Express accounts.', 'type');
    const link: StoredLink = {
      id: randomId('', 24),
      account: accountId,
      type,
      returnUrl,
      refreshUrl,
      created: now(),
      expiresAt: now() + LINK_TTL_SECONDS,
      visited: false,
      submitted: false,
    };
    state.links[link.id] = link;
    return {
      object: 'account_link',
      created: link.created,
      expires_at: link.expiresAt,
      url: `${base()}/connect/onboarding/${link.id}`,
    };
  }

  function createLoginLink({ params, match, apiKey }: ApiContext) {
    rejectUnknown(params, ['expand']);
    const { account } = accessibleAccount(decodeURIComponent(match[1]!), apiKey);
    // Stripe only opens the Express dashboard once onboarding has been completed.
    if (!account.details_submitted)
      throw invalidRequest('Cannot create a login link for an account that has not completed onboarding.', 'account');
    return {
      object: 'login_link',
      created: now(),
      url: `${base()}/express/${account.id}/${randomId('', 24)}`,
    };
  }

  const apiRoutes: ApiRoute[] = [
    ['POST', /^\/v1\/accounts$/, createAccount],
    ['GET', /^\/v1\/accounts\/([^/]+)$/, retrieveAccount],
    ['GET', /^\/v1\/account$/, retrieveCurrentAccount],
    ['POST', /^\/v1\/account_links$/, createAccountLink],
    ['POST', /^\/v1\/accounts\/([^/]+)\/login_links$/, createLoginLink],
    ...balances.routes,
    ...transfers.routes,
  ];

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL, requestId: string) {
    const method = req.method ?? 'GET';
    const apiKey = authenticate(req);
    const route = apiRoutes
      .map(([m, pattern, handler]) => ({ m, match: pattern.exec(url.pathname), handler }))
      .find((r) => r.m === method && r.match);
    if (!route)
      throw new StripeApiError(
        404,
        'invalid_request_error',
        `Unrecognized request URL (${method}: ${url.pathname}). ` +
          'Please see https://stripe.com/docs or we can help at https://support.stripe.com/.',
      );
    const stripeAccount = req.headers['stripe-account'] as string | undefined;
    if (stripeAccount) accessibleAccount(stripeAccount, apiKey);

    const raw = await readBody(req, MAX_BODY_BYTES, invalidRequest);
    const contentType = req.headers['content-type'] ?? '';
    if (raw !== '' && !contentType.startsWith('application/x-www-form-urlencoded'))
      throw invalidRequest(
        `Invalid request: unsupported Content-Type ${contentType}. ` +
          'If error persists and you need assistance, please contact support@stripe.com.',
      );
    const params = parseForm(method === 'GET' ? url.search.slice(1) : raw);
    const headers: Record<string, string> = {};
    if (stripeAccount) headers['stripe-account'] = stripeAccount;

    // Keys are scoped per account context, like Stripe's.
    const idempotencyKey = method === 'POST' ? (req.headers['idempotency-key'] as string | undefined) : undefined;
    const scope = `${stripeAccount ?? 'platform'} ${idempotencyKey}`;
    const fingerprint = canonical(params);
    if (idempotencyKey) {
      headers['idempotency-key'] = idempotencyKey;
      if (idempotencyKey.length > 255) throw invalidRequest('Idempotency-Key must be at most 255 characters long.');
      const prior = state.idempotency[scope];
      // Stripe prunes keys after 24 hours: a key used again after that makes a new request.
      if (prior && prior.createdAt >= Date.now() - IDEMPOTENCY_TTL_MS) {
        if (prior.method !== method || prior.path !== url.pathname || prior.fingerprint !== fingerprint)
          throw new StripeApiError(
            400,
            'idempotency_error',
            'Keys for idempotent requests can only be used with the same parameters they were first used with. ' +
              `Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          );
        logger?.debug({ idempotencyKey, path: url.pathname }, 'Stripe stand-in replayed idempotent request');
        return sendJson(res, prior.status ?? 200, prior.body, {
          ...headers,
          'idempotent-replayed': 'true',
          'original-request': prior.requestId,
        });
      }
    }

    // Handlers validate before mutating, and run synchronously: no other request interleaves.
    const ctx: ApiContext = { params, apiKey, stripeAccount, match: route.match!, requestId, idempotencyKey, deliver: [] };
    let status = 200;
    let body: unknown;
    try {
      body = route.handler(ctx);
    } catch (err) {
      // As with Stripe, validation errors are not remembered, but an error raised once the request
      // started executing (balance_insufficient) is its answer, saved and replayed like a success.
      if (!(err instanceof StripeApiError) || !err.executed) throw err;
      logger?.warn({ path: url.pathname, code: err.code, message: err.message }, 'Stripe stand-in request failed while executing');
      status = err.status;
      body = err.toJSON();
    }
    if (idempotencyKey)
      state.idempotency[scope] = { method, path: url.pathname, fingerprint, status, body, requestId, createdAt: Date.now() };
    // The hang fault: the transfer is made, but its caller never hears so (until the socket is dropped).
    const withheld = route.handler === transfers.createTransfer && status === 200 && transfers.withholdAnswer();
    if (method === 'POST') await persist();
    for (const entry of ctx.deliver) webhooks.scheduleDelivery(entry, 0);
    if (withheld) {
      logger?.info({ path: url.pathname }, 'Stripe stand-in withholds the answer to a transfer it made, on purpose');
      setTimeout(() => res.destroy(), WITHHELD_ANSWER_MS).unref();
      return;
    }
    sendJson(res, status, body, headers);
  }

  return {
    handleApi,
    fund: balances.fund,
    failNextTransfers: transfers.failNextTransfers,
    hangNextTransfers: transfers.hangNextTransfers,
  };
}
