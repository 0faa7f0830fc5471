// Inbound platform events (SPEC §3, §7): fan messages, purchases, tips, subscriptions, refunds and
// chargebacks that a platform (or a bridge) posts to a connection's webhook; money facts also post
// to the earnings ledger (domain/ledger.ts). The API verifies the signature; here an event is read
// and applied once per event id, in the transaction that records the id, so a replayed or retried
// delivery changes nothing.
import { and, eq, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client.js';
import { expireOnFanMessage } from './reply-suggestions.js';
import { conversations, fans, messages, platformEvents, revenueEvents } from '../db/schema.js';
import { DomainError } from './errors.js';
import { postJournal, reversalJournal, saleJournal } from './ledger.js';
import type { ConnectionSettings } from './platform-connections.js';

const Handle = z.string().min(1).max(100).regex(/^\S+$/);
const Cents = z.number().int().min(0).max(100_000_000);
// Instants Postgres can hold and a platform can mean.
const When = z.iso.datetime({ offset: true }).refine((v) => {
  const t = Date.parse(v);
  return t >= Date.UTC(2000, 0, 1) && t < Date.UTC(2100, 0, 1);
}, 'must be between 2000 and 2100');
/** ISO 4217, lower case as Stripe writes it; a platform that says nothing means US dollars. */
const Currency = z
  .string()
  .regex(/^[a-z]{3}$/)
  .default('usd');
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
    currency: Currency,
    messageId: z.string().min(1).max(200).optional(),
    purchasedAt: When,
  }),
  'subscription.created': z.object({
    fanHandle: Handle,
    fanName: z.string().max(200).optional(),
    tier: z.string().min(1).max(50).optional(),
    amountCents: Cents,
    currency: Currency,
    subscribedAt: When,
  }),
  'tip.created': z.object({
    fanHandle: Handle,
    fanName: z.string().max(200).optional(),
    amountCents: Cents,
    currency: Currency,
    tippedAt: When,
  }),
  // Money given back: by the creator's platform (refund) or taken back by the fan's bank (chargeback).
  'refund.created': z.object({ fanHandle: Handle, amountCents: Cents, currency: Currency, refundedAt: When }),
  'chargeback.created': z.object({ fanHandle: Handle, amountCents: Cents, currency: Currency, chargedBackAt: When }),
};
type EventType = keyof typeof EventData;
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** A verified event's envelope; `known` is its type when this code applies it (others are acknowledged and ignored). */
export interface PlatformEvent {
  id: string;
  type: string;
  data: unknown;
  known: EventType | undefined;
}

const invalidEvent = (message = 'the payload is not a platform event') => new DomainError('invalid', 'invalid_event', message);

/** Reads a verified payload: the envelope, and the data of a known type checked in full before anything is applied. */
export function readPlatformEvent(raw: string): PlatformEvent {
  let envelope: z.infer<typeof EventEnvelope>;
  try {
    envelope = EventEnvelope.parse(JSON.parse(raw));
  } catch {
    throw invalidEvent();
  }
  // PostgreSQL text cannot hold U+0000; a signed event carrying one is refused, not half-applied.
  if (raw.includes('\\u0000')) throw invalidEvent('text must not contain the NUL character (U+0000)');
  const known = Object.hasOwn(EventData, envelope.type) ? (envelope.type as EventType) : undefined;
  if (known) {
    const check = EventData[known].safeParse(envelope.data);
    if (!check.success) throw invalidEvent(`${known}: ${check.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return { id: envelope.id, type: envelope.type, data: envelope.data, known };
}

/** Applies the event unless its id was applied before; says which. */
export interface AppliedEvent {
  duplicate: boolean;
  /** A new fan message: its conversation, and the reply suggestions it expired (the fan wrote again). */
  fanMessage?: { conversationId: string; expiredSuggestions: string[] };
}

export async function applyPlatformEvent(db: Db, connection: ConnectionSettings, event: PlatformEvent): Promise<AppliedEvent> {
  return db.transaction(async (tx) => {
    const [fresh] = await tx
      .insert(platformEvents)
      .values({ connectionId: connection.id, eventId: event.id, type: event.type })
      .onConflictDoNothing()
      .returning({ id: platformEvents.eventId });
    if (!fresh) return { duplicate: true };
    if (event.known !== 'message.received') {
      if (event.known) await applyEvent(tx, connection, { ...event, known: event.known });
      return { duplicate: false };
    }
    const conversationId = await applyFanMessage(tx, connection, EventData['message.received'].parse(event.data));
    if (!conversationId) return { duplicate: false };
    return { duplicate: false, fanMessage: { conversationId, expiredSuggestions: await expireOnFanMessage(tx, conversationId) } };
  });
}

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

async function applyEvent(
  tx: Tx,
  connection: ConnectionSettings,
  event: PlatformEvent & { known: Exclude<EventType, 'message.received'> },
): Promise<void> {
  const base = { creatorId: connection.creatorId, source: `platform:${connection.platform}:${event.id}` };
  if (event.known === 'refund.created' || event.known === 'chargeback.created') {
    const d = event.known === 'refund.created' ? EventData[event.known].parse(event.data) : EventData[event.known].parse(event.data);
    const occurredAt = new Date('refundedAt' in d ? d.refundedAt : d.chargedBackAt);
    const fan = await upsertFan(tx, connection, d.fanHandle, occurredAt);
    const kind = event.known === 'refund.created' ? 'refund' : 'chargeback';
    await postJournal(tx, reversalJournal({ ...base, currency: d.currency, fanId: fan.id, occurredAt }, kind, d.amountCents));
    // The fan's lifetime value counts what they kept paying, never below nothing.
    await tx
      .update(fans)
      .set({ valueCents: sql`greatest(${fans.valueCents} - ${d.amountCents}, 0)`, updatedAt: sql`now()` })
      .where(eq(fans.id, fan.id));
    return;
  }
  const d =
    event.known === 'purchase.created'
      ? EventData[event.known].parse(event.data)
      : event.known === 'tip.created'
        ? EventData[event.known].parse(event.data)
        : EventData[event.known].parse(event.data);
  const occurredAt = new Date('purchasedAt' in d ? d.purchasedAt : 'tippedAt' in d ? d.tippedAt : d.subscribedAt);
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
  const kind = event.known === 'purchase.created' ? 'purchase' : event.known === 'tip.created' ? 'tip' : 'subscription';
  await tx.insert(revenueEvents).values({
    creatorId: connection.creatorId,
    fanId: fan.id,
    kind,
    amountCents: d.amountCents,
    messageId,
    occurredAt,
  });
  const revenueType = kind === 'purchase' ? 'ppv' : kind;
  await postJournal(tx, saleJournal({ ...base, revenueType, currency: d.currency, fanId: fan.id, occurredAt }, d.amountCents));
  await tx
    .update(fans)
    .set({
      valueCents: sql`${fans.valueCents} + ${d.amountCents}`,
      ...('tier' in d && d.tier ? { subscriptionTier: d.tier } : {}),
      updatedAt: sql`now()`,
    })
    .where(eq(fans.id, fan.id));
}

/**
 * A fan's message: into the fan's conversation (created when the first), unread, moving
 * lastMessageAt. Its conversation when it is new (a platform's repeat of a message changes nothing).
 */
async function applyFanMessage(
  tx: Tx,
  connection: ConnectionSettings,
  d: z.infer<(typeof EventData)['message.received']>,
): Promise<string | undefined> {
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
  if (!inserted) return undefined;
  await tx
    .update(conversations)
    .set({
      unreadCount: sql`${conversations.unreadCount} + 1`,
      lastMessageAt: sql`greatest(${conversations.lastMessageAt}, ${sentAt.toISOString()}::timestamptz)`,
    })
    .where(eq(conversations.id, conversation!.id));
  return conversation!.id;
}
