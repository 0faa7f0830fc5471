// The API's door to `reply-suggestion:<id>` workflows (workflows/reply-suggestion.ts): start one
// for a suggestion row, pass a person's decision as an Update, tell open ones the fan wrote again.
import { ApplicationFailure, type Client, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
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
    async start(s: { id: string; creatorId: string; expiresAt: Date }): Promise<void> {
      await withDeadline(client, SIGNAL_DEADLINE_MS, 'Temporal', () =>
        client.workflow.start(replySuggestionWorkflow, {
          workflowId: replySuggestionWorkflowId(s.id),
          taskQueue: taskQueue(config, 'ai'),
          args: [{ suggestionId: s.id, expiresAt: s.expiresAt.getTime() }],
          typedSearchAttributes: [{ key: CreatorId, value: s.creatorId }],
        }),
      );
    },
    /** The Update's id is the suggestion's: a retried approval gets the first one's outcome. */
    approve: (suggestionId: string, input: ApproveInput) =>
      decide(() => handle(suggestionId).executeUpdate(approveSuggestionUpdate, { args: [input], updateId: `approve:${suggestionId}` })),
    reject: (suggestionId: string, decidedBy: string) =>
      decide(() =>
        handle(suggestionId).executeUpdate(rejectSuggestionUpdate, { args: [{ decidedBy }], updateId: `reject:${suggestionId}` }),
      ),
    /** Best effort per workflow: Postgres already says expired, and an approval checks it there. */
    async fanWrote(suggestionIds: string[]): Promise<void> {
      for (const id of suggestionIds)
        await withDeadline(client, SIGNAL_DEADLINE_MS, 'Temporal', () => handle(id).signal(fanWroteSignal)).catch((err: unknown) => {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        });
    },
  };
}

export type ReplySuggestionProcess = ReturnType<typeof createReplySuggestionProcess>;
