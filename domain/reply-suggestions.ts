// Reply suggestions (SPEC §5): drafts in the creator's persona that reach a fan only through a
// person's approval (or auto-reply, when the creator turned it on and the draft passes its checks).
// The row is the audit trail: the model's draft, the text sent, who decided, what it cost. Its
// `reply-suggestion:<id>` workflow (workflows/reply-suggestion.ts) drives it; every transition here
// is conditional on the state it leaves, so a retried activity or a late decision changes nothing twice.
import { randomUUID } from 'node:crypto';
import { and, asc, desc, eq, gte, inArray, isNull, type SQL, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import type { Db } from '../db/client.js';
import { conversations, fans, messages, replySuggestions } from '../db/schema.js';
import type { Config } from '../lib/config.js';
import { requestScopedId } from '../lib/crypto.js';
import type { Logger } from '../lib/logger.js';
import { type AiConfig, aiConfigOf } from './ai-config.js';
import { type BudgetDefaults, fitsBudget } from './llm-budget.js';
import { DomainError, notFoundError } from './errors.js';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type Suggestion = typeof replySuggestions.$inferSelect;
export type SuggestionStatus = Suggestion['status'];
export type SuggestionTrigger = 'person' | 'inbound';

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
/** Characters of the thread a draft reads, the newest kept: a fan's long messages cannot make a draft expensive. */
export const THREAD_MAX_CHARS = 8_000;
export const DRAFT_MAX_TOKENS = 300;
/** A draft is a message: at most MessageText's 5,000 characters, and a price PriceCents allows (else free). */
export const DRAFT_MAX_CHARS = 5_000;
export const DRAFT_MAX_PRICE_CENTS = 1_000_000;
/** Suggest-on-inbound drafts for a fan at most once a minute, and this many times a UTC day. */
export const INBOUND_DRAFT_SPACING_MS = 60_000;
export const INBOUND_DRAFTS_PER_FAN_PER_DAY = 20;
/** Auto-reply sends at most this many drafts per conversation per UTC day; the next ones wait for a person. */
export const AUTO_REPLIES_PER_CONVERSATION_PER_DAY = 20;

/** Reasons a suggestion ends `failed` (codes, never a provider's words). */
export const FAILURE = {
  /** The draft gave up: the provider (or the database) failed every attempt. */
  llmUnavailable: 'llm_unavailable',
  /** The provider refused the request itself (key, model, request). */
  llmRequestRejected: 'llm_request_rejected',
  /** The model's answer is not the JSON reply it was asked for. */
  unusableDraft: 'unusable_draft',
  /** Its workflow start failed or its answer never came; a retry with the same Idempotency-Key starts it again. */
  notStarted: 'not_started',
} as const;

/** The name space of suggestion ids derived from Idempotency-Keys (a fixed random UUID). */
const SUGGESTION_REQUEST_NAMESPACE = '5b0f3c9e-7d21-4a86-b3e4-9c1d2f6a8e70';

/**
 * The suggestion id of a POST …/suggestions with an Idempotency-Key (`scope`: the caller, route and
 * conversation the idempotency layer keys it by), so a request re-run after its first answer was
 * lost names the suggestion it created instead of drafting a second one.
 */
export const suggestionIdForRequest = (creatorId: string, request: { scope: string; key: string }): string =>
  requestScopedId(SUGGESTION_REQUEST_NAMESPACE, creatorId, `${request.scope}\n${request.key}`);

const fanOptedOut = () => new DomainError('unprocessable', 'fan_opted_out', 'this fan opted out of messages');
const lockInboundDrafts = (tx: Tx, conversationId: string) =>
  tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`reply-suggestion-inbound:${conversationId}`}, 0))`);

/**
 * A new suggestion for the creator's conversation with a live fan (not found otherwise), under `id`.
 * A person's request for a fan who opted out is refused (422 fan_opted_out). An inbound one is not
 * created (undefined) for such a fan, nor within a minute of the conversation's last inbound draft,
 * nor past the fan's daily count (a conversation is one fan's: unique per creator and fan); the
 * check and the insert are serialised per conversation. A row with `id` already there (a retried
 * request) is returned as it is.
 */
export async function createSuggestion(
  db: Db,
  creatorId: string,
  conversationId: string,
  trigger: SuggestionTrigger,
  id: string = randomUUID(),
): Promise<Suggestion | undefined> {
  return db.transaction(async (tx) => {
    const [conversation] = await tx
      .select({ fanId: conversations.fanId, optedOutAt: fans.optedOutAt })
      .from(conversations)
      .innerJoin(fans, eq(fans.id, conversations.fanId))
      .where(and(eq(conversations.id, conversationId), eq(conversations.creatorId, creatorId), isNull(fans.deletedAt)));
    if (!conversation) throw notFoundError('conversation');
    if (conversation.optedOutAt) {
      if (trigger === 'inbound') return undefined;
      throw fanOptedOut();
    }
    if (trigger === 'inbound') {
      await lockInboundDrafts(tx, conversationId);
      const [recent] = await tx
        .select({
          today: sql<number>`count(*)::int`,
          lastMinute: sql<number>`(count(*) filter (where ${replySuggestions.createdAt} > now() - make_interval(secs => ${INBOUND_DRAFT_SPACING_MS / 1000})))::int`,
        })
        .from(replySuggestions)
        .where(
          and(
            eq(replySuggestions.conversationId, conversationId),
            eq(replySuggestions.trigger, 'inbound'),
            gte(replySuggestions.createdAt, sql`date_trunc('day', now(), 'UTC')`),
          ),
        );
      if ((recent?.lastMinute ?? 0) > 0 || (recent?.today ?? 0) >= INBOUND_DRAFTS_PER_FAN_PER_DAY) return undefined;
    }
    const [row] = await tx
      .insert(replySuggestions)
      .values({
        id,
        creatorId,
        conversationId,
        fanId: conversation.fanId,
        trigger,
        expiresAt: sql`now() + ${SUGGESTION_TTL_MS} * interval '1 millisecond'`,
      })
      .onConflictDoNothing()
      .returning();
    if (row) return row;
    const existing = await tx.query.replySuggestions.findFirst({ where: eq(replySuggestions.id, id) });
    // The id derives from the caller, the route with its conversation, and the key: anything else is a key reused.
    if (existing?.creatorId !== creatorId || existing.conversationId !== conversationId)
      throw new DomainError('unprocessable', 'idempotency_key_reused', 'this Idempotency-Key was used for another suggestion');
    return existing;
  });
}

export const suggestionOf = (db: Db, creatorId: string, id: string) =>
  db.query.replySuggestions.findFirst({ where: and(eq(replySuggestions.id, id), eq(replySuggestions.creatorId, creatorId)) });

/**
 * A page of the conversation's suggestions, newest first (`created_at desc, id`), with each one's
 * created_at as Postgres prints it (the cursor's value); `after` is the keyset condition of the page.
 */
export const suggestionsOf = (db: Db, creatorId: string, conversationId: string, limit: number, after?: SQL) =>
  db
    .select({ s: replySuggestions, key: sql<string>`${replySuggestions.createdAt}::text` })
    .from(replySuggestions)
    .where(and(eq(replySuggestions.creatorId, creatorId), eq(replySuggestions.conversationId, conversationId), after))
    .orderBy(desc(replySuggestions.createdAt), asc(replySuggestions.id))
    .limit(limit);

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

/**
 * A fan's message as the model reads it: a JSON string, so that nothing in it can pass for the
 * prompt's own text (the system prompt says these are data, never instructions).
 */
export const quoteFan = (text: string) => JSON.stringify(text);

/**
 * The thread a draft answers, oldest first, as chat turns (the fan is the user, quoted): the last
 * THREAD_MESSAGES messages within THREAD_MAX_CHARS, the newest always (cut to the limit) and older
 * ones while they fit whole.
 */
export async function threadOf(db: Db, conversationId: string): Promise<{ role: 'user' | 'assistant'; content: string }[]> {
  const rows = await db
    .select({ direction: messages.direction, text: messages.text, priceCents: messages.priceCents })
    .from(messages)
    .where(
      and(
        eq(messages.conversationId, conversationId),
        inArray(messages.status, ['received', 'sent', 'queued', 'sending', 'awaiting_operator']),
      ),
    )
    .orderBy(desc(messages.createdAt), desc(messages.id))
    .limit(THREAD_MESSAGES);
  const kept: typeof rows = [];
  let chars = 0;
  for (const r of rows) {
    if (kept.length > 0 && chars + r.text.length > THREAD_MAX_CHARS) break;
    const text = r.text.slice(0, THREAD_MAX_CHARS);
    kept.push({ ...r, text });
    chars += text.length;
  }
  return kept.reverse().map((r) =>
    // The creator's own turns in the shape the model must answer in, so that it keeps to it.
    r.direction === 'in'
      ? { role: 'user' as const, content: quoteFan(r.text) }
      : { role: 'assistant' as const, content: JSON.stringify({ text: r.text, priceCents: r.priceCents }) },
  );
}

export interface Draft {
  text: string;
  priceCents: number | null;
}

/**
 * The model was asked for `{"text", "priceCents"}`. Only that is a draft: a finished answer (not
 * cut at max_tokens), a JSON object with no other keys, a non-empty text a message can carry
 * (≤ 5,000 characters, no NUL). A price that is not a whole number of cents within PriceCents'
 * range is dropped (a free message). Anything else is undefined: the suggestion fails.
 */
export function parseDraft(content: string, finishReason: string): Draft | undefined {
  if (finishReason !== 'stop') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { text, priceCents, ...others } = parsed as Record<string, unknown>;
  if (Object.keys(others).length > 0 || typeof text !== 'string') return undefined;
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.includes('\u0000') || [...trimmed].length > DRAFT_MAX_CHARS) return undefined;
  const price =
    typeof priceCents === 'number' && Number.isSafeInteger(priceCents) && priceCents >= 0 && priceCents <= DRAFT_MAX_PRICE_CENTS
      ? priceCents
      : null;
  return { text: trimmed, priceCents: price };
}

/** Characters a phone number's digits may be written with between them (emoji keycaps included). */
const PHONE_SEPARATORS = new Set([' ', '-', '.', ',', '_', '(', ')', '+', '/', '\uFE0F', '\u20E3']);
const DIGIT = /\p{Nd}/u;
/** Digits in one run that look like a phone number (prices and counts have fewer). */
const PHONE_DIGITS = 7;
/** Invisible characters (format and control, but the line break): they only serve to hide something from a check. */
const INVISIBLE = /\p{Cf}|\p{Cc}|\u034F|[\u115F\u1160\u3164\uFFA0]/u;
/** Where a fan is told to go elsewhere: apps and networks by name. */
const OFF_PLATFORM =
  /\b(?:insta(?:gram)?|ig|snap(?:chat)?|telegram|whats ?app|signal|kik|discord|tiktok|twitter|onlyfans|fansly|paypal|cash ?app|venmo)\b/iu;

/**
 * Whether a text may carry a way off the platform: an invisible character, a URL or a domain (a
 * dot before two letters of any script, without a space after it alone), an email address or an @handle, an app
 * named, or a phone-number-like run of digits. Deliberately broad (a false alarm only means a
 * person decides) and linear: one NFKC pass (full-width letters fold to ASCII), regexes without
 * nested quantifiers, one scan for digits. docs/SECURITY.md says what it cannot catch.
 */
export function hasContactDetails(text: string): boolean {
  const t = text.normalize('NFKC');
  if (INVISIBLE.test(t.replaceAll('\n', ' '))) return true;
  // A dot between letters, or with a space before it ("mia . example"); not a sentence's end ("pics. Love").
  if (/https?:|www\.|[\p{L}\p{N}-](?:\.| \. ?)\p{L}{2}|@[\p{L}\p{N}_]/iu.test(t) || OFF_PLATFORM.test(t)) return true;
  let digits = 0;
  for (const ch of t) {
    if (DIGIT.test(ch)) {
      if (++digits >= PHONE_DIGITS) return true;
    } else if (!PHONE_SEPARATORS.has(ch)) digits = 0;
  }
  return false;
}

/** Auto-replies sent in the conversation since the start of the UTC day. */
async function autoRepliesToday(db: Db, conversationId: string): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(replySuggestions)
    .where(
      and(
        eq(replySuggestions.conversationId, conversationId),
        eq(replySuggestions.decidedBy, 'auto-reply'),
        gte(replySuggestions.decidedAt, sql`date_trunc('day', now(), 'UTC')`),
      ),
    );
  return row?.n ?? 0;
}

/**
 * Whether a ready draft may go to the fan without a person: auto-reply is on, its price (0 when
 * free) is within the limit, it carries no contact details, and the conversation has not had its
 * day's auto-replies. A fan can make the model write anything; these bound what reaches them unread.
 */
export async function autoSendable(db: Db, config: AiConfig, s: Suggestion): Promise<boolean> {
  return (
    config.autoReply.enabled &&
    s.status === 'ready' &&
    s.draftText !== null &&
    (s.priceCents ?? 0) <= config.autoReply.maxPriceCents &&
    !hasContactDetails(s.draftText) &&
    (await autoRepliesToday(db, s.conversationId)) < AUTO_REPLIES_PER_CONVERSATION_PER_DAY
  );
}

export interface SuggestionProcess {
  /** Starts its workflow; `replace` ends a run left by an earlier start whose outcome was in doubt. */
  start(s: { id: string; creatorId: string; expiresAt: Date }, options?: { replace?: boolean }): Promise<void>;
  fanWrote(suggestionIds: string[]): Promise<void>;
}

type LlmPricing = BudgetDefaults & Pick<Config, 'LLM_PRICES' | 'LLM_MODEL'>;

/** Whether a draft's output alone still fits the budget: an early refusal, before any row or workflow. */
export const draftFitsBudget = (db: Db, config: LlmPricing, creatorId: string) =>
  fitsBudget(db, config, creatorId, (config.LLM_PRICES[config.LLM_MODEL]?.output ?? 0) * DRAFT_MAX_TOKENS);

/**
 * A new suggestion (or the one of a retried request, `id`) and its workflow. A retried request's
 * suggestion that went on without it starts nothing. A start that fails, or whose answer never
 * came, leaves the row `failed` (not_started) rather than deleting it: the start may have reached
 * Temporal, and that workflow then finds the row failed and ends without calling the model. A
 * retry with the same Idempotency-Key takes it up again (`drafting`, replacing any such run).
 */
export async function startSuggestion(
  db: Db,
  process: SuggestionProcess,
  creatorId: string,
  conversationId: string,
  trigger: SuggestionTrigger,
  id?: string,
): Promise<Suggestion | undefined> {
  let suggestion = await createSuggestion(db, creatorId, conversationId, trigger, id);
  if (!suggestion) return undefined;
  const retried = suggestion.status === 'failed' && suggestion.reason === FAILURE.notStarted;
  if (retried)
    suggestion =
      (await transitionSuggestion(db, suggestion.id, ['failed'], { status: 'drafting', reason: null, decidedAt: null })) ?? suggestion;
  if (suggestion.status !== 'drafting') return suggestion;
  try {
    await process.start(suggestion, { replace: retried });
  } catch (err) {
    await transitionSuggestion(db, suggestion.id, ['drafting'], { status: 'failed', reason: FAILURE.notStarted, decidedAt: sql`now()` });
    throw err;
  }
  return suggestion;
}

/**
 * After a new fan message is committed: the suggestions it expired end their workflows, and with
 * suggestOnInbound (budget left, the fan not opted out, not too soon or too often) a new suggestion
 * is drafted for it, whether or not the signals went through. A failed signal is thrown afterwards.
 */
export async function followFanMessage(
  deps: { db: Db; config: LlmPricing; process: SuggestionProcess; log: Pick<Logger, 'info'> },
  creatorId: string,
  fanMessage: { conversationId: string; expiredSuggestions: string[] },
): Promise<void> {
  const { db, config, process, log } = deps;
  const draft = async () => {
    if (!(await aiConfigOf(db, creatorId)).suggestOnInbound) return;
    if (!(await draftFitsBudget(db, config, creatorId))) {
      log.info({ creatorId, conversationId: fanMessage.conversationId }, 'no suggestion drafted: the AI budget is spent');
      return;
    }
    await startSuggestion(db, process, creatorId, fanMessage.conversationId, 'inbound');
  };
  const results = await Promise.allSettled([process.fanWrote(fanMessage.expiredSuggestions), draft()]);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}
