// AI (SPEC §5): LLM spend caps, every LLM call with its reservation and stored answer, the
// creator's persona, and reply suggestions with their audit trail.
import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, jsonb, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

import { users } from './accounts.js';
import { createdAt } from './columns.js';
import { fans } from './crm.js';
import { conversations, messages } from './messaging.js';

/** A creator's caps in cents per UTC day and month; without a row, the config's defaults apply. */
export const aiBudgets = pgTable('ai_budgets', {
  creatorId: uuid('creator_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  dailyCapCents: integer('daily_cap_cents').notNull(),
  monthlyCapCents: integer('monthly_cap_cents').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * reserved: the estimate holds budget while the call runs; settled: the provider's reported usage
 * is the cost and `result` the answer (a retry of the same step reads it, never calls again);
 * released: the call failed, or never settled and the sweep freed it; refused: over a cap.
 */
export const llmCallStatus = pgEnum('llm_call_status', ['reserved', 'settled', 'released', 'refused']);

/**
 * One business step's LLM call (integrations/llm/gateway.ts), keyed by (creator, step). Costs are
 * in millionths of a cent (a short call costs a fraction of a cent). Spend is counted from
 * `reserved_at`, the moment the budget was taken.
 */
export const llmCalls = pgTable(
  'llm_calls',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    creatorId: uuid('creator_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    stepKey: text('step_key').notNull(),
    feature: text('feature').notNull(),
    model: text('model').notNull(),
    status: llmCallStatus('status').notNull(),
    reservedMicrocents: bigint('reserved_microcents', { mode: 'number' }).notNull().default(0),
    costMicrocents: bigint('cost_microcents', { mode: 'number' }).notNull().default(0),
    promptTokens: integer('prompt_tokens'),
    completionTokens: integer('completion_tokens'),
    /** Provider requests made for this step (retries included); more than one means the provider may have billed more. */
    requests: integer('requests').notNull().default(0),
    result: jsonb('result').$type<{ content: string; finishReason: string }>(),
    lastError: text('last_error'),
    reservedAt: timestamp('reserved_at', { withTimezone: true }).notNull().defaultNow(),
    /** Renewed by every provider request of the step: the sweep releases only reservations nobody is using. */
    leasedAt: timestamp('leased_at', { withTimezone: true }).notNull().defaultNow(),
    settledAt: timestamp('settled_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('llm_calls_creator_step_key').on(t.creatorId, t.stepKey),
    index('llm_calls_creator_reserved_at_idx').on(t.creatorId, t.reservedAt),
    // The sweep's scan for reservations that never settled.
    index('llm_calls_open_idx').on(t.leasedAt).where(sql`status = 'reserved'`),
  ],
);

/** PUT /ai/config: the persona drafts are written in, and what may happen without a person. */
export const aiConfigs = pgTable('ai_configs', {
  creatorId: uuid('creator_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  persona: jsonb('persona').$type<Persona>().notNull(),
  customResponses: jsonb('custom_responses').$type<string[]>().notNull().default([]),
  autoReplyEnabled: boolean('auto_reply_enabled').notNull().default(false),
  autoReplyMaxPriceCents: integer('auto_reply_max_price_cents').notNull().default(0),
  suggestOnInbound: boolean('suggest_on_inbound').notNull().default(false),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export interface Persona {
  name: string;
  tone: string;
  style: string;
  language: string;
  boundaries: string[];
  emojis: boolean;
}

/**
 * drafting → ready → approved (sent through the outbox; `sentMessageId`), or rejected, expired (the
 * fan wrote again, or 24 h passed) or refused (over budget); failed when drafting gave up.
 */
export const suggestionStatus = pgEnum('suggestion_status', ['drafting', 'ready', 'approved', 'rejected', 'expired', 'refused', 'failed']);

export const replySuggestions = pgTable(
  'reply_suggestions',
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
    status: suggestionStatus('status').notNull().default('drafting'),
    /** What asked for it: 'person' (POST …/suggestions) or 'inbound' (suggestOnInbound). */
    trigger: text('trigger').notNull(),
    /** The model's draft, kept as written. */
    draftText: text('draft_text'),
    /** What was sent (a person may edit the draft). */
    sentText: text('sent_text'),
    priceCents: integer('price_cents'),
    costMicrocents: bigint('cost_microcents', { mode: 'number' }).notNull().default(0),
    /** The user who approved or rejected it, or 'auto-reply'. */
    decidedBy: text('decided_by'),
    decidedAt: timestamp('decided_at', { withTimezone: true }),
    sentMessageId: uuid('sent_message_id').references(() => messages.id, { onDelete: 'set null' }),
    reason: text('reason'),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [
    index('reply_suggestions_conversation_idx').on(t.conversationId, t.createdAt),
    index('reply_suggestions_open_idx').on(t.conversationId).where(sql`status in ('drafting', 'ready')`),
  ],
);
