// One onboarding process per user: register → verify email → accept terms → (Stripe, next issue).
// The workflow decides; its activities send mail and project each transition into Postgres.
import {
  condition,
  defineQuery,
  defineSignal,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { OnboardingStepRecord } from '../db/schema.js';
import type { OnboardingActivities } from '../activities/onboarding.js';
import { OnboardingStep, UserId } from './search-attributes.js';

export const onboardingSteps = ['verify_email', 'accept_terms', 'stripe_connect', 'activated'] as const;
export type OnboardingStepName = (typeof onboardingSteps)[number];

export const onboardingWorkflowId = (userId: string) => `onboarding:${userId}`;

export interface OnboardingInput {
  userId: string;
  requestId?: string;
}

export interface RequestContext {
  requestId?: string;
}

/** Sent by the API after it consumed a valid verification token. */
export const emailVerifiedSignal = defineSignal<[RequestContext]>('emailVerified');
/** Sent by the API on POST /auth/resend-verification (the API throttles it). */
export const resendVerificationSignal = defineSignal<[RequestContext]>('resendVerification');
/** Sent by POST /auth/accept-terms (next issue). */
export const termsAcceptedSignal = defineSignal<[RequestContext & { termsVersion: string }]>('termsAccepted');

export interface OnboardingState {
  step: OnboardingStepName;
  completed: boolean;
  steps: OnboardingStepRecord[];
  /** ISO time at which the newest verification link expires; null before the first is sent. */
  verificationLinkExpiresAt: string | null;
  verificationLinkExpired: boolean;
  verificationEmailsSent: number;
}
export const onboardingStateQuery = defineQuery<OnboardingState>('state');

const { issueVerificationEmail, markEmailVerified } = proxyActivities<OnboardingActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});
const { projectOnboarding } = proxyActivities<OnboardingActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '30 seconds' },
});

export async function onboardingWorkflow(input: OnboardingInput): Promise<void> {
  const { userId } = input;
  const nowIso = () => new Date().toISOString(); // workflow time: deterministic on replay
  const stepTimes: Partial<Record<OnboardingStepName, string>> = {};
  let step: OnboardingStepName = 'verify_email';
  let version = 0;
  let emailVerified = false;
  let resendRequested = false;
  let termsAccepted = false;
  let linkExpiresAt: string | null = null;
  let linkExpired = false;
  let emailsSent = 0;
  let lastRequestId = input.requestId;

  const state = (): OnboardingState => ({
    step,
    completed: step === 'activated',
    steps: onboardingSteps.map((name, i): OnboardingStepRecord => {
      const current = onboardingSteps.indexOf(step);
      if (i < current || name === 'activated') return { name, status: i <= current ? 'done' : 'pending', at: stepTimes[name] ?? null };
      if (i > current) return { name, status: 'pending', at: null };
      return { name, status: name === 'verify_email' && linkExpired ? 'expired' : 'current', at: null };
    }),
    verificationLinkExpiresAt: linkExpiresAt,
    verificationLinkExpired: linkExpired,
    verificationEmailsSent: emailsSent,
  });

  const project = async () => {
    version += 1;
    const s = state();
    await projectOnboarding({
      userId,
      workflowId: workflowInfo().workflowId,
      executionId: workflowInfo().firstExecutionRunId,
      step: s.step,
      completed: s.completed,
      steps: s.steps,
      version,
    });
  };

  const enterStep = async (next: OnboardingStepName) => {
    stepTimes[step] = nowIso();
    step = next;
    upsertSearchAttributes([{ key: OnboardingStep, value: next }]);
    await project();
  };

  setHandler(onboardingStateQuery, state);
  setHandler(emailVerifiedSignal, (ctx) => {
    emailVerified = true;
    lastRequestId = ctx.requestId ?? lastRequestId;
  });
  setHandler(resendVerificationSignal, (ctx) => {
    resendRequested = true;
    lastRequestId = ctx.requestId ?? lastRequestId;
  });
  setHandler(termsAcceptedSignal, (ctx) => {
    termsAccepted = true;
    lastRequestId = ctx.requestId ?? lastRequestId;
  });

  upsertSearchAttributes([{ key: UserId, value: userId }, { key: OnboardingStep, value: step }]);
  await project();

  const sendLink = async () => {
    resendRequested = false;
    const sent = await issueVerificationEmail({ userId, requestId: lastRequestId });
    if (sent.alreadyVerified) {
      emailVerified = true;
      return;
    }
    emailsSent += 1;
    linkExpiresAt = sent.expiresAt;
    if (linkExpired) {
      linkExpired = false;
      await project();
    }
  };

  // Verification: wait for the signal; a resend issues a new link (older ones die); when the
  // current link expires unused, the status says so, so the frontend can offer a resend.
  await sendLink();
  while (!emailVerified) {
    const msLeft = linkExpiresAt ? Date.parse(linkExpiresAt) - Date.now() : 0;
    const woken = linkExpired
      ? await condition(() => emailVerified || resendRequested).then(() => true)
      : await condition(() => emailVerified || resendRequested, Math.max(msLeft, 1));
    if (emailVerified) break;
    if (resendRequested) {
      await sendLink();
    } else if (!woken) {
      linkExpired = true;
      log.info('verification link expired unused', { userId });
      await project();
    }
  }

  await markEmailVerified({ userId });
  linkExpired = false;
  log.info('email verified', { userId, requestId: lastRequestId });
  await enterStep('accept_terms');

  // Terms, Stripe Connect and activation are built by the next milestone; it continues from here.
  await condition(() => termsAccepted);
  await enterStep('stripe_connect');
}
