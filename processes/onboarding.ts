// How the API starts and signals the onboarding and password-reset workflows. Signals go through
// signalWithStart so a workflow that never started (Temporal was down at registration) is started
// by the next interaction instead of being lost; a user's onboarding runs once, ever.
import { randomUUID } from 'node:crypto';
import {
  isGrpcDeadlineError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure, TimeoutFailure } from '@temporalio/common';
import type { Config } from '../lib/config.js';
import { taskQueue } from '../lib/temporal.js';
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
import { ApiError, dependencyDown } from '../api/errors.js';
import { passwordResetWorkflow } from '../workflows/password-reset.js';
import { OnboardingStep, UserId } from '../workflows/search-attributes.js';

type ProcessConfig = Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX'>;

/** How long the API waits for an update (a worker must be running to answer it). */
const UPDATE_DEADLINE_MS = 20_000;

/** Maps an update's failure to the API: business rules → 422, no worker in time → 503. */
function updateError(err: unknown): unknown {
  if (err instanceof WorkflowUpdateFailedError) {
    let cause: unknown = err.cause;
    while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as Error).cause;
    if (cause instanceof ApplicationFailure && cause.type === OnboardingRuleViolation) {
      return new ApiError(422, String(cause.details?.[0] ?? 'onboarding_step'), cause.message);
    }
    if (cause instanceof ApplicationFailure && cause.type === 'StripeRefused') return new ApiError(422, 'stripe_refused', cause.message);
    // Stripe unreachable past the activity's deadline is worth a retry; anything else is a bug
    // and stays a 500 (logged).
    for (let c: unknown = err.cause; c; c = (c as Error).cause) if (c instanceof TimeoutFailure) return dependencyDown('Stripe');
  }
  if (err instanceof WorkflowNotFoundError)
    return new ApiError(422, 'onboarding_not_started', 'onboarding has not started for this account');
  if (isGrpcDeadlineError(err)) return dependencyDown('the onboarding worker');
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

  /** A completed onboarding is final: signalling it again is a no-op, not a new process. */
  const ignoreClosed = (err: unknown) => {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  };

  const update = async <T>(userId: string, call: (handle: ReturnType<typeof client.workflow.getHandle>) => Promise<T>): Promise<T> => {
    try {
      return await client.connection.withDeadline(Date.now() + UPDATE_DEADLINE_MS, () =>
        call(client.workflow.getHandle(onboardingWorkflowId(userId))),
      );
    } catch (err) {
      throw updateError(err);
    }
  };

  return {
    /** Starts the user's onboarding, or leaves the running one alone. */
    async ensureStarted(userId: string, requestId?: string): Promise<void> {
      await client.workflow.start(onboardingWorkflow, startOptions(userId, requestId)).catch(ignoreClosed);
    },
    async emailVerified(userId: string, requestId?: string): Promise<void> {
      await client.workflow
        .signalWithStart(onboardingWorkflow, {
          ...startOptions(userId, requestId),
          signal: emailVerifiedSignal,
          signalArgs: [{ requestId }],
        })
        .catch(ignoreClosed);
    },
    async resendVerification(userId: string, requestId?: string): Promise<string> {
      const options = startOptions(userId, requestId);
      await client.workflow
        .signalWithStart(onboardingWorkflow, { ...options, signal: resendVerificationSignal, signalArgs: [{ requestId }] })
        .catch(ignoreClosed);
      return options.workflowId;
    },
    async termsAccepted(userId: string, termsVersion: string, requestId?: string): Promise<void> {
      await client.workflow
        .signalWithStart(onboardingWorkflow, {
          ...startOptions(userId, requestId),
          signal: termsAcceptedSignal,
          signalArgs: [{ requestId, termsVersion }],
        })
        .catch(ignoreClosed);
    },
    async stripeAccountChanged(userId: string, event: { eventId: string; type: string }): Promise<void> {
      await client.workflow.getHandle(onboardingWorkflowId(userId)).signal(stripeAccountChangedSignal, event);
    },
    startStripeConnect: (userId: string, request: ConnectLinkRequest) =>
      update(userId, (h) => h.executeUpdate(startStripeConnectUpdate, { args: [request] })),
    refreshStripeLink: (userId: string, request: ConnectLinkRequest) =>
      update(userId, (h) => h.executeUpdate(refreshStripeLinkUpdate, { args: [request] })),
    createDashboardLink: (userId: string) => update(userId, (h) => h.executeUpdate(createDashboardLinkUpdate)),
    /** Runs for every request, known email or not: see workflows/password-reset.ts. */
    async requestPasswordReset(email: string, requestId?: string): Promise<void> {
      await client.workflow.start(passwordResetWorkflow, {
        workflowId: `password-reset:${randomUUID()}`,
        taskQueue: taskQueue(config, 'onboarding'),
        args: [{ email, requestId }],
      });
    },
  };
}

export type OnboardingProcess = ReturnType<typeof createOnboardingProcess>;
