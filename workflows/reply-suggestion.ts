// `reply-suggestion:<id>`: one suggested reply to a fan (SPEC §5). Drafts it through the LLM
// gateway within the creator's budget, then waits for a person: approve (the reply goes through
// the send queue at 1:1 priority, as written or edited) or reject. It expires when the fan writes
// again (signal `fanWrote`, after the API marked it in Postgres) or after 24 hours (a durable
// timer). With auto-reply on and the draft within its limits, it sends without waiting. A draft
// that gives up (provider outage, database errors through every attempt) fails the suggestion.
// Postgres holds the suggestion's state; the decisions are Updates so that the API answers with
// what happened, and each is carried out by an idempotent activity.
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  defineSignal,
  defineUpdate,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { AiActivities, Decision, DraftOutcome } from '../activities/ai.js';
import type { SuggestionOutcome } from '../domain/reply-suggestions.js';

/** The failure type of a decision the workflow refuses (validators), and of one Postgres refuses (the activity). */
export const SuggestionDecisionRejected = 'SuggestionDecisionRejected';

const { draftReplySuggestion } = proxyActivities<AiActivities>({
  // The LLM request's timeout (60 s by default) times the SDK's own retries, with room. Each attempt
  // already retries the provider (LLM_MAX_RETRIES); a few more over seconds, then the suggestion
  // fails (`llm_unavailable`) and a person can ask again, rather than a draft arriving much later.
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 4 },
});
const { decideReplySuggestion, failReplySuggestion } = proxyActivities<AiActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes: [SuggestionDecisionRejected] },
});

export const replySuggestionWorkflowId = (suggestionId: string) => `reply-suggestion:${suggestionId}`;

export interface ApproveInput {
  decidedBy: string;
  text?: string;
  priceCents?: number | null;
}
export const approveSuggestionUpdate = defineUpdate<SuggestionOutcome, [ApproveInput]>('approve');
export const rejectSuggestionUpdate = defineUpdate<SuggestionOutcome, [{ decidedBy: string }]>('reject');
export const fanWroteSignal = defineSignal('fanWrote');

const DONE = { approve: 'approved', reject: 'rejected', expire: 'expired' } as const;

export async function replySuggestionWorkflow({ suggestionId, expiresAt }: { suggestionId: string; expiresAt: number }): Promise<string> {
  let drafted: DraftOutcome | undefined;
  let fanWrote = false;
  let decision: Decision | undefined;
  let outcome: Promise<SuggestionOutcome> | undefined;
  const decide = (d: Decision) => {
    decision = d;
    outcome = decideReplySuggestion({ suggestionId, decision: d });
    return outcome;
  };
  const notReady = () =>
    ApplicationFailure.create({ type: SuggestionDecisionRejected, message: 'the suggestion is not ready to be approved' });
  const undecided = () => {
    if (decision)
      throw ApplicationFailure.create({ type: SuggestionDecisionRejected, message: `the suggestion was already ${DONE[decision.kind]}` });
  };
  // Registered before drafting, so that a person who acts early gets a clear answer. The draft
  // activity marks the row ready just before this workflow learns it: an approval in between
  // (the API saw `ready`) waits for the draft's outcome instead of being refused.
  setHandler(
    approveSuggestionUpdate,
    async (input) => {
      await condition(() => drafted !== undefined);
      if (drafted?.status !== 'ready') throw notReady();
      undecided();
      return decide({ kind: 'approve', ...input });
    },
    {
      validator: (_input) => {
        if (drafted && drafted.status !== 'ready') throw notReady();
        undecided();
      },
    },
  );
  setHandler(rejectSuggestionUpdate, ({ decidedBy }) => decide({ kind: 'reject', decidedBy }), { validator: (_input) => undecided() });
  setHandler(fanWroteSignal, () => {
    fanWrote = true;
  });

  try {
    drafted = await draftReplySuggestion({ suggestionId });
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    drafted = { status: await failReplySuggestion({ suggestionId, reason: 'llm_unavailable' }), autoSend: false };
  }
  if (drafted.status === 'ready') {
    if (drafted.autoSend && !decision && !fanWrote) decide({ kind: 'approve', decidedBy: 'auto-reply' });
    const decided = await condition(() => decision !== undefined || fanWrote, Math.max(1, expiresAt - Date.now()));
    if (!decision) decide({ kind: 'expire', reason: decided ? 'the fan wrote again' : 'nobody decided within 24 hours' });
  }
  // An approval Postgres refused (the suggestion expired there first) failed its Update; the row says what it is.
  const final = await outcome?.catch(() => undefined);
  await condition(allHandlersFinished);
  return final?.status ?? drafted.status;
}
