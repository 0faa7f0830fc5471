// The maintenance schedules' workflows against the real database and workers: the token purge, the
// outbox sweep and the onboarding sweep.
import { randomUUID } from 'node:crypto';
import { eq, inArray, sql } from 'drizzle-orm';
import type { PgInsertValue } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createMaintenanceActivities } from '../../activities/maintenance.js';
import {
  creatorProfiles,
  emailTokens,
  fanImports,
  fanImportUploads,
  fans,
  messages,
  onboardingStatus,
  refreshTokens,
  stripeEvents,
  users,
} from '../../db/schema.js';
import { taskQueue } from '../../lib/temporal.js';
import {
  ensureMaintenanceSchedules,
  PURGE_TOKENS_SCHEDULE_ID,
  SWEEP_ONBOARDING_SCHEDULE_ID,
  SWEEP_OUTBOX_SCHEDULE_ID,
} from '../../processes/maintenance.js';
import { sweepOutboxWorkflow } from '../../workflows/send-queue.js';
import { connectionFor, enqueueMessage, PRIORITY } from '../../domain/outbox.js';
import { waitFor } from '../support/wait.js';
import { purgeExpiredTokensWorkflow, sweepOnboardingWorkflow } from '../../workflows/maintenance.js';
import { onboardingWorkflowId } from '../../workflows/onboarding.js';
import { OnboardingStep, UserId } from '../../workflows/search-attributes.js';
import { register, startHarness, uniqueEmail, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

describe('maintenance', () => {
  it('deletes tokens 24 h after expiry and keeps younger ones', async () => {
    const { userId } = await register(h);
    const ago = (interval: string) => sql`now() - ${interval}::interval`;
    const rows = await h.db
      .insert(emailTokens)
      .values([
        { userId, purpose: 'verify_email', tokenHash: randomUUID(), expiresAt: ago('25 hours') },
        { userId, purpose: 'reset_password', tokenHash: randomUUID(), expiresAt: ago('23 hours') },
        { userId, purpose: 'verify_email', tokenHash: randomUUID(), expiresAt: sql`now() + interval '10 minutes'` },
      ])
      .returning({ id: emailTokens.id });
    const refresh = await h.db
      .insert(refreshTokens)
      .values([
        { userId, familyId: randomUUID(), tokenHash: randomUUID(), expiresAt: ago('2 days') },
        { userId, familyId: randomUUID(), tokenHash: randomUUID(), expiresAt: ago('1 hour') },
      ])
      .returning({ id: refreshTokens.id });

    const result = await h.temporal.workflow.execute(purgeExpiredTokensWorkflow, {
      taskQueue: taskQueue(h.config, 'maintenance'),
      workflowId: `maintenance:purge-tokens:${randomUUID()}`,
    });
    expect(result.emailTokens).toBeGreaterThanOrEqual(1);
    expect(result.refreshTokens).toBeGreaterThanOrEqual(1);

    const leftEmail = await h.db
      .select({ id: emailTokens.id })
      .from(emailTokens)
      .where(
        inArray(
          emailTokens.id,
          rows.map((r) => r.id),
        ),
      );
    expect(leftEmail.map((r) => r.id).sort()).toEqual([rows[1]!.id, rows[2]!.id].sort());
    const leftRefresh = await h.db
      .select({ id: refreshTokens.id })
      .from(refreshTokens)
      .where(
        inArray(
          refreshTokens.id,
          refresh.map((r) => r.id),
        ),
      );
    expect(leftRefresh.map((r) => r.id)).toEqual([refresh[1]!.id]);
  });

  it('purges imports abandoned a day ago with their uploads, and keeps those under way', async () => {
    const { userId } = await register(h);
    const dayOld = sql`now() - interval '25 hours'`;
    const imported = async (status: 'uploading' | 'running', old: boolean) => {
      const [row] = await h.db
        .insert(fanImports)
        .values({ creatorId: userId, fileBytes: 4, status, ...(old ? { createdAt: dayOld, updatedAt: dayOld } : {}) })
        .returning({ id: fanImports.id });
      await h.db.insert(fanImportUploads).values({ importId: row!.id, startByte: 0, data: Buffer.from('a,b\n') });
      return row!.id;
    };
    const deadUpload = await imported('uploading', true); // its API died mid-upload
    const stalled = await imported('running', true); // its workflow was terminated
    const uploading = await imported('uploading', false);
    const running = await imported('running', false);

    const result = await h.temporal.workflow.execute(purgeExpiredTokensWorkflow, {
      taskQueue: taskQueue(h.config, 'maintenance'),
      workflowId: `maintenance:purge-tokens:${randomUUID()}`,
    });
    expect(result.abandonedImports).toBeGreaterThanOrEqual(2);
    const ids = [deadUpload, stalled, uploading, running];
    const imports = await h.db.select({ id: fanImports.id, status: fanImports.status }).from(fanImports).where(inArray(fanImports.id, ids));
    expect(Object.fromEntries(imports.map((i) => [i.id, i.status]))).toEqual({
      [stalled]: 'failed',
      [uploading]: 'uploading',
      [running]: 'running',
    });
    const pieces = await h.db
      .select({ importId: fanImportUploads.importId })
      .from(fanImportUploads)
      .where(inArray(fanImportUploads.importId, ids));
    expect(pieces.map((p) => p.importId).sort()).toEqual([uploading, running].sort());
  });

  it('is scheduled hourly by a Temporal Schedule that workers create once', async () => {
    await ensureMaintenanceSchedules(h.temporal, h.config);
    await ensureMaintenanceSchedules(h.temporal, h.config); // idempotent
    const schedule = await h.temporal.schedule.getHandle(PURGE_TOKENS_SCHEDULE_ID).describe();
    expect(schedule.action).toMatchObject({ type: 'startWorkflow', workflowType: 'purgeExpiredTokensWorkflow' });
    expect(schedule.spec.intervals?.[0]?.every).toBe(3_600_000);
    const sweep = await h.temporal.schedule.getHandle(SWEEP_OUTBOX_SCHEDULE_ID).describe();
    expect(sweep.action).toMatchObject({ type: 'startWorkflow', workflowType: 'sweepOutboxWorkflow' });
    expect(sweep.spec.intervals?.[0]?.every).toBe(60_000);
    const onboarding = await h.temporal.schedule.getHandle(SWEEP_ONBOARDING_SCHEDULE_ID).describe();
    expect(onboarding.action).toMatchObject({ type: 'startWorkflow', workflowType: 'sweepOnboardingWorkflow' });
    expect(onboarding.spec.intervals?.[0]?.every).toBe(60_000);
  });

  it('sends a message whose queue was never woken (the API died between commit and signal)', async () => {
    const { userId } = await register(h);
    const [fan] = await h.db.insert(fans).values({ creatorId: userId, handle: 'stranded_fan' }).returning();
    await connectionFor(h.db, h.config, userId, 'onlyfans');
    const { message } = await enqueueMessage(h.db, { creatorId: userId, fan: fan!, text: 'lost?', priority: PRIORITY.normal });
    await h.db
      .update(messages)
      .set({ queuedAt: sql`now() - interval '2 minutes'`, availableAt: sql`now() - interval '2 minutes'` })
      .where(eq(messages.id, message.id));

    const swept = await h.temporal.workflow.execute(sweepOutboxWorkflow, {
      taskQueue: taskQueue(h.config, 'messaging'),
      workflowId: `maintenance:sweep-outbox:${randomUUID()}`,
    });
    expect(swept.woken).toBeGreaterThanOrEqual(1);
    await waitFor(
      async () => (await h.db.query.messages.findFirst({ where: eq(messages.id, message.id) }))?.status === 'sent',
      'the stranded message sent',
    );
  });
  it('starts and advances an onboarding that never ran once its facts pass the grace period, not before', async () => {
    // Registered and verified while Temporal was unreachable: no workflow, no projection.
    const [user] = await h.db
      .insert(users)
      .values({
        email: uniqueEmail('sweep'),
        passwordHash: 'x',
        emailVerifiedAt: sql`now()`,
        termsVersion: '1',
        termsAcceptedAt: sql`now()`,
      })
      .returning();
    const sweep = () =>
      h.temporal.workflow.execute(sweepOnboardingWorkflow, {
        taskQueue: taskQueue(h.config, 'maintenance'),
        workflowId: `maintenance:sweep-onboarding:${randomUUID()}`,
      });
    const workflow = h.temporal.workflow.getHandle(onboardingWorkflowId(user!.id));

    await sweep();
    await expect(workflow.describe()).rejects.toThrow(WorkflowNotFoundError);

    await h.db
      .update(users)
      .set({ emailVerifiedAt: sql`now() - interval '2 minutes'`, termsAcceptedAt: sql`now() - interval '2 minutes'` })
      .where(eq(users.id, user!.id));
    const swept = await sweep();
    expect(swept.emailVerified).toBeGreaterThanOrEqual(1);
    await waitFor(
      async () =>
        (await h.db.query.onboardingStatus.findFirst({ where: eq(onboardingStatus.userId, user!.id) }))?.step === 'stripe_connect',
      'the onboarding at stripe_connect',
    );
    const { typedSearchAttributes } = await workflow.describe();
    expect(typedSearchAttributes.get(UserId)).toBe(user!.id);
    expect(typedSearchAttributes.get(OnboardingStep)).toBe('stripe_connect');
  });
});

/**
 * The sweep activity against the real database with a Temporal client that only records what the
 * onboarding process sends to `users` (which onboarding got a start or which signal). Other users'
 * calls fail, so the sweep leaves alone the Stripe events of tests running alongside.
 */
function recordingSweep(...users: { id: string }[]) {
  const ours = new Map(users.map((u) => [onboardingWorkflowId(u.id), u.id]));
  const sent: { userId: string; call: string }[] = [];
  type Options = { workflowId: string; signal?: { name: string } };
  const record = (call: (o: Options) => string) => async (_workflow: unknown, o: Options) => {
    const userId = ours.get(o.workflowId);
    if (!userId) throw new Error("not this test's user");
    sent.push({ userId, call: call(o) });
  };
  const client = {
    connection: { withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn() },
    workflow: { start: record(() => 'start'), signalWithStart: record((o) => o.signal!.name) },
  } as unknown as Client;
  const { sweepOnboarding } = createMaintenanceActivities({ db: h.db, client, config: h.config });
  return {
    // Quiet: the refused calls for other tests' users are logged as warnings.
    run: () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run(sweepOnboarding),
    /** What the sweeps sent to `userId`'s onboarding since the last take. */
    take(userId: string): string[] {
      const mine = sent.filter((s) => s.userId === userId).map((s) => s.call);
      sent.splice(0, sent.length, ...sent.filter((s) => s.userId !== userId));
      return mine.sort();
    },
  };
}

/** Now minus `minutes` whole minutes and 30 s: the sweep sees an age of exactly `minutes` for the next 30 s. */
const minutesAgo = (minutes: number) => sql`now() - make_interval(secs => ${minutes * 60 + 30})`;
const insertUser = async (values: Partial<PgInsertValue<typeof users>> = {}) =>
  (
    await h.db
      .insert(users)
      .values({ email: uniqueEmail('sweep'), passwordHash: 'x', ...values })
      .returning()
  )[0]!;

describe('onboarding sweep backoff and scope', () => {
  it('re-signals a stuck onboarding when its fact is 1, 2, 4, 8 minutes old, not in between', async () => {
    // Verified and terms accepted, but the workflow never projected past verify_email (stuck, e.g. a
    // failing projection activity): every sweep selects it again.
    const user = await insertUser({
      createdAt: minutesAgo(60),
      emailVerifiedAt: sql`now()`,
      termsVersion: '1',
      termsAcceptedAt: sql`now()`,
    });
    await h.db
      .insert(onboardingStatus)
      .values({ userId: user.id, workflowId: onboardingWorkflowId(user.id), executionId: 'stuck', step: 'verify_email' });
    const sweep = recordingSweep(user);
    const signalledAt: Record<string, number[]> = {};
    for (const age of [0, 1, 2, 3, 4, 5, 6, 7, 8]) {
      await h.db
        .update(users)
        .set({ emailVerifiedAt: minutesAgo(age), termsAcceptedAt: minutesAgo(age) })
        .where(eq(users.id, user.id));
      await sweep.run();
      for (const call of sweep.take(user.id)) (signalledAt[call] ??= []).push(age);
    }
    expect(signalledAt).toEqual({ emailVerified: [1, 2, 4, 8], termsAccepted: [1, 2, 4, 8] });
  });

  it('routes an unrouted Stripe event at 1, 2, 4 minutes of age, not at 3', async () => {
    const user = await insertUser({ createdAt: minutesAgo(60) });
    const accountId = `acct_sweep_${randomUUID().slice(0, 8)}`;
    await h.db.insert(creatorProfiles).values({ userId: user.id, stripeAccountId: accountId });
    const [event] = await h.db
      .insert(stripeEvents)
      .values({ id: `evt_sweep_${randomUUID()}`, type: 'account.updated', accountId, payload: {} })
      .returning();
    const sweep = recordingSweep(user);
    const routed: number[] = [];
    for (const age of [0, 3, 1, 3, 2, 3, 4]) {
      await h.db
        .update(stripeEvents)
        .set({ receivedAt: minutesAgo(age), routedAt: null })
        .where(eq(stripeEvents.id, event!.id));
      await sweep.run();
      const calls = sweep.take(user.id);
      const row = await h.db.query.stripeEvents.findFirst({ where: eq(stripeEvents.id, event!.id) });
      expect(row!.routedAt !== null, `routed at ${age} min`).toBe(calls.length > 0);
      if (calls.length > 0) routed.push(age);
    }
    expect(routed).toEqual([1, 2, 4]);
  });

  it('only acts for creators, and starts a creator onboarding that never ran from a minute after registration', async () => {
    const facts = { emailVerifiedAt: minutesAgo(2), termsVersion: '1', termsAcceptedAt: minutesAgo(2) };
    const operator = await insertUser({ role: 'operator', createdAt: minutesAgo(2), ...facts });
    const admin = await insertUser({ role: 'admin', createdAt: minutesAgo(1) });
    const verified = await insertUser({ createdAt: minutesAgo(3), ...facts });
    const fresh = await insertUser({ createdAt: sql`now()` });
    const registered = await insertUser({ createdAt: minutesAgo(1) });
    const sweep = recordingSweep(operator, admin, verified, fresh, registered);
    await sweep.run();
    expect(sweep.take(operator.id)).toEqual([]);
    expect(sweep.take(admin.id)).toEqual([]);
    expect(sweep.take(verified.id)).toEqual(['emailVerified', 'termsAccepted']);
    expect(sweep.take(fresh.id)).toEqual([]);
    expect(sweep.take(registered.id)).toEqual(['start']);
  });

  it('starts the onboarding of a creator who registered while Temporal was down, who then gets the verification email', async () => {
    // Registered without an onboarding (its start failed) and never came back to log in.
    const user = await insertUser({ createdAt: sql`now()` });
    const sweep = () =>
      h.temporal.workflow.execute(sweepOnboardingWorkflow, {
        taskQueue: taskQueue(h.config, 'maintenance'),
        workflowId: `maintenance:sweep-onboarding:${randomUUID()}`,
      });
    await sweep();
    await expect(h.temporal.workflow.getHandle(onboardingWorkflowId(user.id)).describe()).rejects.toThrow(WorkflowNotFoundError);

    await h.db
      .update(users)
      .set({ createdAt: minutesAgo(1) })
      .where(eq(users.id, user.id));
    expect((await sweep()).started).toBeGreaterThanOrEqual(1);
    await waitFor(
      async () => (await h.db.query.onboardingStatus.findFirst({ where: eq(onboardingStatus.userId, user.id) }))?.step === 'verify_email',
      'the onboarding projected at verify_email',
    );
    expect(await h.tokenFromMail(user.email, /confirm|confirmez/i)).toBeTruthy();
  });
});
