// Messaging and campaigns: platform connections, conversations, messages (the outbox), inbound
// platform events, revenue, campaigns and their recipient snapshots. Campaigns live here because
// messages and recipients reference each other.
import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  index,
  integer,
  primaryKey,
  smallint,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

import { users } from './accounts.js';
import { createdAt } from './columns.js';
import { fans } from './crm.js';

export const platformAdapter = pgEnum('platform_adapter', ['sandbox', 'bridge', 'manual']);

/**
 * A creator's account on a fan platform and how we reach it (SPEC §3): the adapter, the account's
 * rate limit, and its secrets, sealed with CREDENTIALS_KEY (lib/crypto.ts). The webhook secret signs
 * inbound events (and, for a bridge, our requests and its answers).
 */
export const platformConnections = pgTable(
  'platform_connections',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    creatorId: uuid('creator_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    platform: text('platform').notNull(),
    adapter: platformAdapter('adapter').notNull(),
    rateLimitMessages: integer('rate_limit_messages').notNull(),
    rateLimitSeconds: integer('rate_limit_seconds').notNull().default(60),
    // Adapter settings and credentials as sealed JSON (sandbox: account id and API key; bridge: its URL).
    credentialsSealed: text('credentials_sealed').notNull(),
    webhookSecretSealed: text('webhook_secret_sealed').notNull(),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('platform_connections_creator_platform_key').on(t.creatorId, t.platform)],
);

/** One thread per fan; the unread count is kept with it so the inbox list is one index scan. */
export const conversations = pgTable(
  'conversations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    creatorId: uuid('creator_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    fanId: uuid('fan_id')
      .notNull()
      .references(() => fans.id, { onDelete: 'cascade' }),
    platform: text('platform').notNull(),
    lastMessageAt: timestamp('last_message_at', { withTimezone: true }).notNull().defaultNow(),
    unreadCount: integer('unread_count').notNull().default(0),
    createdAt: createdAt(),
  },
  // `desc().nullsFirst()` is Postgres's own DESC order, the one `order by x desc` asks for: an index
  // built DESC NULLS LAST (drizzle's default) does not serve it, not even on a NOT NULL column.
  (t) => [
    uniqueIndex('conversations_creator_fan_key').on(t.creatorId, t.fanId),
    index('conversations_creator_last_message_idx').on(t.creatorId, t.lastMessageAt.desc().nullsFirst(), t.id),
  ],
);

export const messageDirection = pgEnum('message_direction', ['in', 'out']);
/**
 * Outgoing: queued → sending → sent; a transient failure is `failed` until its retry is due, a
 * permanent one (or too many attempts) is `dead` (the dead-letter state, retryable by the API);
 * `awaiting_operator` is a manual-adapter hand-off; `cancelled` when the fan was deleted or opted
 * out before the send. Incoming messages are `received`.
 */
export const messageStatus = pgEnum('message_status', [
  'received',
  'queued',
  'sending',
  'sent',
  'failed',
  'dead',
  'awaiting_operator',
  'cancelled',
]);

/** Messages in both directions; the outgoing ones are also the send queue's outbox. */
export const messages = pgTable(
  'messages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    creatorId: uuid('creator_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    fanId: uuid('fan_id')
      .notNull()
      .references(() => fans.id, { onDelete: 'cascade' }),
    platform: text('platform').notNull(),
    direction: messageDirection('direction').notNull(),
    status: messageStatus('status').notNull(),
    // Higher goes first: 1:1 messages default above campaign traffic (domain/outbox.ts PRIORITY).
    priority: smallint('priority').notNull().default(0),
    // Sent to the platform with every attempt, so a repeated attempt never delivers twice.
    idempotencyKey: text('idempotency_key').notNull(),
    text: text('text').notNull(),
    priceCents: integer('price_cents'),
    attachments: jsonb('attachments').$type<string[]>().notNull().default([]),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    // Not claimed before this instant (backoff after a transient failure).
    availableAt: timestamp('available_at', { withTimezone: true }).notNull().defaultNow(),
    queuedAt: timestamp('queued_at', { withTimezone: true }),
    sentAt: timestamp('sent_at', { withTimezone: true }),
    readAt: timestamp('read_at', { withTimezone: true }),
    platformMessageId: text('platform_message_id'),
    campaignId: uuid('campaign_id').references((): AnyPgColumn => campaigns.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('messages_creator_idempotency_key').on(t.creatorId, t.idempotencyKey),
    uniqueIndex('messages_platform_message_key')
      .on(t.creatorId, t.platform, t.platformMessageId)
      .where(sql`platform_message_id is not null`),
    // The outbox: the next due messages of a creator's platform by priority, then age.
    index('messages_outbox_idx')
      .on(t.creatorId, t.platform, t.priority.desc().nullsFirst(), t.queuedAt, t.id)
      .where(sql`status in ('queued', 'failed')`),
    index('messages_thread_idx').on(t.conversationId, t.createdAt.desc().nullsFirst(), t.id),
    // Lists by status, newest first (the dead-letter view), and the status counts.
    index('messages_creator_status_idx').on(t.creatorId, t.status, t.createdAt.desc().nullsFirst(), t.id),
    // When the next message in backoff is due.
    index('messages_outbox_due_idx').on(t.creatorId, t.platform, t.availableAt).where(sql`status in ('queued', 'failed')`),
    index('messages_creator_queued_idx').on(t.creatorId, t.queuedAt).where(sql`queued_at is not null`),
    index('messages_creator_sent_idx').on(t.creatorId, t.sentAt).where(sql`sent_at is not null`),
    index('messages_campaign_idx').on(t.campaignId, t.status).where(sql`campaign_id is not null`),
  ],
);

/**
 * Which send queues will run another batch for a platform without being signalled: the batch that
 * left due messages behind sets `awake_until` (its window plus a grace), the one that left none
 * clears it. An API send to an awake queue makes no Temporal call; both sides take the row's lock
 * (domain/messages.ts, activities/send-queue.ts) so a message is never left unsignalled.
 */
export const sendQueueAwake = pgTable(
  'send_queue_awake',
  {
    creatorId: uuid('creator_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    platform: text('platform').notNull(),
    awakeUntil: timestamp('awake_until', { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.creatorId, t.platform] })],
);

/** Inbound platform events already applied, by the platform's event id: a replay is a no-op. */
export const platformEvents = pgTable(
  'platform_events',
  {
    connectionId: uuid('connection_id')
      .notNull()
      .references(() => platformConnections.id, { onDelete: 'cascade' }),
    eventId: text('event_id').notNull(),
    type: text('type').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.connectionId, t.eventId] })],
);

export const revenueKind = pgEnum('revenue_kind', ['purchase', 'subscription', 'tip']);

/** The revenue ledger: one row per purchase or subscription, linked to the PPV message bought. */
export const revenueEvents = pgTable(
  'revenue_events',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    creatorId: uuid('creator_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    fanId: uuid('fan_id')
      .notNull()
      .references(() => fans.id, { onDelete: 'cascade' }),
    kind: revenueKind('kind').notNull(),
    amountCents: bigint('amount_cents', { mode: 'number' }).notNull(),
    messageId: uuid('message_id').references(() => messages.id, { onDelete: 'set null' }),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('revenue_events_creator_occurred_idx').on(t.creatorId, t.occurredAt),
    // A campaign's purchases (attribution), and the reference a deleted message clears.
    index('revenue_events_message_idx').on(t.messageId).where(sql`message_id is not null`),
  ],
);

export const campaignStatus = pgEnum('campaign_status', ['scheduled', 'running', 'paused', 'completed', 'cancelled']);

/**
 * A bulk or recurring send (SPEC §4). The audience is kept as given (explicit fan ids or a
 * segment); every run snapshots it into campaign_recipients when the run starts.
 */
export const campaigns = pgTable(
  'campaigns',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    creatorId: uuid('creator_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    content: text('content').notNull(),
    mediaUrls: jsonb('media_urls').$type<string[]>().notNull().default([]),
    priceCents: integer('price_cents'),
    audience: jsonb('audience').$type<CampaignAudience>().notNull(),
    status: campaignStatus('status').notNull(),
    sendAt: timestamp('send_at', { withTimezone: true }),
    // Runs started so far; run n's workflow is `campaign:<id>:<n>`.
    runs: integer('runs').notNull().default(0),
    // The recurring schedule as the creator set it (Temporal's `campaign-schedule:<id>` runs it).
    schedule: jsonb('schedule').$type<CampaignSchedule>(),
    // The last scheduled firing that started a run (Temporal's workflow id of the firing) and its
    // local wall-clock time: a firing seen again is not a second run, and neither is the same
    // local time repeated when the clocks go back.
    lastFiring: text('last_firing'),
    lastFiredLocal: text('last_fired_local'),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('campaigns_creator_created_idx').on(t.creatorId, t.createdAt.desc().nullsFirst(), t.id)],
);

export interface CampaignSegment {
  tags?: string[];
  minValueCents?: number;
  maxValueCents?: number;
  lastSeenAfter?: string;
  lastSeenBefore?: string;
  subscriptionTiers?: string[];
}
export interface CampaignSchedule {
  cron?: string;
  every?: string;
  timezone: string;
  startAt?: string;
  endAt?: string;
  maxRuns?: number;
}
export type CampaignAudience = { recipientIds: string[] } | { segment: CampaignSegment };

/**
 * One run's recipients, snapshotted at run start: one row per fan, so a fan is messaged at most
 * once per run. `skipReason` marks fans left out (opted out, deleted, not found); the message
 * carries the delivery state.
 */
export const campaignRecipients = pgTable(
  'campaign_recipients',
  {
    campaignId: uuid('campaign_id')
      .notNull()
      .references(() => campaigns.id, { onDelete: 'cascade' }),
    run: integer('run').notNull(),
    fanId: uuid('fan_id').notNull(),
    messageId: uuid('message_id').references(() => messages.id, { onDelete: 'set null' }),
    skipReason: text('skip_reason'),
  },
  (t) => [
    primaryKey({ columns: [t.campaignId, t.run, t.fanId] }),
    // Deleting a withdrawn message clears its recipient's reference through this.
    index('campaign_recipients_message_idx').on(t.messageId).where(sql`message_id is not null`),
    // The next recipients to hand to the send queue.
    index('campaign_recipients_pending_idx').on(t.campaignId, t.run, t.fanId).where(sql`message_id is null and skip_reason is null`),
  ],
);
