// The platform API (v1): register or update an account (PUT), send a message under an
// Idempotency-Key with the platform's failure modes (rate limit, blocked fans, outages).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../lib/logger.js';
import { sendJson } from '../http.js';
import { rateLimitedUntil, secondsUntil, sendResult, type Account, type AccountAccess } from './accounts.js';
import type { Delivery, RateLimit } from './types.js';
import {
  invalidRequest,
  newId,
  optionalString,
  parseMessage,
  parseRateLimit,
  parseWebhookUrl,
  PlatformError,
  readObject,
  requiredString,
} from './protocol.js';
import type { Background } from './webhooks.js';

export interface ApiOptions {
  accounts: Map<string, Account>;
  access: AccountAccess;
  background: Background;
  defaultRateLimit: RateLimit;
  logger?: Logger;
}

export function createApi({ accounts, access, background, defaultRateLimit, logger }: ApiOptions) {
  const { accountId, bearerKey, checkKey, authorizedAccount } = access;
  const { simulateFans } = background;

  async function putAccount(req: IncomingMessage, res: ServerResponse, [rawId]: string[]) {
    const id = accountId(rawId!);
    const key = bearerKey(req);
    const body = await readObject(req, ['webhookUrl', 'webhookSecret', 'rateLimit']);
    const webhookUrl = body.webhookUrl === undefined ? undefined : parseWebhookUrl(requiredString(body, 'webhookUrl'));
    const webhookSecret = optionalString(body, 'webhookSecret');
    const rateLimit = body.rateLimit === undefined ? undefined : parseRateLimit(body.rateLimit);

    // Looked up only after the body is read: nothing awaits from here, so two concurrent first
    // PUTs cannot both create the account.
    let account = accounts.get(id);
    if (account) checkKey(account, key);
    // Webhooks are always signed, so an endpoint without a secret would be unusable.
    if ((webhookUrl ?? account?.webhookUrl) && !(webhookSecret ?? account?.webhookSecret))
      throw invalidRequest('webhookSecret is required with webhookUrl');
    if (!account) {
      account = {
        id,
        apiKey: key,
        rateLimit: { ...defaultRateLimit },
        deliveries: [],
        byIdempotencyKey: new Map(),
        rejectedForRate: 0,
        blockedFans: new Set(),
        outageUntil: 0,
      };
      accounts.set(id, account);
      logger?.info({ accountId: id }, 'platform sandbox created account');
    }
    if (webhookUrl !== undefined) account.webhookUrl = webhookUrl;
    if (webhookSecret !== undefined) account.webhookSecret = webhookSecret;
    if (rateLimit) account.rateLimit = rateLimit;
    sendJson(res, 200, { id, webhookUrl: account.webhookUrl ?? null, rateLimit: account.rateLimit });
  }

  async function sendMessage(req: IncomingMessage, res: ServerResponse, [rawId]: string[]) {
    const account = authorizedAccount(req, rawId!);
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || key.length < 1 || key.length > 255)
      throw new PlatformError(400, 'idempotency_key_required', 'An Idempotency-Key header of 1-255 characters is required');
    const message = parseMessage(await readObject(req, ['fanHandle', 'text', 'priceCents', 'mediaUrls']));

    // Nothing below awaits, so concurrent sends with one key cannot both deliver.
    const prior = account.byIdempotencyKey.get(key);
    if (prior) {
      // Already delivered: answered whatever the platform's state now, and free of the rate limit.
      prior.requests += 1;
      logger?.debug({ accountId: account.id, idempotencyKey: key }, 'platform sandbox replayed send');
      return sendJson(res, 200, sendResult(prior), { 'idempotent-replayed': 'true' });
    }
    if (Date.now() < account.outageUntil)
      throw new PlatformError(503, 'platform_unavailable', 'The platform is temporarily unavailable', {
        'retry-after': secondsUntil(account.outageUntil),
      });
    if (account.blockedFans.has(message.fanHandle))
      throw new PlatformError(403, 'fan_blocked', `${message.fanHandle} has blocked this account`);
    const limitedUntil = rateLimitedUntil(account);
    if (limitedUntil !== undefined) {
      account.rejectedForRate += 1;
      const { messages, perSeconds } = account.rateLimit;
      throw new PlatformError(429, 'rate_limited', `At most ${messages} messages per ${perSeconds} s`, {
        'retry-after': secondsUntil(limitedUntil),
      });
    }

    const delivery: Delivery = {
      idempotencyKey: key,
      messageId: newId('msg_'),
      ...message,
      deliveredAt: new Date().toISOString(),
      requests: 1,
    };
    account.deliveries.push(delivery);
    account.byIdempotencyKey.set(key, delivery);
    logger?.info(
      { accountId: account.id, messageId: delivery.messageId, fanHandle: delivery.fanHandle },
      'platform sandbox delivered message',
    );
    sendJson(res, 201, sendResult(delivery));
    simulateFans(account, delivery);
  }

  return { putAccount, sendMessage };
}
