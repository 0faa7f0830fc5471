// Platform connections as the code uses them: secrets unsealed, rate limit as one value.
import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { platformConnections } from '../db/schema.js';
import { decryptSecret, encryptSecret } from '../lib/crypto.js';

export type Adapter = (typeof platformConnections.$inferSelect)['adapter'];

export interface RateLimit {
  messages: number;
  perSeconds: number;
}

/**
 * The fastest a connection may send, whatever its creator asks: a ceiling on what one account can
 * push through the shared workers. A window holds at most this many messages, and the rate may not
 * exceed it per minute (100,000 a minute, about 1,700 a second: far above what a platform account takes).
 */
export const MAX_RATE_LIMIT_MESSAGES = 100_000;
export const MAX_RATE_LIMIT_PER_MINUTE = 100_000;

/** Why a rate limit is refused, or undefined when it is within the ceiling. */
export function rateLimitProblem(limit: RateLimit): string | undefined {
  if (limit.messages > MAX_RATE_LIMIT_MESSAGES) return `rateLimit.messages may not exceed ${MAX_RATE_LIMIT_MESSAGES}`;
  if (limit.messages * 60 > MAX_RATE_LIMIT_PER_MINUTE * limit.perSeconds)
    return `rateLimit may not exceed ${MAX_RATE_LIMIT_PER_MINUTE} messages per minute`;
  return undefined;
}

/** A stored limit held to the ceiling (rows written before it existed may ask for more). */
function withinCeiling(limit: RateLimit): RateLimit {
  const most = Math.floor((MAX_RATE_LIMIT_PER_MINUTE * limit.perSeconds) / 60);
  return { messages: Math.max(1, Math.min(limit.messages, MAX_RATE_LIMIT_MESSAGES, most)), perSeconds: limit.perSeconds };
}

export interface Credentials {
  /** sandbox: the account on the simulated platform and its API key. */
  accountId?: string;
  apiKey?: string;
  /** bridge: the sending service's base URL. */
  bridgeUrl?: string;
}

export interface ConnectionSettings {
  id: string;
  creatorId: string;
  platform: string;
  adapter: Adapter;
  rateLimit: RateLimit;
  credentials: Credentials;
  webhookSecret: string;
}

type Row = typeof platformConnections.$inferSelect;

export function unsealConnection(row: Row, key: string): ConnectionSettings {
  return {
    id: row.id,
    creatorId: row.creatorId,
    platform: row.platform,
    adapter: row.adapter,
    rateLimit: withinCeiling({ messages: row.rateLimitMessages, perSeconds: row.rateLimitSeconds }),
    credentials: JSON.parse(decryptSecret(key, row.credentialsSealed)) as Credentials,
    webhookSecret: decryptSecret(key, row.webhookSecretSealed),
  };
}

export async function loadConnections(db: Db, key: string, creatorId: string): Promise<ConnectionSettings[]> {
  const rows = await db.select().from(platformConnections).where(eq(platformConnections.creatorId, creatorId));
  return rows.map((row) => unsealConnection(row, key));
}

/** Fresh secrets for a connection: a sandbox account of its own, and a webhook secret. */
export function newSecrets(adapter: Adapter, bridgeUrl: string | undefined) {
  const credentials: Credentials =
    adapter === 'sandbox'
      ? { accountId: `acct_${randomBytes(12).toString('hex')}`, apiKey: `sk_sandbox_${randomBytes(24).toString('base64url')}` }
      : adapter === 'bridge'
        ? { bridgeUrl }
        : {};
  return { credentials, webhookSecret: `whsec_${randomBytes(32).toString('base64url')}` };
}

export function sealSecrets(key: string, secrets: { credentials: Credentials; webhookSecret: string }) {
  return {
    credentialsSealed: encryptSecret(key, JSON.stringify(secrets.credentials)),
    webhookSecretSealed: encryptSecret(key, secrets.webhookSecret),
  };
}

/** Where a platform posts this connection's events. */
export function inboundWebhookUrl(publicApiUrl: string, connection: Pick<ConnectionSettings, 'id' | 'platform'>): string {
  const base = publicApiUrl.replace(/\/+$/, '');
  return `${base}/api/v1/platforms/${encodeURIComponent(connection.platform)}/webhook?connectionId=${connection.id}`;
}
