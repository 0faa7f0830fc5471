// SPEC §3 platform connections and inbound events.
//  - PUT /platforms/:platform/connection: choose the adapter (sandbox, bridge, manual) and the
//    account's rate limit. The webhook secret is shown once, when created or rotated.
//  - POST /platforms/:platform/webhook?connectionId=: fan messages, purchases and subscriptions,
//    signed with that connection's secret (lib/platforms/signature.ts); each event id is applied
//    once, so a replayed or retried delivery changes nothing.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, eq, isNull, sql } from 'drizzle-orm';
import { Type } from 'typebox';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { conversations, fans, messages, platformConnections, platformEvents, revenueEvents } from '../../db/schema.js';
import {
  inboundWebhookUrl,
  newSecrets,
  sealSecrets,
  unsealConnection,
  type ConnectionSettings,
} from '../../domain/platform-connections.js';
import { SIGNATURE_HEADER, verifySignature } from '../../integrations/platforms/signature.js';
import type { RouteDeps } from '../app.js';
import { caller } from '../authenticate.js';
import { ApiError } from '../errors.js';
import { bearerAuth, errorResponses, PlatformName } from '../schemas.js';

const PlatformParams = Type.Object({ platform: PlatformName() });
const RateLimit = Type.Object(
  { messages: Type.Integer({ minimum: 1, maximum: 1_000_000 }), perSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }) },
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

export const platformRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, config }) => {
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
        description: `Adapters: sandbox (the local simulated platform; not in production), bridge (an external sending service at bridgeUrl, HMAC-signed both ways), manual (an operator task per message). The rate limit defaults to ${config.SEND_RATE_LIMIT_PER_MINUTE} per 60 s.`,
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
      if (bridgeUrl && config.production && !bridgeUrl.startsWith('https://'))
        throw new ApiError(400, 'validation_failed', 'bridgeUrl must be https in production');
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
      return reply.status(200).send(present(row!, rotateSecret));
    },
  );
};

const Handle = z.string().min(1).max(100).regex(/^\S+$/);
const Cents = z.number().int().min(0).max(100_000_000);
// Instants Postgres can hold and a platform can mean.
const When = z.iso.datetime({ offset: true }).refine((v) => {
  const t = Date.parse(v);
  return t >= Date.UTC(2000, 0, 1) && t < Date.UTC(2100, 0, 1);
}, 'must be between 2000 and 2100');
const EventEnvelope = z.object({ id: z.string().min(1).max(200), type: z.string().min(1).max(100), data: z.unknown() });
const EventData = {
  'message.received': z.object({
    fanHandle: Handle,
    fanName: z.string().max(200).optional(),
    text: z.string().max(10_000),
    messageId: z.string().min(1).max(200),
    sentAt: When,
  }),
  'purchase.created': z.object({
    fanHandle: Handle,
    amountCents: Cents,
    messageId: z.string().min(1).max(200).optional(),
    purchasedAt: When,
  }),
  'subscription.created': z.object({
    fanHandle: Handle,
    fanName: z.string().max(200).optional(),
    tier: z.string().min(1).max(50).optional(),
    amountCents: Cents,
    subscribedAt: When,
  }),
};
type EventType = keyof typeof EventData;
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** The fan by handle, created when new; `seenAt` moves last-seen forward only. */
async function upsertFan(tx: Tx, connection: ConnectionSettings, handle: string, seenAt: Date, name?: string) {
  const [fan] = await tx
    .insert(fans)
    .values({ creatorId: connection.creatorId, platform: connection.platform, handle, name, lastSeenAt: seenAt })
    .onConflictDoUpdate({
      target: [fans.creatorId, fans.platform, fans.handle],
      targetWhere: isNull(fans.deletedAt),
      set: {
        lastSeenAt: sql`greatest(${fans.lastSeenAt}, excluded.last_seen_at)`,
        name: sql`coalesce(${fans.name}, excluded.name)`,
        updatedAt: sql`now()`,
      },
    })
    .returning({ id: fans.id });
  return fan!;
}

/** Applies one verified event inside the transaction that records its id. */
async function applyEvent(tx: Tx, connection: ConnectionSettings, type: EventType, data: unknown): Promise<void> {
  if (type === 'message.received') {
    const d = EventData[type].parse(data);
    const sentAt = new Date(d.sentAt);
    const fan = await upsertFan(tx, connection, d.fanHandle, sentAt, d.fanName);
    await tx
      .insert(conversations)
      .values({ creatorId: connection.creatorId, fanId: fan.id, platform: connection.platform, lastMessageAt: sentAt })
      .onConflictDoNothing();
    const conversation = await tx.query.conversations.findFirst({
      where: and(eq(conversations.creatorId, connection.creatorId), eq(conversations.fanId, fan.id)),
    });
    const [inserted] = await tx
      .insert(messages)
      .values({
        creatorId: connection.creatorId,
        conversationId: conversation!.id,
        fanId: fan.id,
        platform: connection.platform,
        direction: 'in',
        status: 'received',
        idempotencyKey: `in:${connection.platform}:${d.messageId}`,
        text: d.text,
        sentAt,
        platformMessageId: d.messageId,
      })
      .onConflictDoNothing({ target: [messages.creatorId, messages.idempotencyKey] })
      .returning({ id: messages.id });
    if (inserted) {
      await tx
        .update(conversations)
        .set({
          unreadCount: sql`${conversations.unreadCount} + 1`,
          lastMessageAt: sql`greatest(${conversations.lastMessageAt}, ${sentAt.toISOString()}::timestamptz)`,
        })
        .where(eq(conversations.id, conversation!.id));
    }
    return;
  }
  const d = type === 'purchase.created' ? EventData[type].parse(data) : EventData[type].parse(data);
  const occurredAt = new Date('purchasedAt' in d ? d.purchasedAt : d.subscribedAt);
  const fan = await upsertFan(tx, connection, d.fanHandle, occurredAt, 'fanName' in d ? d.fanName : undefined);
  let messageId: string | null = null;
  if ('messageId' in d && d.messageId) {
    const bought = await tx.query.messages.findFirst({
      where: and(
        eq(messages.creatorId, connection.creatorId),
        eq(messages.platform, connection.platform),
        eq(messages.platformMessageId, d.messageId),
      ),
      columns: { id: true },
    });
    messageId = bought?.id ?? null;
  }
  await tx
    .insert(revenueEvents)
    .values({
      creatorId: connection.creatorId,
      fanId: fan.id,
      kind: type === 'purchase.created' ? 'purchase' : 'subscription',
      amountCents: d.amountCents,
      messageId,
      occurredAt,
    });
  await tx
    .update(fans)
    .set({
      valueCents: sql`${fans.valueCents} + ${d.amountCents}`,
      ...('tier' in d && d.tier ? { subscriptionTier: d.tier } : {}),
      updatedAt: sql`now()`,
    })
    .where(eq(fans.id, fan.id));
}

export const platformWebhookRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, config }) => {
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
        description: `Signed with the connection’s webhook secret: ${SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, within 5 minutes. An event id already applied is acknowledged with duplicate: true; unknown event types are acknowledged and ignored.`,
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
      let envelope: z.infer<typeof EventEnvelope>;
      try {
        envelope = EventEnvelope.parse(JSON.parse(raw));
      } catch {
        throw new ApiError(400, 'invalid_event', 'the payload is not a platform event');
      }
      // PostgreSQL text cannot hold U+0000; a signed event carrying one is refused, not half-applied.
      if (raw.includes('\\u0000')) throw new ApiError(400, 'invalid_event', 'text must not contain the NUL character (U+0000)');
      const known = Object.hasOwn(EventData, envelope.type) ? (envelope.type as EventType) : undefined;
      if (known) {
        const check = EventData[known].safeParse(envelope.data);
        if (!check.success)
          throw new ApiError(
            400,
            'invalid_event',
            `${known}: ${check.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
          );
      }
      const duplicate = await db.transaction(async (tx) => {
        const [fresh] = await tx
          .insert(platformEvents)
          .values({ connectionId: connection.id, eventId: envelope.id, type: envelope.type })
          .onConflictDoNothing()
          .returning({ id: platformEvents.eventId });
        if (fresh && known) await applyEvent(tx, connection, known, envelope.data);
        return !fresh;
      });
      return { received: true as const, duplicate, ignored: !known };
    },
  );
};
