// Dev/test control endpoints under /_standin/ (no auth): inspect accounts and events, and move an
// account through KYC outcomes as Stripe would.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from '../http.js';
import { MAX_BODY_BYTES } from './api.js';
import { invalidRequest } from './protocol.js';
import type { Store } from './state.js';
import type { Transitions } from './transitions.js';

export function createControl({ store, transitions }: { store: Store; transitions: Transitions }) {
  const { state } = store;
  const { complete, restrict, deauthorize } = transitions;

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
      const events = state.events.filter((e) => (!type || e.event.type === type) && (!account || e.event.account === account));
      return sendJson(res, 200, { events });
    }
    const m = /^POST \/_standin\/accounts\/([^/]+)\/(complete|restrict|deauthorize)$/.exec(route);
    if (!m) return sendJson(res, 404, { error: { type: 'invalid_request_error', message: `No stand-in route for ${route}` } });
    const id = decodeURIComponent(m[1]!);
    if (!state.accounts[id]) return sendJson(res, 404, { error: { type: 'invalid_request_error', message: `No such account: '${id}'` } });
    if (state.accounts[id].deauthorized)
      return sendJson(res, 409, { error: { type: 'invalid_request_error', message: `Account '${id}' has deauthorized the platform` } });
    if (m[2] === 'restrict') {
      let reason: unknown;
      try {
        reason = (JSON.parse((await readBody(req, MAX_BODY_BYTES, invalidRequest)) || '{}') as { reason?: unknown }).reason;
      } catch {
        reason = undefined;
      }
      if (typeof reason !== 'string' || reason === '')
        return sendJson(res, 400, {
          error: { type: 'invalid_request_error', message: 'Body must be JSON {"reason": "<disabled_reason>"}', param: 'reason' },
        });
      await restrict(id, reason);
    } else if (m[2] === 'complete') await complete(id);
    else await deauthorize(id);
    sendJson(res, 200, state.accounts[id]);
  }

  return control;
}
