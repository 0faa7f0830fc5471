// Local stand-in for a fan platform (an OnlyFans-like "sandbox"), for dev and tests. Creators'
// accounts are registered with PUT /v1/accounts/:id (Bearer API key); messages are sent with
// POST /v1/accounts/:id/messages under an Idempotency-Key, with the platform's failure modes
// played for real: a per-account sliding-window rate limit (429 + Retry-After), fans who blocked
// the creator (403) and outages (503 + Retry-After). Fans answer back through signed webhooks
// (message.received, purchase.created, subscription.created), retried until a 2xx. Dev/test
// control endpoints live under /_sandbox/ (no auth). State is in memory only.
// One module per concern: protocol (errors, validation), accounts (state, auth), webhooks
// (background deliveries and fans), api, control; this file is the HTTP router and server.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listen, sendJson } from '../http.js';
import { createAccountAccess, type Account } from './accounts.js';
import { createApi } from './api.js';
import { createControl } from './control.js';
import { decodeSegment, PlatformError } from './protocol.js';
import { createBackground, DEFAULT_RETRY_DELAYS_MS } from './webhooks.js';
import type { Logger } from '../../lib/logger.js';
import type { RateLimit } from './types.js';

export type { Delivery, PlatformEvent, PlatformEventType, RateLimit } from './types.js';

export interface PlatformSandboxOptions {
  /** 0 picks a free port; the returned url has the actual one. */
  port: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  logger?: Logger;
  /** An account's limit until its PUT sets one; defaults to 10 messages per 60 seconds. */
  defaultRateLimit?: RateLimit;
  /** Chance that a fan replies (message.received) 1–5 s after a delivery; defaults to 0. */
  replyProbability?: number;
  /** Chance that a fan buys a priced (PPV) message (purchase.created) 1–5 s after delivery; defaults to 0. */
  purchaseProbability?: number;
  /** Waits before each webhook retry; one more attempt than entries. Defaults to [1000, 5000, 30000]. */
  webhookRetryDelaysMs?: number[];
}

export interface PlatformSandbox {
  url: string;
  close(): Promise<void>;
}

const DEFAULT_RATE_LIMIT: RateLimit = { messages: 10, perSeconds: 60 };

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[]) => Promise<void> | void;

export async function startPlatformSandbox(opts: PlatformSandboxOptions): Promise<PlatformSandbox> {
  const { logger } = opts;
  const host = opts.host ?? '127.0.0.1';
  const defaultRateLimit = opts.defaultRateLimit ?? DEFAULT_RATE_LIMIT;
  const accounts = new Map<string, Account>();
  const background = createBackground({
    logger,
    retryDelays: opts.webhookRetryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
    replyProbability: opts.replyProbability ?? 0,
    purchaseProbability: opts.purchaseProbability ?? 0,
  });
  const access = createAccountAccess(accounts);
  const { putAccount, sendMessage } = createApi({ accounts, access, background, defaultRateLimit, logger });
  const { injectEvent, block, unblock, outage, deliveries } = createControl({ access, background });

  const routes: [RegExp, Record<string, Handler>][] = [
    [/^\/health$/, { GET: (_req, res) => sendJson(res, 200, { status: 'ok' }) }],
    [/^\/v1\/accounts\/([^/]+)$/, { PUT: putAccount }],
    [/^\/v1\/accounts\/([^/]+)\/messages$/, { POST: sendMessage }],
    [/^\/_sandbox\/accounts\/([^/]+)\/events$/, { POST: injectEvent }],
    [/^\/_sandbox\/accounts\/([^/]+)\/blocks$/, { POST: block }],
    [/^\/_sandbox\/accounts\/([^/]+)\/blocks\/([^/]+)$/, { DELETE: unblock }],
    [/^\/_sandbox\/accounts\/([^/]+)\/outage$/, { POST: outage }],
    [/^\/_sandbox\/accounts\/([^/]+)\/deliveries$/, { GET: deliveries }],
  ];

  function route(req: IncomingMessage, res: ServerResponse) {
    // The raw path, not new URL(): a malformed request target must not throw outside the handler.
    const path = (req.url ?? '/').split('?', 1)[0]!;
    for (const [pattern, methods] of routes) {
      const match = pattern.exec(path);
      if (!match) continue;
      const handler = methods[req.method ?? ''];
      if (!handler)
        throw new PlatformError(405, 'method_not_allowed', `${req.method} is not allowed on ${path}`, {
          allow: Object.keys(methods).join(', '),
        });
      return handler(req, res, match.slice(1).map(decodeSegment));
    }
    throw new PlatformError(404, 'not_found', `No route for ${req.method} ${path}`);
  }

  const server = createServer((req, res) => {
    Promise.resolve()
      .then(() => route(req, res))
      .catch((err: unknown) => {
        const error = err instanceof PlatformError ? err : new PlatformError(500, 'internal_error', 'The platform sandbox failed');
        if (!(err instanceof PlatformError)) logger?.error({ err }, 'platform sandbox failed');
        else logger?.debug({ url: req.url, code: error.code, message: error.message }, 'platform sandbox rejected request');
        if (res.headersSent) return res.destroy();
        sendJson(res, error.status, { error: { code: error.code, message: error.message } }, error.headers);
      });
  });

  const url = await listen(server, opts.port, host);

  return {
    url,
    async close() {
      await background.close();
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Clients keep connections alive; drop the idle ones so close() doesn't wait on them.
        server.closeIdleConnections();
      });
    },
  };
}
