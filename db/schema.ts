// Domain data (system of record). Process progress lives in Temporal; the onboarding
// projection below is what the API reads so reads never depend on workflow history.
import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  bigserial,
  boolean,
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

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

export const userRole = pgEnum('user_role', ['creator', 'operator', 'admin']);
export const importStatus = pgEnum('import_status', ['queued', 'running', 'completed', 'failed']);
export const creatorStatus = pgEnum('creator_status', ['onboarding', 'active', 'restricted']);
export const emailTokenPurpose = pgEnum('email_token_purpose', ['verify_email', 'reset_password']);

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    // Stored lower-cased; the unique index enforces one account per address.
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    name: text('name'),
    role: userRole('role').notNull().default('creator'),
    locale: text('locale').notNull().default('en'),
    timezone: text('timezone').notNull().default('UTC'),
    emailVerifiedAt: timestamp('email_verified_at', { withTimezone: true }),
    termsVersion: text('terms_version'),
    termsAcceptedAt: timestamp('terms_accepted_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('users_email_key').on(t.email)],
);

/** Refresh tokens rotate inside a family; replaying a dead one revokes the whole family. */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    familyId: uuid('family_id').notNull(),
    tokenHash: text('token_hash').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    // Set when the token is exchanged for a new one (rotation) ...
    usedAt: timestamp('used_at', { withTimezone: true }),
    // ... or when its family is revoked (logout, reuse detected, password reset).
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('refresh_tokens_hash_key').on(t.tokenHash),
    index('refresh_tokens_family_idx').on(t.familyId),
    index('refresh_tokens_user_idx').on(t.userId),
    index('refresh_tokens_expires_idx').on(t.expiresAt),
  ],
);

/** Email verification and password reset tokens: only the SHA-256 of the token is stored. */
export const emailTokens = pgTable(
  'email_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: emailTokenPurpose('purpose').notNull(),
    tokenHash: text('token_hash').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true }),
    // A newer token of the same purpose makes the older ones dead.
    invalidatedAt: timestamp('invalidated_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('email_tokens_hash_key').on(t.tokenHash),
    index('email_tokens_user_purpose_idx').on(t.userId, t.purpose, t.createdAt),
    index('email_tokens_expires_idx').on(t.expiresAt),
  ],
);

/** Every login attempt, successful or not; the throttle reads it. */
export const loginAttempts = pgTable(
  'login_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    email: text('email').notNull(),
    userId: uuid('user_id'),
    ip: text('ip').notNull(),
    success: boolean('success').notNull(),
    // 'pending' (being checked) | 'ok' | 'invalid_credentials' | 'throttled_account' | 'throttled_ip'
    outcome: text('outcome').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('login_attempts_email_idx').on(t.email, t.createdAt), index('login_attempts_ip_idx').on(t.ip, t.createdAt)],
);

export type OnboardingStepRecord = { name: string; status: 'pending' | 'current' | 'done' | 'expired'; at: string | null };

/** Projection of the onboarding workflow, written only by its activities. */
export const onboardingStatus = pgTable('onboarding_status', {
  userId: uuid('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  workflowId: text('workflow_id').notNull(),
  // First run id of the execution chain: versions restart when an operator restarts the workflow.
  executionId: text('execution_id').notNull(),
  step: text('step').notNull(),
  completed: boolean('completed').notNull().default(false),
  steps: jsonb('steps').$type<OnboardingStepRecord[]>().notNull().default(sql`'[]'::jsonb`),
  // Monotonic per workflow: a retried or late projection never overwrites a newer one.
  version: integer('version').notNull().default(0),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Idempotency-Key replay store (SPEC §1): the first response to a key is replayed for 24 h. */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    // The caller's user id, or 'anonymous' on public routes such as register.
    scope: text('scope').notNull(),
    key: text('key').notNull(),
    route: text('route').notNull(),
    requestHash: text('request_hash').notNull(),
    // Null while the first request is still being handled.
    statusCode: integer('status_code'),
    responseBody: text('response_body'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key] }), index('idempotency_keys_created_idx').on(t.createdAt)],
);

export interface StripeRequirements {
  currentlyDue: string[];
  eventuallyDue: string[];
  disabledReason: string | null;
}

/** A creator's business profile: the Stripe Connect account as last read, and activation. */
export const creatorProfiles = pgTable(
  'creator_profiles',
  {
    userId: uuid('user_id')
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    status: creatorStatus('status').notNull().default('onboarding'),
    stripeAccountId: text('stripe_account_id'),
    detailsSubmitted: boolean('details_submitted').notNull().default(false),
    chargesEnabled: boolean('charges_enabled').notNull().default(false),
    payoutsEnabled: boolean('payouts_enabled').notNull().default(false),
    requirements: jsonb('requirements')
      .$type<StripeRequirements>()
      .notNull()
      .default(sql`'{"currentlyDue":[],"eventuallyDue":[],"disabledReason":null}'::jsonb`),
    // Set when Stripe reports the platform's access to the account revoked.
    deauthorizedAt: timestamp('deauthorized_at', { withTimezone: true }),
    stripeSyncedAt: timestamp('stripe_synced_at', { withTimezone: true }),
    activatedAt: timestamp('activated_at', { withTimezone: true }),
    restrictedAt: timestamp('restricted_at', { withTimezone: true }),
    // What the creator declares about their business (PUT /creator/profile); inputs of the analysis.
    niche: text('niche'),
    subscriptionPriceCents: integer('subscription_price_cents'),
    declaredFanCount: integer('declared_fan_count'),
    // Marketing analysis (started in the background at activation).
    accountSize: text('account_size'),
    pricingTier: text('pricing_tier'),
    contentCategories: text('content_categories').array(),
    analysedAt: timestamp('analysed_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('creator_profiles_stripe_account_key').on(t.stripeAccountId)],
);

/** Every Stripe webhook event, stored once by id: duplicates are acknowledged and ignored. */
export const stripeEvents = pgTable(
  'stripe_events',
  {
    id: text('id').primaryKey(),
    type: text('type').notNull(),
    accountId: text('account_id'),
    payload: jsonb('payload').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
    // When the event was handed to its onboarding workflow (or found to need no routing); null until
    // then: a redelivery routes it again and the onboarding sweep routes stale ones.
    routedAt: timestamp('routed_at', { withTimezone: true }),
  },
  (t) => [
    index('stripe_events_account_idx').on(t.accountId, t.receivedAt),
    index('stripe_events_unrouted_idx').on(t.receivedAt).where(sql`routed_at is null`),
  ],
);

/**
 * A creator's fans (SPEC §3). Every CRM row carries its creator and every query is scoped by it.
 * Delete is soft: the row stays for history and attribution but is hidden and never messaged.
 */
export const fans = pgTable(
  'fans',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    creatorId: uuid('creator_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    platform: text('platform').notNull().default('onlyfans'),
    handle: text('handle').notNull(),
    name: text('name'),
    email: text('email'),
    avatarUrl: text('avatar_url'),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    // Lifetime spend; bigint because a whale's lifetime value can pass 2^31 cents.
    valueCents: bigint('value_cents', { mode: 'number' }).notNull().default(0),
    subscriptionTier: text('subscription_tier'),
    notes: text('notes'),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }),
    optedOutAt: timestamp('opted_out_at', { withTimezone: true }),
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // Among live fans only: a deleted fan's handle can be added again.
    uniqueIndex('fans_creator_platform_handle_key').on(t.creatorId, t.platform, t.handle).where(sql`deleted_at is null`),
    // One index per list order (keyset pagination: sort value, then id).
    // DESC NULLS FIRST is Postgres's own DESC: the order `order by value_cents desc` asks for.
    index('fans_creator_value_idx').on(t.creatorId, t.valueCents.desc().nullsFirst(), t.id),
    index('fans_creator_last_seen_idx').on(t.creatorId, t.lastSeenAt.desc().nullsLast(), t.id),
    index('fans_creator_created_idx').on(t.creatorId, t.createdAt, t.id),
    index('fans_tags_idx').using('gin', t.tags),
    // Substring search on name or handle (`ilike '%…%'`) through trigrams instead of a scan.
    index('fans_name_trgm_idx').using('gin', sql`${t.name} gin_trgm_ops`),
    index('fans_handle_trgm_idx').using('gin', sql`${t.handle} gin_trgm_ops`),
  ],
);

/**
 * A CSV import of fans (SPEC §3), run by the `csv-import:<id>` workflow in chunks. The checkpoint
 * (byte offset of the next record, rows done, counts) is committed with each chunk's upserts, so
 * a crash repeats at most the chunk in flight and never counts or writes a row twice.
 */
export const fanImports = pgTable(
  'fan_imports',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    creatorId: uuid('creator_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    status: importStatus('status').notNull().default('queued'),
    fileName: text('file_name'),
    filePath: text('file_path').notNull(),
    fileBytes: bigint('file_bytes', { mode: 'number' }).notNull(),
    // Column index of each field, from the header (null until the header is read).
    columns: jsonb('columns').$type<Record<string, number | undefined>>(),
    byteOffset: bigint('byte_offset', { mode: 'number' }).notNull().default(0),
    processedRows: integer('processed_rows').notNull().default(0),
    inserted: integer('inserted').notNull().default(0),
    updated: integer('updated').notNull().default(0),
    skipped: integer('skipped').notNull().default(0),
    errorCount: integer('error_count').notNull().default(0),
    failureReason: text('failure_reason'),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
  },
  (t) => [index('fan_imports_creator_idx').on(t.creatorId, t.createdAt)],
);

/** Rejected rows of an import: row numbers as a spreadsheet shows them (the header is row 1). */
export const fanImportErrors = pgTable(
  'fan_import_errors',
  {
    importId: uuid('import_id')
      .notNull()
      .references(() => fanImports.id, { onDelete: 'cascade' }),
    row: integer('row').notNull(),
    error: text('error').notNull(),
  },
  (t) => [primaryKey({ columns: [t.importId, t.row] })],
);

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

export const revenueKind = pgEnum('revenue_kind', ['purchase', 'subscription']);

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
