// Activities of the AI workflows (SPEC §5): drafting a reply suggestion through the LLM gateway
// and carrying out the decision on it. Each is idempotent: the draft is one business step of the
// gateway (a retry reads the stored answer), and every suggestion transition is conditional.
import { ApplicationFailure, log } from '@temporalio/activity';
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import type { DomainMetrics } from '../lib/metrics.js';
import { aiConfigOf, personaPrompt } from '../domain/ai-config.js';
import { DomainError } from '../domain/errors.js';
import { queueMessage, type SendQueueWaker } from '../domain/messages.js';
import type { OutboxConfig } from '../domain/outbox.js';
import {
  DRAFT_MAX_TOKENS,
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
  /** Auto-reply is on and the draft's price is within its limit: send without a person. */
  autoSend: boolean;
}

export type Decision =
  | { kind: 'approve'; decidedBy: string; text?: string; priceCents?: number | null }
  | { kind: 'reject'; decidedBy: string }
  | { kind: 'expire'; reason: string };

export function createAiActivities({ db, config, sendQueue, metrics }: AiActivityDeps) {
  const gateway = createLlmGateway({ db, config, metrics });

  const current = async (id: string) => (await db.query.replySuggestions.findFirst({ where: (s, { eq }) => eq(s.id, id) }))!;

  return {
    /** Drafts the reply from the thread in the persona; `drafting` → `ready` (or `refused`, `failed`). */
    async draftReplySuggestion({ suggestionId }: { suggestionId: string }): Promise<DraftOutcome> {
      const suggestion = await current(suggestionId);
      const aiConfig = await aiConfigOf(db, suggestion.creatorId);
      const autoSend = (s: Suggestion) => aiConfig.autoReply.enabled && (s.priceCents ?? 0) <= aiConfig.autoReply.maxPriceCents;
      if (suggestion.status !== 'drafting')
        return { status: suggestion.status, autoSend: suggestion.status === 'ready' && autoSend(suggestion) };

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
        const status = err instanceof LlmRefusal ? ('refused' as const) : ('failed' as const);
        const reason = err instanceof LlmRefusal ? err.reason : err.message;
        const row = await transitionSuggestion(db, suggestionId, ['drafting'], { status, reason, decidedAt: sql`now()` });
        return { status: row?.status ?? (await current(suggestionId)).status, autoSend: false };
      }
      const draft = parseDraft(answer.content);
      const ready = await transitionSuggestion(db, suggestionId, ['drafting'], {
        status: 'ready',
        draftText: draft.text,
        priceCents: draft.priceCents,
        costMicrocents: answer.costMicrocents,
      });
      // Not drafting any more: the fan wrote again meanwhile, and it expired.
      if (!ready) return { status: (await current(suggestionId)).status, autoSend: false };
      return { status: 'ready', autoSend: autoSend(ready) };
    },

    /**
     * Carries out a decision. Approval queues the reply at 1:1 priority under an id derived from the
     * suggestion, so a retry finds the message it queued rather than sending twice. A suggestion no
     * longer `ready` (expired or decided meanwhile) refuses the approval.
     */
    async decideReplySuggestion({ suggestionId, decision }: { suggestionId: string; decision: Decision }): Promise<SuggestionOutcome> {
      if (decision.kind !== 'approve') {
        const status = decision.kind === 'reject' ? ('rejected' as const) : ('expired' as const);
        const row = await transitionSuggestion(db, suggestionId, ['drafting', 'ready'], {
          status,
          decidedAt: sql`now()`,
          ...(decision.kind === 'reject' ? { decidedBy: decision.decidedBy } : { reason: decision.reason }),
        });
        return outcomeOf(row ?? (await current(suggestionId)));
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
