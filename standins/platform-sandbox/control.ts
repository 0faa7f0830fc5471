// Dev/test control endpoints under /_sandbox/ (no auth): inject events, block fans, play an
// outage, list deliveries.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../http.js';
import type { AccountAccess } from './accounts.js';
import { invalidRequest, noContent, parseEventData, readObject, requiredString } from './protocol.js';
import type { Background } from './webhooks.js';

export function createControl({ access, background }: { access: AccountAccess; background: Background }) {
  const { existingAccount } = access;
  const { emit } = background;

  async function injectEvent(req: IncomingMessage, res: ServerResponse, [rawId]: string[]) {
    const account = existingAccount(rawId!);
    const body = await readObject(req, ['type', 'data']);
    const { type, data } = parseEventData(body.type, body.data);
    const { eventId, delivered } = emit(account, type, data);
    sendJson(res, 200, { eventId, delivered: await delivered });
  }

  async function block(req: IncomingMessage, res: ServerResponse, [rawId]: string[]) {
    const account = existingAccount(rawId!);
    const fanHandle = requiredString(await readObject(req, ['fanHandle']), 'fanHandle');
    account.blockedFans.add(fanHandle);
    noContent(res);
  }

  function unblock(_req: IncomingMessage, res: ServerResponse, [rawId, fanHandle]: string[]) {
    existingAccount(rawId!).blockedFans.delete(fanHandle!);
    noContent(res);
  }

  async function outage(req: IncomingMessage, res: ServerResponse, [rawId]: string[]) {
    const account = existingAccount(rawId!);
    const { seconds } = await readObject(req, ['seconds']);
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) throw invalidRequest('seconds must be a number > 0');
    account.outageUntil = Date.now() + seconds * 1000;
    noContent(res);
  }

  function deliveries(_req: IncomingMessage, res: ServerResponse, [rawId]: string[]) {
    const account = existingAccount(rawId!);
    sendJson(res, 200, { deliveries: account.deliveries, rejectedForRate: account.rejectedForRate });
  }

  return { injectEvent, block, unblock, outage, deliveries };
}
