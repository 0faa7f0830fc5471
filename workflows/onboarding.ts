// One onboarding process per user: register → verify email → accept terms → Stripe Connect
// Express (hosted KYC) → activated, then it keeps watching the Stripe account (restriction,
// deauthorization). The workflow decides; its activities send mail, talk to Stripe and project
// each transition into Postgres.
import {
  ActivityFailure,
  ApplicationFailure,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  log,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { OnboardingActivities } from '../activities/onboarding.js';
import type { OnboardingStepRecord } from '../db/schema.js';
import { isActivatable } from '../domain/stripe-activation.js';
import { marketingAnalysisWorkflow } from './marketing-analysis.js';
import { OnboardingStep, UserId } from './search-attributes.js';

export const onboardingSteps = ['verify_email', 'accept_terms', 'stripe_connect', 'activated'] as const;
export type OnboardingStepName = (typeof onboardingSteps)[number];
export type CreatorStatus = 'onboarding' | 'active' | 'restricted';

export const onboardingWorkflowId = (userId: string) => `onboarding:${userId}`;

/** Reminders when a step stalls, counted from when the step began. */
export const REMINDER_DELAYS_MS = [24 * 3600_000, 72 * 3600_000];

export interface RequestContext {
  requestId?: string;
}

/** Carried across continue-as-new once the creator is activated and only Stripe changes remain. */
export interface OnboardingInput {
  userId: string;
  requestId?: string;
  carried?: {
    stepTimes: Partial<Record<OnboardingStepName, string>>;
    accountId: string;
    status: CreatorStatus;
    version: number;
    /** Stripe signals received while the previous run was finishing. */
    stripeChanges: number;
  };
}

/** Sent by the API after it consumed a valid verification token. */
export const emailVerifiedSignal = defineSignal<[RequestContext]>('emailVerified');
/** Sent by POST /auth/resend-verification (the API throttles it). */
export const resendVerificationSignal = defineSignal<[RequestContext]>('resendVerification');
/** Sent by POST /auth/accept-terms once the acceptance is stored. */
export const termsAcceptedSignal = defineSignal<[RequestContext & { termsVersion: string }]>('termsAccepted');
/** Sent by POST /webhooks/stripe for account.updated / capability.updated / deauthorization. */
export const stripeAccountChangedSignal = defineSignal<[{ eventId: string; type: string }]>('stripeAccountChanged');

export interface ConnectLinkRequest {
  returnUrl: string;
  refreshUrl: string;
}
export interface ConnectLink {
  accountId: string;
  onboardingUrl: string;
  expiresAt: string;
}
/** Creates the Express account once, then a fresh single-use onboarding link. 422 before terms. */
export const startStripeConnectUpdate = defineUpdate<ConnectLink, [ConnectLinkRequest]>('startStripeConnect');
/** A fresh onboarding link for the existing account. */
export const refreshStripeLinkUpdate = defineUpdate<ConnectLink, [ConnectLinkRequest]>('refreshStripeLink');

/** An Express dashboard login link (Stripe only gives one once onboarding is complete). */
export const createDashboardLinkUpdate = defineUpdate<{ url: string }, []>('createDashboardLink');

export interface OnboardingState {
  step: OnboardingStepName;
  completed: boolean;
  status: CreatorStatus;
  steps: OnboardingStepRecord[];
  accountId: string | null;
  /** ISO time at which the newest verification link expires; null before the first is sent. */
  verificationLinkExpiresAt: string | null;
  verificationLinkExpired: boolean;
  verificationEmailsSent: number;
  remindersSent: number;
}
export const onboardingStateQuery = defineQuery<OnboardingState>('state');

/** Update validators reject with these; the API maps them to 422 business-rule errors. */
export const OnboardingRuleViolation = 'OnboardingRuleViolation';

const activities = proxyActivities<OnboardingActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});
// Stripe calls made while the API waits on an update: bounded below the API's 20 s deadline, so a
// caller gets an answer and the update handler does not retry behind their back.
const stripeCalls = proxyActivities<OnboardingActivities>({
  startToCloseTimeout: '8 seconds',
  scheduleToCloseTimeout: '9 seconds', // two in a row (account, then link) stay under 20 s
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2 },
});
// Mail retries through an SES outage for a day, then gives up (bestEffort logs it); sends that
// are not on the critical path run in the background so they never hold the process up.
const mails = proxyActivities<OnboardingActivities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});
const { projectOnboarding } = proxyActivities<OnboardingActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '30 seconds' },
});

export async function onboardingWorkflow(input: OnboardingInput): Promise<void> {
  const { userId } = input;
  const nowIso = () => new Date().toISOString(); // workflow time: deterministic on replay
  const stepTimes: Partial<Record<OnboardingStepName, string>> = { ...input.carried?.stepTimes };
  let step: OnboardingStepName = input.carried ? 'activated' : 'verify_email';
  let status: CreatorStatus = input.carried?.status ?? 'onboarding';
  let version = input.carried?.version ?? 0;
  let accountId: string | null = input.carried?.accountId ?? null;
  let emailVerified = !!input.carried;
  let termsAccepted = !!input.carried;
  let resendRequested = false;
  let reminderDue = 0; // a verification reminder waiting to be sent with a fresh link
  let stripeChanges = input.carried?.stripeChanges ?? 0; // webhook signals not yet acted on
  let linkExpiresAt: string | null = null;
  let linkExpired = false;
  let emailsSent = 0;
  let remindersSent = 0;
  let lastRequestId = input.requestId;
  let pendingMails = 0;

  const state = (): OnboardingState => ({
    step,
    completed: step === 'activated',
    status,
    steps: onboardingSteps.map((name, i): OnboardingStepRecord => {
      const current = onboardingSteps.indexOf(step);
      if (i < current || (i === current && name === 'activated')) return { name, status: 'done', at: stepTimes[name] ?? null };
      if (i > current) return { name, status: 'pending', at: null };
      return { name, status: name === 'verify_email' && linkExpired ? 'expired' : 'current', at: null };
    }),
    accountId,
    verificationLinkExpiresAt: linkExpiresAt,
    verificationLinkExpired: linkExpired,
    verificationEmailsSent: emailsSent,
    remindersSent,
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
    if (next === 'activated') stepTimes.activated = nowIso();
    step = next;
    upsertSearchAttributes([{ key: OnboardingStep, value: next }]);
    await project();
  };

  /**
   * Mail is best effort for the process: an address SES refuses for good must not fail the
   * onboarding (the user can still verify with another link, or act on the status page).
   */
  const bestEffort = async (what: string, send: () => Promise<unknown>): Promise<void> => {
    try {
      await send();
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      log.warn(`${what} failed for good`, { userId, error: err.cause?.message });
    }
  };

  const mailInBackground = (what: string, send: () => Promise<unknown>) => {
    pendingMails += 1;
    void bestEffort(what, send).finally(() => {
      pendingMails -= 1;
    });
  };

  /** Durable reminders for a stalled step; the timers are cancelled as soon as `done` holds. */
  const remindWhileStalled = async (forStep: 'verify_email' | 'accept_terms' | 'stripe_connect', done: () => boolean) => {
    const began = Date.now();
    for (const [i, delay] of REMINDER_DELAYS_MS.entries()) {
      if (await condition(done, Math.max(began + delay - Date.now(), 1))) return;
      remindersSent += 1;
      if (forStep === 'verify_email') {
        reminderDue = i + 1; // the verification loop sends it, with a fresh link
      } else {
        await bestEffort('reminder', () => mails.sendOnboardingReminder({ userId, step: forStep, reminder: i + 1 }));
      }
    }
  };

  /** `code` becomes the API's 422 error code. */
  const rule = (code: string, message: string) =>
    ApplicationFailure.create({ type: OnboardingRuleViolation, message, details: [code], nonRetryable: true });
  const linkFor = async (request: ConnectLinkRequest): Promise<ConnectLink> => {
    const link = await stripeCalls.createStripeAccountLink({ accountId: accountId!, ...request });
    return { accountId: accountId!, onboardingUrl: link.url, expiresAt: link.expiresAt };
  };
  let accountCreation: Promise<string> | undefined;

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
  setHandler(stripeAccountChangedSignal, ({ eventId, type }) => {
    stripeChanges += 1;
    log.info('stripe account changed', { userId, eventId, type });
  });
  setHandler(
    startStripeConnectUpdate,
    async (request) => {
      // One account per user: concurrent updates share the same creation; the activity also
      // passes a Stripe idempotency key derived from this workflow id.
      accountCreation ??= stripeCalls.createStripeAccount({ userId, idempotencyKey: `${workflowInfo().workflowId}:create-account` }).then(
        (id) => {
          // Read the new account once, so the status shows what Stripe requires from the start.
          stripeChanges += 1;
          return id;
        },
        (err: unknown) => {
          accountCreation = undefined; // a later start tries again (same idempotency key)
          throw err;
        },
      );
      accountId = await accountCreation;
      return linkFor(request);
    },
    {
      validator: (_request: ConnectLinkRequest) => {
        if (!termsAccepted) throw rule('terms_not_accepted', 'accept the terms before connecting Stripe');
        if (status === 'active') throw rule('already_activated', 'the Stripe account is already connected and active');
      },
    },
  );
  setHandler(
    refreshStripeLinkUpdate,
    async (request) => {
      // Also re-read the account: a webhook that came before the account id was stored is covered.
      stripeChanges += 1;
      return linkFor(request);
    },
    {
      // A restricted creator needs a link to supply what Stripe now asks for.
      validator: (_request: ConnectLinkRequest) => {
        if (!accountId) throw rule('connect_not_started', 'start Stripe Connect first');
        if (status === 'active') throw rule('already_activated', 'the Stripe account is already connected and active');
      },
    },
  );

  setHandler(createDashboardLinkUpdate, async () => ({ url: await stripeCalls.createStripeDashboardLink({ accountId: accountId! }) }), {
    validator: () => {
      if (!accountId) throw rule('connect_not_started', 'start Stripe Connect first');
    },
  });

  // A fresh start (registration, or a restart after a failed run) resumes from the facts in
  // Postgres, so a restarted onboarding never asks for a step the user already did.
  if (!input.carried) {
    const facts = await activities.loadOnboardingFacts({ userId });
    emailVerified ||= facts.emailVerified;
    termsAccepted ||= facts.termsAccepted;
    if (facts.accountId) {
      accountId = facts.accountId;
      stripeChanges += 1; // read the account before deciding anything
    }
    if (facts.status !== 'onboarding') {
      status = facts.status;
      step = 'activated';
    }
    upsertSearchAttributes([
      { key: UserId, value: userId },
      { key: OnboardingStep, value: step },
    ]);
    await project();
  }

  if (step !== 'activated') {
    // 1. Verification: a resend (or a reminder) issues a new link, killing older ones; when the
    // current link expires unused, the status says so, so the frontend can offer a resend.
    const sendLink = async () => {
      const reminder = reminderDue;
      resendRequested = false;
      reminderDue = 0;
      let sent: Awaited<ReturnType<typeof activities.issueVerificationEmail>> | undefined;
      await bestEffort('verification email', async () => {
        sent = await mails.issueVerificationEmail({ userId, requestId: lastRequestId, reminder: reminder > 0 });
      });
      if (!sent) {
        // No working link went out: show the step as expired so the frontend offers a resend.
        linkExpired = true;
        await project();
        return;
      }
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
    if (!emailVerified) {
      void remindWhileStalled('verify_email', () => emailVerified);
      await sendLink();
      while (!emailVerified) {
        const wake = () => emailVerified || resendRequested || reminderDue > 0;
        const woken = linkExpired
          ? await condition(wake).then(() => true)
          : await condition(wake, Math.max(Date.parse(linkExpiresAt!) - Date.now(), 1));
        if (emailVerified) break;
        if (resendRequested || reminderDue > 0) {
          await sendLink();
        } else if (!woken) {
          linkExpired = true;
          await project();
        }
      }
      await activities.markEmailVerified({ userId });
      linkExpired = false;
      log.info('email verified', { userId, requestId: lastRequestId });
    }
    await enterStep('accept_terms');

    // 2. Terms.
    if (!termsAccepted) {
      void remindWhileStalled('accept_terms', () => termsAccepted);
      await condition(() => termsAccepted);
    }
    await enterStep('stripe_connect');

    // 3. Stripe Connect: the user opens the hosted onboarding (update above); Stripe tells us by
    // webhook, late, duplicated or out of order, so each signal triggers a fresh read of the
    // account and the decision is taken on that read, never on the event's payload.
    void remindWhileStalled('stripe_connect', () => step === 'activated');
    for (;;) {
      await condition(() => stripeChanges > 0 && accountId !== null);
      stripeChanges = 0;
      const account = await activities.syncStripeAccount({ userId, accountId: accountId! });
      if (isActivatable(account)) break;
    }

    // 4. Activation.
    status = 'active';
    await activities.activateCreator({ userId });
    await enterStep('activated');
    mailInBackground('welcome email', () => mails.sendLifecycleEmail({ userId, template: 'welcome' }));
    await startChild(marketingAnalysisWorkflow, {
      workflowId: `marketing-analysis:${userId}`,
      args: [{ userId }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [{ key: UserId, value: userId }],
    });
  }

  // 5. After activation: a later restriction (disabled_reason, requirements due) or a
  // deauthorization moves the creator to `restricted` and emails them; a fix re-activates.
  for (;;) {
    await condition(() => stripeChanges > 0 || workflowInfo().continueAsNewSuggested);
    if (stripeChanges === 0) break;
    stripeChanges = 0;
    const account = await activities.syncStripeAccount({ userId, accountId: accountId! });
    const next: CreatorStatus = isActivatable(account) ? 'active' : 'restricted';
    if (next === status) continue;
    status = next;
    await activities.setCreatorStatus({ userId, status });
    if (status === 'restricted') {
      const reason = account.deauthorized ? 'deauthorized' : (account.disabledReason ?? 'requirements_due');
      mailInBackground('restriction email', () => mails.sendLifecycleEmail({ userId, template: 'account_restricted', reason }));
    }
  }
  await condition(() => pendingMails === 0 && allHandlersFinished());
  await continueAsNew<typeof onboardingWorkflow>({ userId, carried: { stepTimes, accountId: accountId!, status, version, stripeChanges } });
}
