// How the API starts, signals and updates the onboarding workflow (`onboarding:<userId>`). Signals go through
// signalWithStart so a workflow that never started (Temporal was down at registration) is started
// by the next interaction instead of being lost; a user's onboarding runs once, ever. Every call has
// a deadline: a Temporal that does not answer costs a request seconds, never a hung connection.
import { marketingAnalysisWorkflow } from '../workflows/marketing-analysis.js';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, TimeoutFailure, type SignalDefinition } from '@temporalio/common';
import { DomainError } from '../domain/errors.js';
import type { Config } from '../lib/config.js';
import { taskQueue } from '../lib/temporal.js';
import { SIGNAL_DEADLINE_MS, UPDATE_DEADLINE_MS, unavailable, withDeadline } from './deadline.js';
import {
  createDashboardLinkUpdate,
  emailVerifiedSignal,
  OnboardingRuleViolation,
  onboardingWorkflow,
  onboardingWorkflowId,
  refreshStripeLinkUpdate,
  resendVerificationSignal,
  startStripeConnectUpdate,
  stripeAccountChangedSignal,
  termsAcceptedSignal,
  type ConnectLinkRequest,
} from '../workflows/onboarding.js';
import { OnboardingStep, UserId } from '../workflows/search-attributes.js';

type ProcessConfig = Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX'>;

/** The Stripe event types routed to the onboarding workflow (by the webhook, or the onboarding sweep). */
export const onboardingStripeEventTypes = ['account.updated', 'capability.updated', 'account.application.deauthorized'];

/** Maps an update's failure to the API: business rules → 422, no worker in time → 503. */
function updateError(err: unknown): unknown {
  if (err instanceof WorkflowUpdateFailedError) {
    let cause: unknown = err.cause;
    while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as Error).cause;
    if (cause instanceof ApplicationFailure && cause.type === OnboardingRuleViolation) {
      return new DomainError('unprocessable', String(cause.details?.[0] ?? 'onboarding_step'), cause.message);
    }
    if (cause instanceof ApplicationFailure && cause.type === 'StripeRefused')
      return new DomainError('unprocessable', 'stripe_refused', cause.message);
    // Stripe unreachable past the activity's deadline is worth a retry; anything else is a bug
    // and stays a 500 (logged).
    for (let c: unknown = err.cause; c; c = (c as Error).cause) if (c instanceof TimeoutFailure) return unavailable('Stripe');
  }
  if (err instanceof WorkflowNotFoundError)
    return new DomainError('unprocessable', 'onboarding_not_started', 'onboarding has not started for this account');
  return err;
}

export function createOnboardingProcess(client: Client, config: ProcessConfig) {
  const startOptions = (userId: string, requestId?: string) => ({
    workflowId: onboardingWorkflowId(userId),
    taskQueue: taskQueue(config, 'onboarding'),
    args: [{ userId, requestId }] as [Parameters<typeof onboardingWorkflow>[0]],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    // A completed onboarding is final; a failed one (a bug, an operator's terminate) may start again.
    workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY' as const,
    typedSearchAttributes: [
      { key: UserId, value: userId },
      { key: OnboardingStep, value: 'verify_email' },
    ],
  });

  /**
   * A start or signal, bounded by a deadline. A completed onboarding is final: signalling it again
   * is a no-op, not a new process.
   */
  const bounded = async (call: () => Promise<unknown>): Promise<void> => {
    try {
      await withDeadline(client, SIGNAL_DEADLINE_MS, 'Temporal', call);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  };
  const signalWithStart = <T>(userId: string, signal: SignalDefinition<[T]>, arg: T, requestId?: string) =>
    bounded(() => client.workflow.signalWithStart(onboardingWorkflow, { ...startOptions(userId, requestId), signal, signalArgs: [arg] }));

  const update = async <T>(userId: string, call: (handle: ReturnType<typeof client.workflow.getHandle>) => Promise<T>): Promise<T> => {
    try {
      return await withDeadline(client, UPDATE_DEADLINE_MS, 'the onboarding worker', () =>
        call(client.workflow.getHandle(onboardingWorkflowId(userId))),
      );
    } catch (err) {
      throw updateError(err);
    }
  };

  // The signals are idempotent in the workflow (flags, and a counter that only triggers a fresh read
  // of the Stripe account), so the onboarding sweep may send them again.
  return {
    /** Starts the user's onboarding, or leaves the running one alone. */
    ensureStarted: (userId: string, requestId?: string) =>
      bounded(() => client.workflow.start(onboardingWorkflow, startOptions(userId, requestId))),
    emailVerified: (userId: string, requestId?: string) => signalWithStart(userId, emailVerifiedSignal, { requestId }, requestId),
    async resendVerification(userId: string, requestId?: string): Promise<string> {
      await signalWithStart(userId, resendVerificationSignal, { requestId }, requestId);
      return onboardingWorkflowId(userId);
    },
    termsAccepted: (userId: string, termsVersion: string, requestId?: string) =>
      signalWithStart(userId, termsAcceptedSignal, { requestId, termsVersion }, requestId),
    /** Starts the onboarding if it is not running: a fresh start reads the account anyway. */
    stripeAccountChanged: (userId: string, event: { eventId: string; type: string }) =>
      signalWithStart(userId, stripeAccountChangedSignal, event),
    startStripeConnect: (userId: string, request: ConnectLinkRequest) =>
      update(userId, (h) => h.executeUpdate(startStripeConnectUpdate, { args: [request] })),
    refreshStripeLink: (userId: string, request: ConnectLinkRequest) =>
      update(userId, (h) => h.executeUpdate(refreshStripeLinkUpdate, { args: [request] })),
    createDashboardLink: (userId: string) => update(userId, (h) => h.executeUpdate(createDashboardLinkUpdate)),
    /**
     * The marketing analysis again, on the profile as it is now (PUT /creator/profile of an active
     * creator). Its own id, apart from the one activation starts; a run still going is replaced.
     */
    reanalyse: (userId: string) =>
      withDeadline(client, SIGNAL_DEADLINE_MS, 'Temporal', () =>
        client.workflow.start(marketingAnalysisWorkflow, {
          workflowId: `marketing-analysis:${userId}:profile`,
          taskQueue: taskQueue(config, 'onboarding'),
          args: [{ userId }],
          workflowIdConflictPolicy: 'TERMINATE_EXISTING',
          typedSearchAttributes: [{ key: UserId, value: userId }],
        }),
      ),
  };
}

export type OnboardingProcess = ReturnType<typeof createOnboardingProcess>;
