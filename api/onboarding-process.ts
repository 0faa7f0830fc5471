// How the API starts and signals the onboarding and password-reset workflows. Signals go through
// signalWithStart so a workflow that never started (Temporal was down at registration) is started
// by the next interaction instead of being lost; a user's onboarding runs once, ever.
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Config } from '../lib/config.js';
import { taskQueue } from '../lib/temporal.js';
import {
  emailVerifiedSignal,
  onboardingWorkflow,
  onboardingWorkflowId,
  resendVerificationSignal,
} from '../workflows/onboarding.js';
import { passwordResetWorkflow } from '../workflows/password-reset.js';
import { OnboardingStep, UserId } from '../workflows/search-attributes.js';

type ProcessConfig = Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX'>;

export function createOnboardingProcess(client: Client, config: ProcessConfig) {
  const startOptions = (userId: string, requestId?: string) => ({
    workflowId: onboardingWorkflowId(userId),
    taskQueue: taskQueue(config, 'onboarding'),
    args: [{ userId, requestId }] as [Parameters<typeof onboardingWorkflow>[0]],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
    typedSearchAttributes: [
      { key: UserId, value: userId },
      { key: OnboardingStep, value: 'verify_email' },
    ],
  });

  /** A closed onboarding is final: signalling it again is a no-op, not a new process. */
  const ignoreClosed = (err: unknown) => {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  };

  return {
    /** Starts the user's onboarding, or leaves the running one alone. */
    async ensureStarted(userId: string, requestId?: string): Promise<void> {
      await client.workflow.start(onboardingWorkflow, startOptions(userId, requestId)).catch(ignoreClosed);
    },
    async emailVerified(userId: string, requestId?: string): Promise<void> {
      await client.workflow
        .signalWithStart(onboardingWorkflow, { ...startOptions(userId, requestId), signal: emailVerifiedSignal, signalArgs: [{ requestId }] })
        .catch(ignoreClosed);
    },
    async resendVerification(userId: string, requestId?: string): Promise<string> {
      const options = startOptions(userId, requestId);
      await client.workflow
        .signalWithStart(onboardingWorkflow, { ...options, signal: resendVerificationSignal, signalArgs: [{ requestId }] })
        .catch(ignoreClosed);
      return options.workflowId;
    },
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
