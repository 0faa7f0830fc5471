// The maintenance schedules' workflows against the real database and workers: the token purge, the
// outbox sweep and the onboarding sweep.
import { randomUUID } from 'node:crypto';
import { eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowNotFoundError } from '@temporalio/client';
import { emailTokens, fans, messages, onboardingStatus, refreshTokens, users } from '../../db/schema.js';
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
    const message = await h.db.transaction((tx) =>
      enqueueMessage(tx, { creatorId: userId, fan: fan!, text: 'lost?', priority: PRIORITY.normal }),
    );
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
