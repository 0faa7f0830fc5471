// The API's door to `reply-suggestion:<id>` workflows (workflows/reply-suggestion.ts): start one
// for a suggestion row, pass a person's decision as an Update, tell open ones the fan wrote again.
import {
  ApplicationFailure,
  type Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { DomainError } from '../domain/errors.js';
import type { SuggestionOutcome } from '../domain/reply-suggestions.js';
import type { Config } from '../lib/config.js';
import { taskQueue } from '../lib/temporal.js';
import { CreatorId } from '../workflows/search-attributes.js';
import {
  type ApproveInput,
  approveSuggestionUpdate,
  fanWroteSignal,
  rejectSuggestionUpdate,
  replySuggestionWorkflow,
  replySuggestionWorkflowId,
  SuggestionDecisionRejected,
} from '../workflows/reply-suggestion.js';
import { SIGNAL_DEADLINE_MS, UPDATE_DEADLINE_MS, withDeadline } from './deadline.js';

/** The workflow's (or Postgres's) refusal → 409; a workflow that has ended → 409. */
function decisionError(err: unknown): unknown {
  if (err instanceof WorkflowUpdateFailedError)
    for (let c: unknown = err.cause; c; c = (c as Error).cause)
      if (c instanceof ApplicationFailure && c.type === SuggestionDecisionRejected)
        return new DomainError('invalid_state', 'suggestion_not_ready', c.message);
  if (err instanceof WorkflowNotFoundError) return new DomainError('invalid_state', 'suggestion_not_ready', 'the suggestion is closed');
  return err;
}

export function createReplySuggestionProcess(client: Client, config: Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX'>) {
  const handle = (suggestionId: string) => client.workflow.getHandle(replySuggestionWorkflowId(suggestionId));
  const decide = async (call: () => Promise<SuggestionOutcome>) => {
    try {
      return await withDeadline(client, UPDATE_DEADLINE_MS, 'the AI worker', call);
    } catch (err) {
      throw decisionError(err);
    }
  };
  return {
    /**
     * Starts the suggestion's workflow; one already running is the start of a retried request
     * (success). `replace` ends a run an earlier start left whose outcome was in doubt: it found
     * the row failed (not_started) and is ending, or drafts what the new run will draft.
     */
    async start(s: { id: string; creatorId: string; expiresAt: Date }, { replace = false } = {}): Promise<void> {
      try {
        await withDeadline(client, SIGNAL_DEADLINE_MS, 'Temporal', () =>
          client.workflow.start(replySuggestionWorkflow, {
            workflowId: replySuggestionWorkflowId(s.id),
            taskQueue: taskQueue(config, 'ai'),
            args: [{ suggestionId: s.id, expiresAt: s.expiresAt.getTime() }],
            typedSearchAttributes: [{ key: CreatorId, value: s.creatorId }],
            ...(replace ? { workflowIdConflictPolicy: 'TERMINATE_EXISTING' as const } : {}),
          }),
        );
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    },
    /** The Update's id is the suggestion's: a retried approval gets the first one's outcome. */
    approve: (suggestionId: string, input: ApproveInput) =>
      decide(() => handle(suggestionId).executeUpdate(approveSuggestionUpdate, { args: [input], updateId: `approve:${suggestionId}` })),
    reject: (suggestionId: string, decidedBy: string) =>
      decide(() =>
        handle(suggestionId).executeUpdate(rejectSuggestionUpdate, { args: [{ decidedBy }], updateId: `reject:${suggestionId}` }),
      ),
    /**
     * Best effort per workflow, each tried whatever the others did: Postgres already says expired,
     * and an approval checks it there. The first failure (other than a workflow already closed) is
     * thrown once all were tried.
     */
    async fanWrote(suggestionIds: string[]): Promise<void> {
      const results = await Promise.allSettled(
        suggestionIds.map((id) => withDeadline(client, SIGNAL_DEADLINE_MS, 'Temporal', () => handle(id).signal(fanWroteSignal))),
      );
      const failed = results.find((r) => r.status === 'rejected' && !(r.reason instanceof WorkflowNotFoundError));
      if (failed?.status === 'rejected') throw failed.reason;
    },
  };
}

export type ReplySuggestionProcess = ReturnType<typeof createReplySuggestionProcess>;
