// Onboarding workflow under the time-skipping test server, with stubbed activities that record
// what the workflow asked for. Timers of 30 minutes pass in milliseconds.
import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { OnboardingActivities } from '../../activities/onboarding.js';
import { temporalTestServerPath } from '../../lib/toolchain.js';
import {
  emailVerifiedSignal,
  onboardingStateQuery,
  onboardingWorkflow,
  resendVerificationSignal,
  termsAcceptedSignal,
} from '../../workflows/onboarding.js';
import { passwordResetWorkflow } from '../../workflows/password-reset.js';
import { allSearchAttributes } from '../../workflows/search-attributes.js';
import { waitFor } from '../support/wait.js';

const LINK_TTL_MS = 30 * 60_000;

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: temporalTestServerPath() } },
  });
  // The test server takes no --search-attribute flags; register them through the operator API.
  const { IndexedValueType } = temporal.api.enums.v1;
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: Object.fromEntries(allSearchAttributes.map((k) => [k.name, IndexedValueType[`INDEXED_VALUE_TYPE_${k.type}`]])),
  });
});
afterAll(() => env?.teardown());

function recordingActivities() {
  const calls: { name: string; input: unknown; at: number }[] = [];
  const projections: { step: string; steps: { name: string; status: string }[]; version: number }[] = [];
  let verified = false;
  const activities: OnboardingActivities = {
    async issueVerificationEmail(input) {
      calls.push({ name: 'issueVerificationEmail', input, at: Date.now() });
      if (verified) return { alreadyVerified: true };
      // Expiry is computed from the test server's clock, as the real activity does from the DB's.
      return { alreadyVerified: false, expiresAt: new Date((await env.currentTimeMs()) + LINK_TTL_MS).toISOString() };
    },
    async markEmailVerified(input) {
      verified = true;
      calls.push({ name: 'markEmailVerified', input, at: Date.now() });
    },
    async projectOnboarding(input) {
      projections.push(input);
    },
    async issuePasswordResetEmail(input) {
      calls.push({ name: 'issuePasswordResetEmail', input, at: Date.now() });
      return { sent: input.email.endsWith('@known.test') };
    },
  };
  const count = (name: string) => calls.filter((c) => c.name === name).length;
  return { activities, calls, projections, count };
}

async function withWorker<T>(activities: OnboardingActivities, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `tq-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities,
  });
  return worker.runUntil(fn(taskQueue));
}

describe('onboarding workflow', () => {
  it('sends a link, waits for verification, marks it and moves to accept_terms', async () => {
    const rec = recordingActivities();
    await withWorker(rec.activities, async (taskQueue) => {
      const userId = randomUUID();
      const handle = await env.client.workflow.start(onboardingWorkflow, { taskQueue, workflowId: `onboarding:${userId}`, args: [{ userId }] });
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

      // Terms (built by the next milestone) move it on to Stripe.
      await handle.signal(termsAcceptedSignal, { termsVersion: '2026-01' });
      await handle.result();
      expect(rec.projections.at(-1)!.step).toBe('stripe_connect');
    });
  });

  it('marks the link expired after 30 minutes unused; a resend issues a fresh one that works', async () => {
    const rec = recordingActivities();
    await withWorker(rec.activities, async (taskQueue) => {
      const userId = randomUUID();
      const handle = await env.client.workflow.start(onboardingWorkflow, { taskQueue, workflowId: `onboarding:${userId}`, args: [{ userId }] });
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
      const userId = randomUUID();
      const handle = await env.client.workflow.start(onboardingWorkflow, { taskQueue, workflowId: `onboarding:${userId}`, args: [{ userId }] });
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

describe('password reset workflow', () => {
  it('runs the reset activity for known and unknown emails alike', async () => {
    const rec = recordingActivities();
    await withWorker(rec.activities, async (taskQueue) => {
      const known = await env.client.workflow.execute(passwordResetWorkflow, { taskQueue, workflowId: `password-reset:${randomUUID()}`, args: [{ email: 'a@known.test' }] });
      const unknown = await env.client.workflow.execute(passwordResetWorkflow, { taskQueue, workflowId: `password-reset:${randomUUID()}`, args: [{ email: 'b@unknown.test' }] });
      expect(known).toEqual({ sent: true });
      expect(unknown).toEqual({ sent: false });
      expect(rec.count('issuePasswordResetEmail')).toBe(2);
    });
  });
});
