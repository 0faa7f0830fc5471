// Accounts: users, sessions, email tokens, login attempts, the onboarding projection, idempotency
// keys, creator profiles and Stripe events.
import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  index,
  integer,
  primaryKey,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

import { createdAt } from './columns.js';

export const userRole = pgEnum('user_role', ['creator', 'operator', 'admin']);
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
    // The caller's user id ('anonymous' on public routes such as register), the route and its path parameters.
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
    // What produced it: 'llm' (the gateway, within budget) or 'rules' (the deterministic fallback).
    analysisSource: text('analysis_source'),
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

/**
 * Durable rate-limit counters (domain/rate-limits.ts): one row per key (`user:<id>`, `ip:<addr>`,
 * `register-email:<email>`, …) and fixed window, shared by every API instance. Rows of ended windows
 * are purged by the maintenance purge. UNLOGGED (edited into the migration): a counter is not worth a
 * WAL flush on every request, and losing the counts in a crash only resets the windows.
 */
export const rateLimitCounters = pgTable(
  'rate_limit_counters',
  {
    key: text('key').notNull(),
    windowStart: timestamp('window_start', { withTimezone: true }).notNull(),
    count: integer('count').notNull(),
  },
  (t) => [primaryKey({ columns: [t.key, t.windowStart] })],
);
