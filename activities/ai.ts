// Activities of the AI workflows (SPEC §5): drafting a reply suggestion through the LLM gateway
// and carrying out the decision on it. Each is idempotent: the draft is one business step of the
// gateway (a retry reads the stored answer), and every suggestion transition is conditional.
import { ApplicationFailure, log } from '@temporalio/activity';
import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { replySuggestions } from '../db/schema.js';
import type { DomainMetrics } from '../lib/metrics.js';
import { aiConfigOf, personaPrompt } from '../domain/ai-config.js';
import { DomainError } from '../domain/errors.js';
import { queueMessage, type SendQueueWaker } from '../domain/messages.js';
import type { OutboxConfig } from '../domain/outbox.js';
import {
  autoSendable,
  DRAFT_MAX_TOKENS,
  FAILURE,
  outcomeOf,
  parseDraft,
  type Suggestion,
  type SuggestionOutcome,
  threadOf,
  transitionSuggestion,
} from '../domain/reply-suggestions.js';
import { SuggestionDecisionRejected } from '../workflows/reply-suggestion.js';
import { createLlmGateway, type LlmGatewayConfig, LlmRefusal, LlmRequestRejected } from '../integrations/llm/gateway.js';

export interface AiActivityDeps {
  db: Db;
  config: LlmGatewayConfig & OutboxConfig;
  sendQueue: SendQueueWaker;
  metrics?: DomainMetrics;
}

export interface DraftOutcome {
  status: Suggestion['status'];
  /** The draft may be sent without a person (domain/reply-suggestions.ts autoSendable). */
  autoSend: boolean;
}

export type Decision =
  | { kind: 'approve'; decidedBy: string; text?: string; priceCents?: number | null }
  | { kind: 'reject'; decidedBy: string }
  | { kind: 'expire'; reason: string };

/** The failure type of an activity whose suggestion row does not exist: retrying cannot bring it back. */
export const SuggestionMissing = 'SuggestionMissing';

export function createAiActivities({ db, config, sendQueue, metrics }: AiActivityDeps) {
  const gateway = createLlmGateway({ db, config, metrics });

  const find = (id: string) => db.query.replySuggestions.findFirst({ where: (s, { eq }) => eq(s.id, id) });
  const current = async (id: string) => {
    const row = await find(id);
    if (!row) throw ApplicationFailure.nonRetryable(`suggestion ${id} does not exist`, SuggestionMissing);
    return row;
  };

  return {
    /** Drafts the reply from the thread in the persona; `drafting` → `ready` (or `refused`, `failed`). */
    async draftReplySuggestion({ suggestionId }: { suggestionId: string }): Promise<DraftOutcome> {
      const suggestion = await current(suggestionId);
      const aiConfig = await aiConfigOf(db, suggestion.creatorId);
      if (suggestion.status !== 'drafting') return { status: suggestion.status, autoSend: await autoSendable(db, aiConfig, suggestion) };

      const thread = await threadOf(db, suggestion.conversationId);
      let answer: Awaited<ReturnType<typeof gateway.complete>>;
      try {
        answer = await gateway.complete({
          creatorId: suggestion.creatorId,
          stepKey: `reply-suggestion:${suggestionId}:draft`,
          feature: 'reply_suggestion',
          messages: [{ role: 'system', content: personaPrompt(aiConfig) }, ...thread],
          maxTokens: DRAFT_MAX_TOKENS,
          json: true,
        });
      } catch (err) {
        if (!(err instanceof LlmRefusal || err instanceof LlmRequestRejected)) throw err;
        // A code, never the provider's message: it may say anything about our key or account.
        const [status, reason] =
          err instanceof LlmRefusal ? (['refused', err.reason] as const) : (['failed', FAILURE.llmRequestRejected] as const);
        const row = await transitionSuggestion(db, suggestionId, ['drafting'], { status, reason, decidedAt: sql`now()` });
        return { status: (row ?? (await current(suggestionId))).status, autoSend: false };
      }
      const draft = parseDraft(answer.content, answer.finishReason);
      const costMicrocents = answer.costMicrocents;
      const row = await transitionSuggestion(
        db,
        suggestionId,
        ['drafting'],
        draft
          ? { status: 'ready', draftText: draft.text, priceCents: draft.priceCents, costMicrocents }
          : { status: 'failed', reason: FAILURE.unusableDraft, costMicrocents, decidedAt: sql`now()` },
      );
      if (!row) {
        // Not drafting any more (the fan wrote again, a person rejected it): the call was paid all the same.
        await db.update(replySuggestions).set({ costMicrocents }).where(eq(replySuggestions.id, suggestionId));
        return { status: (await current(suggestionId)).status, autoSend: false };
      }
      return { status: row.status, autoSend: await autoSendable(db, aiConfig, row) };
    },

    /** The draft gave up (its attempts ran out): `drafting` → `failed`, so that no row stays drafting with no workflow. */
    async failReplySuggestion({ suggestionId, reason }: { suggestionId: string; reason: string }): Promise<Suggestion['status']> {
      const row = await transitionSuggestion(db, suggestionId, ['drafting'], { status: 'failed', reason, decidedAt: sql`now()` });
      return (row ?? (await find(suggestionId)))?.status ?? 'failed';
    },

    /**
     * Carries out a decision. Approval queues the reply at 1:1 priority under an id derived from the
     * suggestion, so a retry finds the message it queued rather than sending twice. A suggestion no
     * longer `ready` (expired or decided meanwhile) refuses an approval, and one no longer open a
     * rejection (SuggestionDecisionRejected: the API answers 409).
     */
    async decideReplySuggestion({ suggestionId, decision }: { suggestionId: string; decision: Decision }): Promise<SuggestionOutcome> {
      if (decision.kind !== 'approve') {
        const status = decision.kind === 'reject' ? ('rejected' as const) : ('expired' as const);
        const row = await transitionSuggestion(db, suggestionId, ['drafting', 'ready'], {
          status,
          decidedAt: sql`now()`,
          ...(decision.kind === 'reject' ? { decidedBy: decision.decidedBy } : { reason: decision.reason }),
        });
        if (row) return outcomeOf(row);
        const now = await current(suggestionId);
        // A retry of a rejection that went through answers as it did.
        if (decision.kind === 'reject' && !(now.status === 'rejected' && now.decidedBy === decision.decidedBy))
          throw ApplicationFailure.nonRetryable(`the suggestion is ${now.status}, not open`, SuggestionDecisionRejected);
        return outcomeOf(now);
      }
      const before = await current(suggestionId);
      const approved =
        (await transitionSuggestion(db, suggestionId, ['ready'], {
          status: 'approved',
          sentText: decision.text ?? before.draftText,
          priceCents: decision.priceCents === undefined ? before.priceCents : decision.priceCents,
          decidedBy: decision.decidedBy,
          decidedAt: sql`now()`,
        })) ?? before;
      if (approved.status !== 'approved')
        throw ApplicationFailure.nonRetryable(`the suggestion is ${approved.status}, not ready`, SuggestionDecisionRejected);
      if (approved.sentMessageId) return outcomeOf(approved);
      try {
        const { message } = await queueMessage({ db, config, sendQueue, log }, approved.creatorId, {
          fanId: approved.fanId,
          text: approved.sentText!,
          priceCents: approved.priceCents ?? undefined,
          priority: 'normal',
          idempotency: { scope: 'reply-suggestion', key: suggestionId },
        });
        return outcomeOf(
          (await transitionSuggestion(db, suggestionId, ['approved'], { sentMessageId: message.id })) ?? (await current(suggestionId)),
        );
      } catch (err) {
        // The fan left or opted out after the draft: nothing will ever send it.
        if (!(err instanceof DomainError) || err.kind === 'unavailable') throw err;
        return outcomeOf(
          (await transitionSuggestion(db, suggestionId, ['approved'], { status: 'failed', reason: err.message })) ??
            (await current(suggestionId)),
        );
      }
    },
  };
}

export type AiActivities = ReturnType<typeof createAiActivities>;
