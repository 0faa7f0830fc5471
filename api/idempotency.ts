// Idempotency-Key (SPEC §1): routes that create things or send messages opt in with
// `config: { idempotent: true }`. The same key and body replays the first response; the same key
// with another body is a 422; a key whose first request is still running is a 409.
import { and, eq, isNull, lt, sql } from 'drizzle-orm';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../db/client.js';
import { idempotencyKeys } from '../db/schema.js';
import { createHmac } from 'node:crypto';
import { ApiError } from './errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    idempotent?: boolean;
  }
  interface FastifyRequest {
    idempotency: { scope: string; key: string } | null;
  }
}

const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;
/** A first request unanswered for this long died with its process; its key may be claimed again. */
const ABANDONED_AFTER = sql`interval '1 minute'`;

/**
 * `secret` keys the request fingerprint: a plain hash of a register body would be a fast,
 * offline-crackable hash of the password kept for 24 h beside the argon2id one.
 */
export function registerIdempotency(app: FastifyInstance, db: Db, secret: string): void {
  const key = createHmac('sha256', secret).update('idempotency-request-fingerprint').digest(); // a key of its own
  const fingerprint = (text: string) => createHmac('sha256', key).update(text).digest('hex');
  app.decorateRequest('idempotency', null);

  // preHandler: after authentication and body validation, so only well-formed requests hold a key.
  app.addHook('preHandler', async (request, reply) => {
    const key = request.headers['idempotency-key'];
    if (!request.routeOptions.config.idempotent || key === undefined) return;
    if (typeof key !== 'string' || !KEY_SHAPE.test(key)) {
      throw new ApiError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1-255 visible ASCII characters');
    }
    // A key belongs to a caller and a resource (SPEC §1): the same key on /campaigns/A/pause and then
    // /campaigns/B/pause is two requests, each answered on its own. Ids in the path compare
    // case-insensitively, as Postgres reads them.
    const route = `${request.method} ${request.routeOptions.url}`;
    const params = Object.entries((request.params ?? {}) as Record<string, string>)
      .map(([name, value]) => `${name}=${String(value).toLowerCase()}`)
      .sort()
      .join('&');
    const scope = `${request.auth?.userId ?? 'anonymous'} ${route}${params ? `?${params}` : ''}`;
    const requestHash = fingerprint(JSON.stringify(request.body ?? null));
    const where = and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key));
    const claim = () =>
      db.insert(idempotencyKeys).values({ scope, key, route, requestHash }).onConflictDoNothing().returning({ key: idempotencyKeys.key });
    let [claimed] = await claim();
    if (!claimed) {
      // Held by a first request that died unanswered long ago: claimed again.
      const abandoned = await db
        .delete(idempotencyKeys)
        .where(and(where, isNull(idempotencyKeys.statusCode), lt(idempotencyKeys.createdAt, sql`now() - ${ABANDONED_AFTER}`)))
        .returning({ key: idempotencyKeys.key });
      if (abandoned.length > 0) [claimed] = await claim();
    }
    if (claimed) {
      request.idempotency = { scope, key };
      return;
    }
    const [first] = await db.select().from(idempotencyKeys).where(where);
    if (!first) throw new ApiError(409, 'idempotency_in_progress', 'retry the request'); // purged in between
    if (first.route !== route || first.requestHash !== requestHash) {
      throw new ApiError(422, 'idempotency_key_reused', 'this Idempotency-Key was used with a different request');
    }
    if (first.statusCode === null) {
      throw new ApiError(409, 'idempotency_in_progress', 'the first request with this Idempotency-Key is still running', undefined, 1);
    }
    return reply.status(first.statusCode).header('idempotent-replayed', 'true').type('application/json').send(first.responseBody);
  });

  app.addHook('onSend', async (request: FastifyRequest, reply, payload) => {
    const held = request.idempotency;
    if (!held) return payload;
    request.idempotency = null;
    const where = and(eq(idempotencyKeys.scope, held.scope), eq(idempotencyKeys.key, held.key));
    if (reply.statusCode >= 500 || reply.statusCode === 429 || reply.statusCode === 409) {
      // Not answers to replay (our failure, "slow down", "conflict right now"): free the key
      // so that the same request can be tried again.
      await db.delete(idempotencyKeys).where(where);
    } else {
      await db
        .update(idempotencyKeys)
        .set({ statusCode: reply.statusCode, responseBody: typeof payload === 'string' ? payload : null })
        .where(where);
    }
    return payload;
  });
}
