// Creators' accounts on the sandbox: their state (deliveries, rate-limit window, blocks, outages)
// and how a request is matched to one (account id and Bearer API key).
import type { IncomingMessage } from 'node:http';
import { safeEqual } from '../../lib/crypto.js';
import type { Delivery, RateLimit } from './types.js';
import { invalidRequest, PlatformError } from './protocol.js';

const ACCOUNT_ID = /^[A-Za-z0-9_-]{1,100}$/;

export interface Account {
  id: string;
  apiKey: string;
  webhookUrl?: string;
  webhookSecret?: string;
  rateLimit: RateLimit;
  /** Oldest first; the rate-limit window is read off its tail. */
  deliveries: Delivery[];
  byIdempotencyKey: Map<string, Delivery>;
  rejectedForRate: number;
  blockedFans: Set<string>;
  /** Epoch ms until which sends answer 503; 0 when up. */
  outageUntil: number;
}

/** Whole seconds until `untilMs`, at least 1 (Retry-After: 0 would invite a hot loop). */
export const secondsUntil = (untilMs: number) => String(Math.max(1, Math.ceil((untilMs - Date.now()) / 1000)));

/** Epoch ms at which a send would fit the account's window again, or undefined when it fits now. */
export function rateLimitedUntil(account: Account): number | undefined {
  const { messages, perSeconds } = account.rateLimit;
  const windowMs = perSeconds * 1000;
  const since = Date.now() - windowMs;
  const inWindow: number[] = []; // newest first
  for (let i = account.deliveries.length - 1; i >= 0; i--) {
    const at = Date.parse(account.deliveries[i]!.deliveredAt);
    if (at <= since) break;
    inWindow.push(at);
  }
  if (inWindow.length < messages) return undefined;
  // A send fits once only messages-1 deliveries remain in the window, i.e. when the messages-th
  // newest leaves it. That is the oldest one unless a PUT lowered the limit below what was sent.
  return inWindow[messages - 1]! + windowMs;
}

/** The 201 body of a delivery, which its replays repeat. */
export const sendResult = (d: Delivery) => ({ id: d.messageId, fanHandle: d.fanHandle, deliveredAt: d.deliveredAt });

export function createAccountAccess(accounts: Map<string, Account>) {
  function accountId(raw: string): string {
    if (!ACCOUNT_ID.test(raw)) throw invalidRequest('Account ids are 1-100 characters of A-Z, a-z, 0-9, _ and -');
    return raw;
  }

  function existingAccount(rawId: string): Account {
    const id = accountId(rawId);
    const account = accounts.get(id);
    if (!account) throw new PlatformError(404, 'account_not_found', `No account ${id}`);
    return account;
  }

  function bearerKey(req: IncomingMessage): string {
    const key = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!key) throw new PlatformError(401, 'invalid_api_key', 'Authorization: Bearer <api key> is required');
    return key;
  }

  function checkKey(account: Account, key: string) {
    if (!safeEqual(key, account.apiKey))
      throw new PlatformError(401, 'invalid_api_key', `The API key is not the one account ${account.id} was created with`);
  }

  function authorizedAccount(req: IncomingMessage, rawId: string): Account {
    const account = existingAccount(rawId);
    checkKey(account, bearerKey(req));
    return account;
  }

  return { accountId, existingAccount, bearerKey, checkKey, authorizedAccount };
}

export type AccountAccess = ReturnType<typeof createAccountAccess>;
