// Reply suggestions (SPEC §5): drafts in the creator's persona that reach a fan only through a
// person's approval (or auto-reply, when the creator turned it on). The row is the audit trail: the
// model's draft, the text sent, who decided, what it cost. Its `reply-suggestion:<id>` workflow
// (workflows/reply-suggestion.ts) drives it; every transition here is conditional on the state it
// leaves, so a retried activity or a late decision changes nothing twice.
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import type { Db } from '../db/client.js';
import { conversations, messages, replySuggestions } from '../db/schema.js';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { aiConfigOf } from './ai-config.js';
import { type BudgetDefaults, fitsBudget } from './llm-budget.js';
import { notFoundError } from './errors.js';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type Suggestion = typeof replySuggestions.$inferSelect;
export type SuggestionStatus = Suggestion['status'];

/** What a decision left, as the workflow and the API see it (JSON-safe). */
export interface SuggestionOutcome {
  status: SuggestionStatus;
  sentMessageId: string | null;
  reason: string | null;
}
export const outcomeOf = (s: Suggestion): SuggestionOutcome => ({ status: s.status, sentMessageId: s.sentMessageId, reason: s.reason });

/** A suggestion nobody decided on expires after this (SPEC §5). */
export const SUGGESTION_TTL_MS = 24 * 3600_000;
/** Messages of the thread a draft reads, newest last. */
export const THREAD_MESSAGES = 20;
export const DRAFT_MAX_TOKENS = 300;

/** A new suggestion for the creator's conversation; not found when the conversation is not theirs. */
export async function createSuggestion(
  db: Db,
  creatorId: string,
  conversationId: string,
  trigger: 'person' | 'inbound',
): Promise<Suggestion> {
  const conversation = await db.query.conversations.findFirst({
    where: and(eq(conversations.id, conversationId), eq(conversations.creatorId, creatorId)),
    columns: { id: true, fanId: true },
  });
  if (!conversation) throw notFoundError('conversation');
  const [row] = await db
    .insert(replySuggestions)
    .values({
      creatorId,
      conversationId,
      fanId: conversation.fanId,
      trigger,
      expiresAt: sql`now() + ${SUGGESTION_TTL_MS} * interval '1 millisecond'`,
    })
    .returning();
  return row!;
}

export const suggestionOf = (db: Db, creatorId: string, id: string) =>
  db.query.replySuggestions.findFirst({ where: and(eq(replySuggestions.id, id), eq(replySuggestions.creatorId, creatorId)) });

export const suggestionsOf = (db: Db, creatorId: string, conversationId: string) =>
  db
    .select()
    .from(replySuggestions)
    .where(and(eq(replySuggestions.creatorId, creatorId), eq(replySuggestions.conversationId, conversationId)))
    .orderBy(desc(replySuggestions.createdAt), desc(replySuggestions.id))
    .limit(100);

/** `from` → the new state, only if still in `from`; the updated row, or undefined. */
export async function transitionSuggestion(
  db: Db,
  id: string,
  from: SuggestionStatus[],
  set: PgUpdateSetSource<typeof replySuggestions>,
): Promise<Suggestion | undefined> {
  const [row] = await db
    .update(replySuggestions)
    .set(set)
    .where(and(eq(replySuggestions.id, id), inArray(replySuggestions.status, from)))
    .returning();
  return row;
}

/** The fan wrote again: the open suggestions of the conversation no longer answer the thread. Their ids. */
export async function expireOnFanMessage(db: Db | Tx, conversationId: string): Promise<string[]> {
  const rows = await db
    .update(replySuggestions)
    .set({ status: 'expired', reason: 'the fan wrote again', decidedAt: sql`now()` })
    .where(and(eq(replySuggestions.conversationId, conversationId), inArray(replySuggestions.status, ['drafting', 'ready'])))
    .returning({ id: replySuggestions.id });
  return rows.map((r) => r.id);
}

/** The thread a draft answers: the last messages, oldest first, as chat turns (the fan is the user). */
export async function threadOf(db: Db, conversationId: string): Promise<{ role: 'user' | 'assistant'; content: string }[]> {
  const rows = await db
    .select({ direction: messages.direction, text: messages.text })
    .from(messages)
    .where(
      and(
        eq(messages.conversationId, conversationId),
        inArray(messages.status, ['received', 'sent', 'queued', 'sending', 'awaiting_operator']),
      ),
    )
    .orderBy(desc(messages.createdAt), desc(messages.id))
    .limit(THREAD_MESSAGES);
  return rows.reverse().map((r) => ({ role: r.direction === 'in' ? ('user' as const) : ('assistant' as const), content: r.text }));
}

/**
 * The model was asked for `{"text", "priceCents"}`; a model that answered in prose gives its whole
 * answer as a free message. A price that is not a non-negative integer is dropped.
 */
export function parseDraft(content: string): { text: string; priceCents: number | null } {
  try {
    const parsed = JSON.parse(content) as { text?: unknown; priceCents?: unknown };
    if (typeof parsed.text === 'string' && parsed.text.trim() !== '') {
      const price = parsed.priceCents;
      return {
        text: parsed.text.trim(),
        priceCents: typeof price === 'number' && Number.isSafeInteger(price) && price >= 0 ? price : null,
      };
    }
  } catch {
    // prose: below
  }
  return { text: content.trim(), priceCents: null };
}

export interface SuggestionProcess {
  start(s: { id: string; creatorId: string; expiresAt: Date }): Promise<void>;
  fanWrote(suggestionIds: string[]): Promise<void>;
}

type LlmPricing = BudgetDefaults & Pick<Config, 'LLM_PRICES' | 'LLM_MODEL'>;

/** Whether a draft's output alone still fits the budget: an early refusal, before any row or workflow. */
export const draftFitsBudget = (db: Db, config: LlmPricing, creatorId: string) =>
  fitsBudget(db, config, creatorId, (config.LLM_PRICES[config.LLM_MODEL]?.output ?? 0) * DRAFT_MAX_TOKENS);

/** A new suggestion and its workflow; a workflow that could not start leaves no row behind. */
export async function startSuggestion(
  db: Db,
  process: SuggestionProcess,
  creatorId: string,
  conversationId: string,
  trigger: 'person' | 'inbound',
): Promise<Suggestion> {
  const suggestion = await createSuggestion(db, creatorId, conversationId, trigger);
  try {
    await process.start(suggestion);
  } catch (err) {
    await db.delete(replySuggestions).where(eq(replySuggestions.id, suggestion.id));
    throw err;
  }
  return suggestion;
}

/**
 * After a new fan message is committed: the suggestions it expired end their workflows, and with
 * suggestOnInbound (and budget left for a draft) a new suggestion is drafted for it.
 */
export async function followFanMessage(
  deps: { db: Db; config: LlmPricing; process: SuggestionProcess; log: Pick<Logger, 'info'> },
  creatorId: string,
  fanMessage: { conversationId: string; expiredSuggestions: string[] },
): Promise<void> {
  const { db, config, process, log } = deps;
  await process.fanWrote(fanMessage.expiredSuggestions);
  if (!(await aiConfigOf(db, creatorId)).suggestOnInbound) return;
  if (!(await draftFitsBudget(db, config, creatorId))) {
    log.info({ creatorId, conversationId: fanMessage.conversationId }, 'no suggestion drafted: the AI budget is spent');
    return;
  }
  await startSuggestion(db, process, creatorId, fanMessage.conversationId, 'inbound');
}
