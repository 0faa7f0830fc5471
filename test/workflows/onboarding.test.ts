// Onboarding workflow under the time-skipping test server, with stubbed activities that record
// what the workflow asked for. Timers of 30 minutes pass in milliseconds.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OnboardingActivities } from '../../activities/onboarding.js';
import type { StripeAccountState } from '../../domain/stripe-activation.js';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import {
  createDashboardLinkUpdate,
  emailVerifiedSignal,
  refreshStripeLinkUpdate,
  REMINDER_DELAYS_MS,
  startStripeConnectUpdate,
  stripeAccountChangedSignal,
  onboardingStateQuery,
  onboardingWorkflow,
  resendVerificationSignal,
  termsAcceptedSignal,
} from '../../workflows/onboarding.js';
import { passwordResetWorkflow } from '../../workflows/password-reset.js';
import { allSearchAttributes } from '../../workflows/search-attributes.js';
import { waitFor } from '../support/wait.js';
import { startTimeSkippingServer, withBundledWorker } from '../support/time-skipping.js';

const LINK_TTL_MS = 30 * 60_000;

// A test server per test: its clock is shared by every workflow on it, so timers of workflows a
// previous test left behind (with no worker any more) would fire during this test's sleeps.
let env: TestWorkflowEnvironment;
beforeEach(async () => {
  env = await startTimeSkippingServer();
  // The test server takes no --search-attribute flags; register them through the operator API.
  const { IndexedValueType } = temporal.api.enums.v1;
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: Object.fromEntries(allSearchAttributes.map((k) => [k.name, IndexedValueType[`INDEXED_VALUE_TYPE_${k.type}`]])),
  });
});
afterEach(() => env?.teardown());

function recordingActivities() {
  const calls: { name: string; input: unknown; at: number }[] = [];
  const projections: { step: string; steps: { name: string; status: string }[]; version: number }[] = [];
  let verified = false;
  let links = 0;
  const failures = { verificationEmail: false, reminders: false };
  // What the fake Stripe reports on the next read; tests change it between webhook signals.
  const account: StripeAccountState = {
    detailsSubmitted: false,
    chargesEnabled: false,
    payoutsEnabled: false,
    currentlyDue: ['individual.id_number'],
    eventuallyDue: [],
    disabledReason: null,
    deauthorized: false,
  };
  const record = (name: string, input: unknown) => calls.push({ name, input, at: Date.now() });
  const facts = {
    emailVerified: false,
    termsAccepted: false,
    accountId: null as string | null,
    status: 'onboarding' as 'onboarding' | 'active' | 'restricted',
  };
  const activities: OnboardingActivities = {
    async loadOnboardingFacts(input) {
      record('loadOnboardingFacts', input);
      return { ...facts };
    },
    async issueVerificationEmail(input) {
      record('issueVerificationEmail', input);
      if (failures.verificationEmail) throw ApplicationFailure.nonRetryable('address rejected', 'EmailRejected');
      if (verified) return { alreadyVerified: true };
      // Expiry is computed from the test server's clock, as the real activity does from the DB's.
      return { alreadyVerified: false, expiresAt: new Date((await env.currentTimeMs()) + LINK_TTL_MS).toISOString() };
    },
    async markEmailVerified(input) {
      verified = true;
      record('markEmailVerified', input);
    },
    async projectOnboarding(input) {
      projections.push(input);
    },
    async issuePasswordResetEmail(input) {
      record('issuePasswordResetEmail', input);
      return { sent: input.email.endsWith('@known.test') };
    },
    async sendOnboardingReminder(input) {
      record('sendOnboardingReminder', input);
      if (failures.reminders) throw ApplicationFailure.nonRetryable('address rejected', 'EmailRejected');
    },
    async createStripeAccount(input) {
      record('createStripeAccount', input);
      return 'acct_test123';
    },
    async createStripeAccountLink(input) {
      record('createStripeAccountLink', input);
      links += 1;
      return { url: `https://connect.example/link-${links}`, expiresAt: new Date(Date.now() + 300_000).toISOString() };
    },
    async createStripeDashboardLink(input) {
      record('createStripeDashboardLink', input);
      return 'https://connect.example/express';
    },
    async syncStripeAccount(input) {
      record('syncStripeAccount', input);
      return { ...account };
    },
    async activateCreator(input) {
      record('activateCreator', input);
    },
    async setCreatorStatus(input) {
      record('setCreatorStatus', input);
    },
    async sendLifecycleEmail(input) {
      record('sendLifecycleEmail', input);
    },
    async loadMarketingInputs(input) {
      record('loadMarketingInputs', input);
      return { fanCount: 2500, subscriptionPriceCents: 1499, niche: 'fitness and travel', declaredFanCount: 2500 };
    },
    async analyseCreatorWithLlm(input) {
      record('analyseCreatorWithLlm', input);
      return null;
    },
    async saveMarketingAnalysis(input) {
      record('saveMarketingAnalysis', input);
    },
  };
  const count = (name: string) => calls.filter((c) => c.name === name).length;
  const inputs = (name: string) => calls.filter((c) => c.name === name).map((c) => c.input);
  return { activities, calls, projections, count, inputs, account, failures, facts };
}

const withWorker = <T>(activities: OnboardingActivities, fn: (taskQueue: string) => Promise<T>) =>
  withBundledWorker(env.nativeConnection, activities, fn);

async function startOnboardingWorkflow(taskQueue: string): Promise<WorkflowHandle<typeof onboardingWorkflow>> {
  const userId = randomUUID();
  return env.client.workflow.start(onboardingWorkflow, { taskQueue, workflowId: `onboarding:${userId}`, args: [{ userId }] });
}

describe('onboarding workflow', () => {
  it('sends a link, waits for verification, marks it and moves to accept_terms', async () => {
    const rec = recordingActivities();
    await withWorker(rec.activities, async (taskQueue) => {
      const handle = await startOnboardingWorkflow(taskQueue);
      await waitFor(() => rec.count('issueVerificationEmail') === 1, 'first email');
      await handle.signal(emailVerifiedSignal, { requestId: 'req-1' });
      await waitFor(async () => (await handle.query(onboardingStateQuery)).step === 'accept_terms', 'accept_terms');
      expect(rec.count('markEmailVerified')).toBe(1);
      const last = rec.projections.at(-1)!;
      expect(last.step).toBe('accept_terms');
      expect(last.steps.map((s) => s.status)).toEqual(['done', 'current', 'pending', 'pending']);
      // Projections carry increasing versions so the projection table never goes backwards.
      const versions = rec.projections.map((p) => p.version);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      expect(new Set(versions).size).toBe(versions.length);

      await handle.signal(termsAcceptedSignal, { termsVersion: '2026-01' });
      await waitFor(async () => (await handle.query(onboardingStateQuery)).step === 'stripe_connect', 'stripe_connect');
      expect(rec.projections.at(-1)!.step).toBe('stripe_connect');
    });
  });

  it('marks the link expired after 30 minutes unused; a resend issues a fresh one that works', async () => {
    const rec = recordingActivities();
    await withWorker(rec.activities, async (taskQueue) => {
      const handle = await startOnboardingWorkflow(taskQueue);
      await waitFor(() => rec.count('issueVerificationEmail') === 1, 'first email');
      expect((await handle.query(onboardingStateQuery)).verificationLinkExpired).toBe(false);

      await env.sleep(LINK_TTL_MS - 60_000);
      expect((await handle.query(onboardingStateQuery)).verificationLinkExpired).toBe(false);
      await env.sleep(2 * 60_000);
      const expired = await handle.query(onboardingStateQuery);
      expect(expired.verificationLinkExpired).toBe(true);
      expect(expired.steps[0]).toMatchObject({ name: 'verify_email', status: 'expired' });
      expect(rec.projections.at(-1)!.steps[0]!.status).toBe('expired');
      // No mail goes out by itself when a link expires.
      expect(rec.count('issueVerificationEmail')).toBe(1);

      await handle.signal(resendVerificationSignal, {});
      await waitFor(() => rec.count('issueVerificationEmail') === 2, 'second email');
      const fresh = await waitFor(async () => {
        const s = await handle.query(onboardingStateQuery);
        return s.verificationLinkExpired ? undefined : s;
      }, 'fresh link');
      expect(fresh.steps[0]!.status).toBe('current');
      expect(fresh.verificationEmailsSent).toBe(2);

      await handle.signal(emailVerifiedSignal, {});
      await waitFor(async () => (await handle.query(onboardingStateQuery)).step === 'accept_terms', 'accept_terms');
    });
  });

  it('a resend before expiry sends another link and restarts the expiry clock', async () => {
    const rec = recordingActivities();
    await withWorker(rec.activities, async (taskQueue) => {
      const handle = await startOnboardingWorkflow(taskQueue);
      await waitFor(() => rec.count('issueVerificationEmail') === 1, 'first email');
      await env.sleep(20 * 60_000);
      await handle.signal(resendVerificationSignal, {});
      await waitFor(() => rec.count('issueVerificationEmail') === 2, 'second email');
      // 20 more minutes: past the first link's expiry, within the second's.
      await env.sleep(20 * 60_000);
      expect((await handle.query(onboardingStateQuery)).verificationLinkExpired).toBe(false);
      await env.sleep(15 * 60_000);
      expect((await handle.query(onboardingStateQuery)).verificationLinkExpired).toBe(true);
    });
  });
});

const HOUR = 3_600_000;
const link = { returnUrl: 'https://app.example/return', refreshUrl: 'https://app.example/refresh' };
type Rec = ReturnType<typeof recordingActivities>;
type Handle = WorkflowHandle<typeof onboardingWorkflow>;

const stepIs = (handle: Handle, step: string) => waitFor(async () => (await handle.query(onboardingStateQuery)).step === step, step);

async function startOnboarding(rec: Rec, taskQueue: string): Promise<Handle> {
  const handle = await startOnboardingWorkflow(taskQueue);
  await waitFor(() => rec.count('issueVerificationEmail') >= 1, 'first email');
  return handle;
}

async function toStripeStep(rec: Rec, taskQueue: string): Promise<Handle> {
  const handle = await startOnboarding(rec, taskQueue);
  await handle.signal(emailVerifiedSignal, {});
  await stepIs(handle, 'accept_terms');
  await handle.signal(termsAcceptedSignal, { termsVersion: 'v1' });
  await stepIs(handle, 'stripe_connect');
  return handle;
}

async function activate(rec: Rec, handle: Handle) {
  await handle.executeUpdate(startStripeConnectUpdate, { args: [link] });
  Object.assign(rec.account, { detailsSubmitted: true, chargesEnabled: true, payoutsEnabled: true, currentlyDue: [] });
  await handle.signal(stripeAccountChangedSignal, { eventId: 'evt_1', type: 'account.updated' });
  await stepIs(handle, 'activated');
}

async function updateRejection(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return String(((err as WorkflowUpdateFailedError).cause as { details?: unknown[] }).details?.[0]);
}

describe('stripe connect and activation', () => {
  it('refuses Connect before the terms, creates one account for concurrent starts, refreshes links', async () => {
    const rec = recordingActivities();
    await withWorker(rec.activities, async (taskQueue) => {
      const handle = await startOnboarding(rec, taskQueue);
      expect(await updateRejection(handle.executeUpdate(startStripeConnectUpdate, { args: [link] }))).toBe('terms_not_accepted');
      expect(await updateRejection(handle.executeUpdate(refreshStripeLinkUpdate, { args: [link] }))).toBe('connect_not_started');
      expect(await updateRejection(handle.executeUpdate(createDashboardLinkUpdate))).toBe('connect_not_started');
      await handle.signal(emailVerifiedSignal, {});
      await stepIs(handle, 'accept_terms');
      await handle.signal(termsAcceptedSignal, { termsVersion: 'v1' });

      const [a, b] = await Promise.all([
        handle.executeUpdate(startStripeConnectUpdate, { args: [link] }),
        handle.executeUpdate(startStripeConnectUpdate, { args: [link] }),
      ]);
      expect(a.accountId).toBe('acct_test123');
      expect(b.accountId).toBe('acct_test123');
      expect(a.onboardingUrl).not.toBe(b.onboardingUrl);
      expect(rec.count('createStripeAccount')).toBe(1);
      expect(rec.inputs('createStripeAccount')[0]).toEqual({
        userId: expect.any(String),
        idempotencyKey: `${handle.workflowId}:create-account`,
      });
      const refreshed = await handle.executeUpdate(refreshStripeLinkUpdate, { args: [link] });
      expect(refreshed.onboardingUrl).toMatch(/link-3$/);
      expect(rec.inputs('createStripeAccountLink').at(-1)).toEqual({ accountId: 'acct_test123', ...link });
    });
  });

  it('stays on stripe_connect while the account is incomplete and activates on a read that says so', async () => {
    const rec = recordingActivities();
    await withWorker(rec.activities, async (taskQueue) => {
      const handle = await toStripeStep(rec, taskQueue);
      await handle.executeUpdate(startStripeConnectUpdate, { args: [link] });
      // A late or partial event: details submitted but payouts not enabled yet.
      Object.assign(rec.account, { detailsSubmitted: true, chargesEnabled: true, currentlyDue: [] });
      await handle.signal(stripeAccountChangedSignal, { eventId: 'evt_a', type: 'account.updated' });
      await waitFor(() => rec.count('syncStripeAccount') === 1, 'first sync');
      expect((await handle.query(onboardingStateQuery)).step).toBe('stripe_connect');

      Object.assign(rec.account, { payoutsEnabled: true });
      await handle.signal(stripeAccountChangedSignal, { eventId: 'evt_b', type: 'capability.updated' });
      await stepIs(handle, 'activated');
      const state = await handle.query(onboardingStateQuery);
      expect(state).toMatchObject({ completed: true, status: 'active', accountId: 'acct_test123' });
      expect(rec.count('activateCreator')).toBe(1);
      expect(rec.inputs('sendLifecycleEmail')).toEqual([{ userId: expect.any(String), template: 'welcome' }]);
      expect(rec.projections.at(-1)).toMatchObject({ step: 'activated', completed: true });

      // The marketing analysis runs in the background as its own workflow.
      await waitFor(() => rec.count('saveMarketingAnalysis') === 1, 'marketing analysis');
      expect(rec.inputs('saveMarketingAnalysis')[0]).toMatchObject({
        accountSize: 'small',
        pricingTier: 'mid',
        contentCategories: ['fitness', 'lifestyle'],
      });
      expect(await handle.executeUpdate(createDashboardLinkUpdate)).toEqual({ url: 'https://connect.example/express' });
    });
  });

  it('moves an active creator to restricted (one email), back to active, and restricted on deauthorization', async () => {
    const rec = recordingActivities();
    await withWorker(rec.activities, async (taskQueue) => {
      const handle = await toStripeStep(rec, taskQueue);
      await activate(rec, handle);

      Object.assign(rec.account, { chargesEnabled: false, payoutsEnabled: false, disabledReason: 'requirements.past_due' });
      await handle.signal(stripeAccountChangedSignal, { eventId: 'evt_r1', type: 'account.updated' });
      await handle.signal(stripeAccountChangedSignal, { eventId: 'evt_r2', type: 'account.updated' }); // duplicate
      await waitFor(async () => (await handle.query(onboardingStateQuery)).status === 'restricted', 'restricted');
      // Signals that arrive together are coalesced into one re-read of the account.
      await waitFor(() => rec.count('syncStripeAccount') >= 2, 'sync after activation');
      expect(rec.inputs('setCreatorStatus')).toEqual([{ userId: expect.any(String), status: 'restricted' }]);
      expect(rec.inputs('sendLifecycleEmail').filter((i) => (i as { template: string }).template === 'account_restricted')).toEqual([
        { userId: expect.any(String), template: 'account_restricted', reason: 'requirements.past_due' },
      ]);

      Object.assign(rec.account, { chargesEnabled: true, payoutsEnabled: true, disabledReason: null });
      await handle.signal(stripeAccountChangedSignal, { eventId: 'evt_ok', type: 'account.updated' });
      await waitFor(async () => (await handle.query(onboardingStateQuery)).status === 'active', 'active again');

      Object.assign(rec.account, { deauthorized: true });
      await handle.signal(stripeAccountChangedSignal, { eventId: 'evt_d', type: 'account.application.deauthorized' });
      await waitFor(async () => (await handle.query(onboardingStateQuery)).status === 'restricted', 'restricted again');
      await waitFor(
        () => rec.inputs('sendLifecycleEmail').some((i) => (i as { reason?: string }).reason === 'deauthorized'),
        'deauthorized email',
      );

      // RECORD_HISTORIES=1 refreshes the fixture that test/workflows/replay.test.ts replays: do it
      // only for a deliberate, compatible change (with patched() for running executions).
      if (process.env.RECORD_HISTORIES === '1') {
        const history = temporal.api.history.v1.History.encode(await handle.fetchHistory()).finish();
        writeFileSync(path.join(import.meta.dirname, 'histories', 'onboarding-full.bin'), history);
      }
    });
  });
});

describe('reminders', () => {
  it('reminds a stalled verification at 24 h and 72 h with a fresh link, then stops once verified', async () => {
    const rec = recordingActivities();
    await withWorker(rec.activities, async (taskQueue) => {
      const handle = await startOnboarding(rec, taskQueue);
      await env.sleep(REMINDER_DELAYS_MS[0]! + 60_000);
      await waitFor(() => rec.count('issueVerificationEmail') === 2, 'first reminder');
      expect(rec.inputs('issueVerificationEmail')[1]).toMatchObject({ reminder: true });
      await env.sleep(REMINDER_DELAYS_MS[1]! - REMINDER_DELAYS_MS[0]!);
      await waitFor(() => rec.count('issueVerificationEmail') === 3, 'second reminder');
      await handle.signal(emailVerifiedSignal, {});
      await stepIs(handle, 'accept_terms');
      await env.sleep(10 * 24 * HOUR);
      // Verified: no third verification reminder; now the terms step has had its own two.
      expect(rec.count('issueVerificationEmail')).toBe(3);
      expect(rec.inputs('sendOnboardingReminder')).toEqual([
        { userId: expect.any(String), step: 'accept_terms', reminder: 1 },
        { userId: expect.any(String), step: 'accept_terms', reminder: 2 },
      ]);
      expect((await handle.query(onboardingStateQuery)).remindersSent).toBe(4);
    });
  });

  it('sends no reminder for a step done in time, and cancels the rest when a step completes', async () => {
    const rec = recordingActivities();
    await withWorker(rec.activities, async (taskQueue) => {
      const handle = await toStripeStep(rec, taskQueue);
      await env.sleep(REMINDER_DELAYS_MS[0]! + HOUR);
      await waitFor(() => rec.count('sendOnboardingReminder') === 1, 'stripe reminder');
      expect(rec.inputs('sendOnboardingReminder')[0]).toMatchObject({ step: 'stripe_connect', reminder: 1 });
      await activate(rec, handle);
      await env.sleep(10 * 24 * HOUR);
      expect(rec.count('sendOnboardingReminder')).toBe(1);
      expect(rec.count('issueVerificationEmail')).toBe(1);
    });
  });
});

describe('restart after a failed run', () => {
  it('resumes from the facts in Postgres instead of asking again', async () => {
    const rec = recordingActivities();
    Object.assign(rec.facts, { emailVerified: true });
    await withWorker(rec.activities, async (taskQueue) => {
      const handle = await startOnboardingWorkflow(taskQueue);
      await stepIs(handle, 'accept_terms');
      expect(rec.count('issueVerificationEmail')).toBe(0);
    });

    const active = recordingActivities();
    Object.assign(active.facts, { emailVerified: true, termsAccepted: true, accountId: 'acct_test123', status: 'active' });
    Object.assign(active.account, { detailsSubmitted: true, chargesEnabled: true, payoutsEnabled: true, currentlyDue: [] });
    await withWorker(active.activities, async (taskQueue) => {
      const handle = await startOnboardingWorkflow(taskQueue);
      await waitFor(() => active.count('syncStripeAccount') === 1, 'account re-read');
      expect(await handle.query(onboardingStateQuery)).toMatchObject({ step: 'activated', status: 'active', accountId: 'acct_test123' });
      // Nothing of the first run is repeated: no mail, no second activation or analysis.
      expect(
        active.count('issueVerificationEmail') +
          active.count('sendLifecycleEmail') +
          active.count('activateCreator') +
          active.count('loadMarketingInputs'),
      ).toBe(0);
    });
  });
});

describe('mail refused for good', () => {
  it('leaves the onboarding running: the link shows expired, a resend works, a refused reminder is skipped', async () => {
    const rec = recordingActivities();
    rec.failures.verificationEmail = true;
    rec.failures.reminders = true;
    await withWorker(rec.activities, async (taskQueue) => {
      const handle = await startOnboardingWorkflow(taskQueue);
      await waitFor(async () => (await handle.query(onboardingStateQuery)).verificationLinkExpired, 'link shown expired');
      expect((await handle.describe()).status.name).toBe('RUNNING');

      rec.failures.verificationEmail = false;
      await handle.signal(resendVerificationSignal, {});
      await waitFor(async () => !(await handle.query(onboardingStateQuery)).verificationLinkExpired, 'fresh link');
      await handle.signal(emailVerifiedSignal, {});
      await stepIs(handle, 'accept_terms');
      await env.sleep(REMINDER_DELAYS_MS[1]! + HOUR);
      expect(rec.count('sendOnboardingReminder')).toBe(2);
      await handle.signal(termsAcceptedSignal, { termsVersion: 'v1' });
      await stepIs(handle, 'stripe_connect');
    });
  });
});

describe('password reset workflow', () => {
  it('runs the reset activity for known and unknown emails alike', async () => {
    const rec = recordingActivities();
    await withWorker(rec.activities, async (taskQueue) => {
      const known = await env.client.workflow.execute(passwordResetWorkflow, {
        taskQueue,
        workflowId: `password-reset:${randomUUID()}`,
        args: [{ email: 'a@known.test' }],
      });
      const unknown = await env.client.workflow.execute(passwordResetWorkflow, {
        taskQueue,
        workflowId: `password-reset:${randomUUID()}`,
        args: [{ email: 'b@unknown.test' }],
      });
      expect(known).toEqual({ sent: true });
      expect(unknown).toEqual({ sent: false });
      expect(rec.count('issuePasswordResetEmail')).toBe(2);
    });
  });
});
