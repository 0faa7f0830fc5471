// SPEC §3 platform connections and inbound events.
//  - PUT /platforms/:platform/connection: choose the adapter (sandbox, bridge, manual) and the
//    account's rate limit. The webhook secret is shown once, when created or rotated.
//  - POST /platforms/:platform/webhook?connectionId=: fan messages, purchases and subscriptions,
//    signed with that connection's secret (integrations/platforms/signature.ts), then applied
//    once per event id by domain/inbound-events.ts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, eq, sql } from 'drizzle-orm';
import { Type } from 'typebox';
import { platformConnections } from '../../db/schema.js';
import { applyPlatformEvent, readPlatformEvent } from '../../domain/inbound-events.js';
import { followFanMessage } from '../../domain/reply-suggestions.js';
import {
  inboundWebhookUrl,
  MAX_RATE_LIMIT_MESSAGES,
  MAX_RATE_LIMIT_PER_MINUTE,
  newSecrets,
  rateLimitProblem,
  sealSecrets,
  unsealConnection,
} from '../../domain/platform-connections.js';
import { SIGNATURE_HEADER, verifySignature } from '../../integrations/platforms/signature.js';
import { BridgeUrlError, vetBridgeUrl } from '../../integrations/platforms/url-guard.js';
import type { RouteDeps } from '../app.js';
import { caller } from '../authenticate.js';
import { ApiError } from '../errors.js';
import { bearerAuth, errorResponses, PlatformName } from '../schemas.js';

const PlatformParams = Type.Object({ platform: PlatformName() });
const RateLimit = Type.Object(
  { messages: Type.Integer({ minimum: 1, maximum: MAX_RATE_LIMIT_MESSAGES }), perSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }) },
  { additionalProperties: false },
);
const Connection = Type.Object({
  id: Type.String(),
  platform: Type.String(),
  adapter: Type.Enum(['sandbox', 'bridge', 'manual']),
  rateLimit: RateLimit,
  bridgeUrl: Type.Optional(Type.String()),
  webhookUrl: Type.String({ description: 'where the platform (or bridge) posts this account’s events' }),
  webhookSecret: Type.Optional(Type.String({ description: 'shown only when created or rotated' })),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

export const platformRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, config, sendQueue }) => {
  app.addHook('onRequest', app.authenticate);
  const present = (row: typeof platformConnections.$inferSelect, showSecret: boolean) => {
    const c = unsealConnection(row, config.CREDENTIALS_KEY);
    return {
      id: c.id,
      platform: c.platform,
      adapter: c.adapter,
      rateLimit: c.rateLimit,
      ...(c.credentials.bridgeUrl ? { bridgeUrl: c.credentials.bridgeUrl } : {}),
      webhookUrl: inboundWebhookUrl(config.PUBLIC_API_URL, c),
      ...(showSecret ? { webhookSecret: c.webhookSecret } : {}),
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
    };
  };

  app.get(
    '/platforms/connections',
    {
      schema: {
        tags: ['platforms'],
        summary: 'The caller’s platform connections (secrets are never listed)',
        security: bearerAuth,
        response: { 200: Type.Object({ items: Type.Array(Connection) }), ...errorResponses(401) },
      },
    },
    async (request) => {
      const rows = await db
        .select()
        .from(platformConnections)
        .where(eq(platformConnections.creatorId, caller(request).userId));
      return { items: rows.map((r) => present(r, false)) };
    },
  );

  app.put(
    '/platforms/:platform/connection',
    {
      schema: {
        tags: ['platforms'],
        summary: 'Connect a platform account, or change its adapter or rate limit',
        description: [
          'Adapters: sandbox (the local simulated platform; not in production),',
          'bridge (an external sending service at bridgeUrl, HMAC-signed both ways), manual (an operator task per message).',
          'bridgeUrl must be https without credentials; in production it must resolve to public addresses only',
          '(plain http is accepted only to loopback, outside production).',
          `The rate limit may not exceed ${MAX_RATE_LIMIT_PER_MINUTE} messages per minute, nor ${MAX_RATE_LIMIT_MESSAGES} per window.`,
          `The rate limit defaults to ${config.SEND_RATE_LIMIT_PER_MINUTE} per 60 s.`,
          'A changed adapter or rate limit applies to messages already queued from the next send on.',
        ].join(' '),
        security: bearerAuth,
        params: PlatformParams,
        body: Type.Object(
          {
            adapter: Type.Enum(['sandbox', 'bridge', 'manual']),
            rateLimit: Type.Optional(RateLimit),
            bridgeUrl: Type.Optional(Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048 })),
            rotateSecret: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: { 200: Connection, 201: Connection, ...errorResponses(400, 401, 422) },
      },
    },
    async (request, reply) => {
      const creatorId = caller(request).userId;
      const { platform } = request.params;
      const { adapter, rateLimit, bridgeUrl, rotateSecret = false } = request.body;
      if (adapter === 'sandbox' && config.production)
        throw new ApiError(422, 'adapter_unavailable', 'the sandbox adapter is for development and tests');
      if ((adapter === 'bridge') !== (bridgeUrl !== undefined))
        throw new ApiError(400, 'validation_failed', 'bridgeUrl is required for the bridge adapter and only for it');
      const tooFast = rateLimit && rateLimitProblem(rateLimit);
      if (tooFast) throw new ApiError(400, 'validation_failed', tooFast, [{ field: 'body.rateLimit', message: tooFast }]);
      // Checked again at every send, against the addresses the name resolves to then.
      if (bridgeUrl)
        await vetBridgeUrl(bridgeUrl, { production: config.production }).catch((err: unknown) => {
          if (!(err instanceof BridgeUrlError)) throw err;
          throw new ApiError(400, 'validation_failed', err.message, [{ field: 'body.bridgeUrl', message: err.message }]);
        });
      const existing = await db.query.platformConnections.findFirst({
        where: and(eq(platformConnections.creatorId, creatorId), eq(platformConnections.platform, platform)),
      });
      const limit = {
        rateLimitMessages: rateLimit?.messages ?? existing?.rateLimitMessages ?? config.SEND_RATE_LIMIT_PER_MINUTE,
        rateLimitSeconds: rateLimit?.perSeconds ?? existing?.rateLimitSeconds ?? 60,
      };
      if (!existing) {
        const [row] = await db
          .insert(platformConnections)
          .values({ creatorId, platform, adapter, ...limit, ...sealSecrets(config.CREDENTIALS_KEY, newSecrets(adapter, bridgeUrl)) })
          .onConflictDoNothing()
          .returning();
        if (!row) throw new ApiError(409, 'conflict', 'the connection was created by another request; try again');
        return reply.status(201).send(present(row, true));
      }
      const current = unsealConnection(existing, config.CREDENTIALS_KEY);
      // A new adapter gets credentials of its own; the webhook secret changes only when asked.
      const credentials =
        adapter === existing.adapter && adapter !== 'bridge' ? current.credentials : newSecrets(adapter, bridgeUrl).credentials;
      const webhookSecret = rotateSecret ? newSecrets(adapter, bridgeUrl).webhookSecret : current.webhookSecret;
      const [row] = await db
        .update(platformConnections)
        .set({ adapter, ...limit, ...sealSecrets(config.CREDENTIALS_KEY, { credentials, webhookSecret }), updatedAt: sql`now()` })
        .where(eq(platformConnections.id, existing.id))
        .returning();
      // The queue may be sleeping until a slot of the old limit (or adapter): it re-reads the
      // connection at its next batch, so wake it for one now. Not woken, it still goes on at the
      // old slot, so a Temporal outage does not fail the change.
      const changed =
        adapter !== existing.adapter ||
        limit.rateLimitMessages !== existing.rateLimitMessages ||
        limit.rateLimitSeconds !== existing.rateLimitSeconds;
      if (changed)
        await sendQueue
          .wake(creatorId)
          .catch((err: unknown) => request.log.warn({ err, creatorId }, 'send queue not woken after a connection change'));
      return reply.status(200).send(present(row!, rotateSecret));
    },
  );
};

export const platformWebhookRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, config, replySuggestions }) => {
  // This plugin's context only: the signature covers the exact bytes sent.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  const invalidSignature = () => new ApiError(400, 'invalid_signature', `the ${SIGNATURE_HEADER} header does not match the payload`);

  app.post(
    '/platforms/:platform/webhook',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Inbound fan events from a platform connection: message.received, purchase.created, subscription.created',
        description: [
          `Signed with the connection’s webhook secret: ${SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">,`,
          'within 5 minutes. An event id already applied is acknowledged with duplicate: true;',
          'unknown event types are acknowledged and ignored.',
        ].join(' '),
        params: PlatformParams,
        querystring: Type.Object({ connectionId: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
        headers: Type.Object({ [SIGNATURE_HEADER]: Type.String({ minLength: 1, maxLength: 1024 }) }),
        response: {
          200: Type.Object({ received: Type.Literal(true), duplicate: Type.Boolean(), ignored: Type.Boolean() }),
          ...errorResponses(400, 415, 503),
        },
      },
    },
    async (request) => {
      if (!Buffer.isBuffer(request.body)) throw new ApiError(400, 'invalid_event', 'the payload is not a platform event');
      const raw = request.body.toString('utf8');
      const row = await db.query.platformConnections.findFirst({ where: eq(platformConnections.id, request.query.connectionId) });
      // An unknown connection answers like a bad signature: nothing tells a prober which ids exist.
      if (!row || row.platform !== request.params.platform) throw invalidSignature();
      const connection = unsealConnection(row, config.CREDENTIALS_KEY);
      if (!verifySignature(connection.webhookSecret, raw, request.headers[SIGNATURE_HEADER])) throw invalidSignature();
      const event = readPlatformEvent(raw);
      const { duplicate, fanMessage } = await applyPlatformEvent(db, connection, event);
      // After the commit, best effort: Postgres already holds the message and the expiries, and a
      // platform retrying the webhook for a Temporal hiccup would find the event applied.
      if (fanMessage)
        await followFanMessage({ db, config, process: replySuggestions, log: request.log }, connection.creatorId, fanMessage).catch(
          (err: unknown) =>
            request.log.warn({ err, conversationId: fanMessage.conversationId }, 'reply suggestions not updated after a fan message'),
        );
      return { received: true as const, duplicate, ignored: !event.known };
    },
  );
};
