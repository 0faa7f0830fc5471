// Local stand-in for Stripe Connect (Express accounts), for dev and tests. It speaks
// Stripe's v1 wire protocol as the official `stripe` SDK sends it (Bearer auth,
// form-encoded bodies with bracketed keys, Idempotency-Key, Stripe-Account) and
// answers errors in Stripe's JSON shape so the SDK raises its typed errors.
// It also plays Stripe's hosted onboarding page (/connect/onboarding/<link>), keeps
// balances for the platform and each connected account, moves money with transfers and
// reversals, and sends signed webhooks (account.updated, capability.updated,
// account.application.deauthorized, transfer.created, transfer.reversed, balance.available).
// State is a JSON snapshot so restarts keep it. Dev/test control endpoints live under
// /_standin/ (no auth), among them funding the platform and the money faults.
// One module per concern: protocol (errors, forms, keys, lists), state, accounts, transitions,
// webhooks, balances, transfers, api, pages (hosted onboarding and dashboard), control; this
// file is the HTTP server.
import { createServer } from 'node:http';
import type Stripe from 'stripe';
import type { Logger } from '../../lib/logger.js';
import { listen, sendJson } from '../http.js';
import { createApi } from './api.js';
import { createControl } from './control.js';
import { createPages } from './pages.js';
import { StripeApiError } from './protocol.js';
import { forgetIdempotencyKeys, openStore, randomId } from './state.js';
import { createTransitions } from './transitions.js';
import { API_VERSION, createWebhooks, DEFAULT_RETRY_DELAYS_MS } from './webhooks.js';

export type { EventDelivery, StandinEvent } from './state.js';

export interface StripeStandinOptions {
  /** 0 picks a free port; the returned url has the actual one. */
  port: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** JSON snapshot of all state, rewritten (atomically) after every change and reloaded on start. */
  stateFile?: string;
  /** Where webhook events are POSTed; without it events are only recorded. */
  webhookUrl?: string;
  /** Signs webhooks exactly as Stripe does (Stripe-Signature: t=…,v1=HMAC-SHA256). */
  webhookSecret: string;
  /** Base of the onboarding/dashboard URLs handed out; defaults to the stand-in's own url. */
  publicUrl?: string;
  /** Waits between webhook delivery attempts; one more attempt than entries. */
  webhookRetryDelaysMs?: number[];
  logger?: Logger;
}

export interface StripeStandin {
  url: string;
  close(): Promise<void>;
  /** Finishes KYC: all three flags true, nothing due, capabilities active; sends account.updated. */
  complete(accountId: string): Promise<void>;
  /** Disables charges and payouts with requirements.disabled_reason = reason; sends account.updated. */
  restrict(accountId: string, reason: string): Promise<void>;
  /** The account revokes the platform's access; sends account.application.deauthorized. */
  deauthorize(accountId: string): Promise<void>;
  /** Adds available funds (minor units) to the platform's balance; sends balance.available. */
  fund(amount: number, currency?: string): Promise<Stripe.Balance>;
  /** The next `count` transfers fail with balance_insufficient whatever the balance (0 clears it). */
  failNextTransfers(count: number): Promise<void>;
  /** Webhooks running late: deliveries wait while held, and go out when released. */
  holdWebhooks(hold: boolean): void;
  /** The next `count` transfers are made but never answered: the caller dies or times out not knowing. */
  hangNextTransfers(count: number): Promise<void>;
  /** Forgets saved idempotent answers (all, or one key's), as Stripe does after 24 hours; returns how many. */
  forgetIdempotencyKeys(key?: string): Promise<number>;
}

export async function startStripeStandin(opts: StripeStandinOptions): Promise<StripeStandin> {
  const { logger } = opts;
  const host = opts.host ?? '127.0.0.1';
  const store = await openStore(opts.stateFile, logger);
  const webhooks = createWebhooks({
    store,
    webhookUrl: opts.webhookUrl,
    webhookSecret: opts.webhookSecret,
    retryDelays: opts.webhookRetryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
    logger,
  });
  const transitions = createTransitions({ store, webhooks, logger });
  const { complete, restrict, deauthorize } = transitions;
  let publicUrl = '';
  const { handleApi, fund, failNextTransfers, hangNextTransfers } = createApi({ store, webhooks, logger, publicUrl: () => publicUrl });
  const { onboardingPage, dashboardPage } = createPages({ store, transitions });
  const control = createControl({ store, transitions, money: { fund, failNextTransfers, hangNextTransfers } });

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const requestId = randomId('req_', 14);
    res.setHeader('request-id', requestId);
    res.setHeader('stripe-version', (req.headers['stripe-version'] as string | undefined) ?? API_VERSION);
    const handle = async () => {
      if (url.pathname.startsWith('/_standin/')) return control(req, res, url);
      const link = /^\/connect\/onboarding\/([A-Za-z0-9]+)$/.exec(url.pathname);
      if (link && (req.method === 'GET' || req.method === 'POST')) return onboardingPage(req, res, link[1]!);
      const dashboard = /^\/express\/([^/]+)\/[A-Za-z0-9]+$/.exec(url.pathname);
      if (dashboard && req.method === 'GET') return dashboardPage(res, decodeURIComponent(dashboard[1]!));
      return handleApi(req, res, url, requestId);
    };
    handle().catch((err: unknown) => {
      const error =
        err instanceof StripeApiError ? err : new StripeApiError(500, 'api_error', 'An unknown error occurred in the Stripe stand-in.');
      if (error.status >= 500) logger?.error({ err }, 'Stripe stand-in failed');
      else logger?.warn({ path: url.pathname, type: error.type, message: error.message }, 'Stripe stand-in rejected request');
      if (res.headersSent) return res.destroy();
      sendJson(res, error.status, error);
    });
  });

  const url = await listen(server, opts.port, host);
  publicUrl = (opts.publicUrl ?? url).replace(/\/+$/, '');
  webhooks.resumePending();

  return {
    url,
    complete,
    restrict,
    deauthorize,
    fund,
    async failNextTransfers(count) {
      failNextTransfers(count);
      await store.persist();
    },
    holdWebhooks: (hold) => webhooks.holdDeliveries(hold),
    async hangNextTransfers(count) {
      hangNextTransfers(count);
      await store.persist();
    },
    async forgetIdempotencyKeys(key) {
      const forgotten = forgetIdempotencyKeys(store.state, key);
      await store.persist();
      return forgotten;
    },
    async close() {
      await webhooks.close();
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // The SDK keeps connections alive, and a withheld answer (the hang fault) never ends: drop them.
        server.closeAllConnections();
      });
      await store.flush();
    },
  };
}
