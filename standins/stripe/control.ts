// Dev/test control endpoints under /_standin/ (no auth): inspect accounts, balances and events, move an
// account through KYC outcomes as Stripe would, fund the platform balance, and inject the money faults
// a payout process must survive (balance_insufficient, idempotency keys Stripe has pruned).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from '../http.js';
import { MAX_BODY_BYTES } from './api.js';
import { invalidRequest } from './protocol.js';
import { forgetIdempotencyKeys, type Store } from './state.js';
import type { Transitions } from './transitions.js';

export interface MoneyControls {
  fund(amount: number, currency?: string): Promise<unknown>;
  failNextTransfers(count: number): void;
  hangNextTransfers(count: number): void;
}

const controlError = (res: ServerResponse, status: number, message: string, param?: string) =>
  sendJson(res, status, { error: { type: 'invalid_request_error', message, ...(param ? { param } : {}) } });

/** The JSON object body, or undefined when it is not one (an empty body reads as `{}`). */
async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  try {
    const parsed: unknown = JSON.parse((await readBody(req, MAX_BODY_BYTES, invalidRequest)) || '{}');
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function createControl({ store, transitions, money }: { store: Store; transitions: Transitions; money: MoneyControls }) {
  const { state, persist } = store;
  const { complete, restrict, deauthorize } = transitions;

  /** The money routes; false when `route` is none of them. */
  async function moneyControl(req: IncomingMessage, res: ServerResponse, route: string): Promise<boolean> {
    if (route === 'GET /_standin/balances') {
      sendJson(res, 200, { balances: state.balances, faults: state.faults });
      return true;
    }
    const routes = [
      'POST /_standin/balance/fund',
      'POST /_standin/faults/balance-insufficient',
      'POST /_standin/faults/transfer-hang',
      'POST /_standin/idempotency/forget',
    ];
    if (!routes.includes(route)) return false;
    const body = await readJson(req);
    if (!body) {
      controlError(res, 400, 'Body must be a JSON object');
      return true;
    }
    if (route === 'POST /_standin/balance/fund') {
      const { amount, currency = 'usd' } = body;
      if (typeof amount !== 'number' || typeof currency !== 'string') {
        controlError(res, 400, 'Body must be JSON {"amount": <minor units>, "currency": "usd"}', 'amount');
        return true;
      }
      try {
        sendJson(res, 200, await money.fund(amount, currency));
      } catch (err) {
        controlError(res, 400, (err as Error).message);
      }
    } else if (route === 'POST /_standin/faults/balance-insufficient' || route === 'POST /_standin/faults/transfer-hang') {
      const { count } = body;
      if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
        controlError(res, 400, 'Body must be JSON {"count": <transfers>}', 'count');
        return true;
      }
      if (route.endsWith('/transfer-hang')) money.hangNextTransfers(count);
      else money.failNextTransfers(count);
      await persist();
      sendJson(res, 200, state.faults);
    } else {
      const { key } = body;
      if (key !== undefined && typeof key !== 'string') {
        controlError(res, 400, 'Body must be JSON {} (all keys) or {"key": "<Idempotency-Key>"}', 'key');
        return true;
      }
      const forgotten = forgetIdempotencyKeys(state, key);
      await persist();
      sendJson(res, 200, { forgotten });
    }
    return true;
  }

  async function control(req: IncomingMessage, res: ServerResponse, url: URL) {
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /_standin/health')
      return sendJson(res, 200, {
        status: 'ok',
        accounts: Object.keys(state.accounts).length,
        accountCreations: state.accountCreations,
        events: state.events.length,
      });
    if (route === 'GET /_standin/accounts')
      return sendJson(res, 200, {
        accountCreations: state.accountCreations,
        accounts: Object.values(state.accounts),
      });
    if (route === 'GET /_standin/events') {
      const type = url.searchParams.get('type');
      const account = url.searchParams.get('account');
      // `account=platform` selects the platform's own events, which carry no account.
      const events = state.events.filter(
        (e) => (!type || e.event.type === type) && (!account || (e.event.account ?? 'platform') === account),
      );
      return sendJson(res, 200, { events });
    }
    if (await moneyControl(req, res, route)) return;
    const m = /^POST \/_standin\/accounts\/([^/]+)\/(complete|restrict|deauthorize)$/.exec(route);
    if (!m) return controlError(res, 404, `No stand-in route for ${route}`);
    const id = decodeURIComponent(m[1]!);
    if (!Object.hasOwn(state.accounts, id)) return controlError(res, 404, `No such account: '${id}'`);
    if (state.accounts[id]!.deauthorized) return controlError(res, 409, `Account '${id}' has deauthorized the platform`);
    if (m[2] === 'restrict') {
      const reason = (await readJson(req))?.reason;
      if (typeof reason !== 'string' || reason === '')
        return controlError(res, 400, 'Body must be JSON {"reason": "<disabled_reason>"}', 'reason');
      await restrict(id, reason);
    } else if (m[2] === 'complete') await complete(id);
    else await deauthorize(id);
    sendJson(res, 200, state.accounts[id]);
  }

  return control;
}
