import { Context, log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { and, asc, eq, inArray, isNull, lt, notExists, or, sql, type SQL } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import type { Db } from '../db/client.js';
import { creatorProfiles, onboardingStatus, stripeEvents, users } from '../db/schema.js';
import { purgeAbandonedUploads, uploadGraceSeconds } from '../domain/import-uploads.js';
import { releaseStaleLlmReservations } from '../domain/llm-budget.js';
import { heldNowPayable } from '../domain/payouts.js';
import type { Config } from '../lib/config.js';
import { createOnboardingProcess, onboardingStripeEventTypes } from '../processes/onboarding.js';
import { createPayoutProcess } from '../processes/payouts.js';

export interface PurgeResult {
  emailTokens: number;
  refreshTokens: number;
  idempotencyKeys: number;
  rateLimitCounters: number;
  abandonedImports: number;
}

export interface OnboardingSweepResult {
  started: number;
  emailVerified: number;
  termsAccepted: number;
  stripeEvents: number;
  failed: number;
}

/** Users and Stripe events repaired per sweep run and kind at most, oldest fact first; later runs take the rest. */
const SWEEP_BATCH = 500;

/**
 * Whether the sweep acts on a fact recorded `at` in this run: when its age in whole minutes is a power
 * of two (1, 2, 4, 8, …), which the minutely Schedule hits about once each. Stateless backoff: a lost
 * signal is repaired one to two minutes after its commit, while an onboarding legitimately stuck
 * before projecting (a verification mail waiting on SES, a failing projection) gets about 11 repeats
 * in its first day, not 1,440, so its history stays far from the per-execution signal limit. The
 * price: a run that lands in the same minute twice or skips one (Schedule jitter) repeats or delays a
 * repair to the next power of two, and after a long Temporal outage a fact is repaired once its age
 * reaches the next power of two (at most twice its age at the outage's end).
 */
function dueNow(at: AnyPgColumn): SQL {
  const minutes = sql`floor(extract(epoch from now() - ${at}) / 60)::bigint`;
  return sql`(${minutes} > 0 and (${minutes} & (${minutes} - 1)) = 0)`;
}

export interface MaintenanceDeps {
  db: Db;
  /** For the onboarding sweep's signals. */
  client: Client;
  config: Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX' | 'PAYOUT_BALANCE_RETRY_SECONDS' | 'REQUEST_TIMEOUT_MS'>;
}

/** Held payouts retried per run of the sweep. */
const HELD_PAYOUTS_BATCH = 200;

export function createMaintenanceActivities({ db, client, config }: MaintenanceDeps) {
  const onboarding = createOnboardingProcess(client, config);
  const payouts = createPayoutProcess(client, config);
  return {
    /**
     * Idempotent delete of tokens that expired more than `graceHours` ago, and of Idempotency-Key
     * records past the same age (their replay window), and of ended rate-limit windows.
     */
    async purgeExpiredTokens({ graceHours }: { graceHours: number }): Promise<PurgeResult> {
      const cutoff = sql`now() - make_interval(hours => ${graceHours})`;
      const email = await db.execute(sql`delete from email_tokens where expires_at < ${cutoff}`);
      const refresh = await db.execute(sql`delete from refresh_tokens where expires_at < ${cutoff}`);
      const idempotency = await db.execute(sql`delete from idempotency_keys where created_at < ${cutoff}`);
      // Rate-limit windows (domain/rate-limits.ts) last at most an hour: older ones count nothing.
      const counters = await db.execute(sql`delete from rate_limit_counters where window_start < now() - interval '2 hours'`);
      const abandonedImports = await purgeAbandonedUploads(db, { graceHours, uploadGraceSeconds: uploadGraceSeconds(config) });
      return {
        emailTokens: email.count,
        refreshTokens: refresh.count,
        idempotencyKeys: idempotency.count,
        rateLimitCounters: counters.count,
        abandonedImports,
      };
    },

    /**
     * The onboarding sweep (every minute, Schedule `maintenance-sweep-onboarding`): registration
     * commits the user, then starts the onboarding; verify-email, accept-terms and the Stripe webhook
     * commit a fact, then signal it. A start or signal lost in between (Temporal down, the API process
     * gone) is sent again here, under the backoff of `dueNow`, for creators only (no other role has an
     * onboarding): registered with no projection row yet (the workflow projects on its first step),
     * email verified but still at verify_email, terms accepted but still before stripe_connect, and
     * Stripe events stored but never routed. Starts and signals are idempotent in the workflow;
     * signalWithStart also starts an onboarding that is not running, which resumes from the facts.
     */
    async sweepOnboarding(): Promise<OnboardingSweepResult> {
      const context = Context.current();
      const result: OnboardingSweepResult = { started: 0, emailVerified: 0, termsAccepted: 0, stripeEvents: 0, failed: 0 };
      const attempt = async (what: string, send: () => Promise<unknown>): Promise<boolean> => {
        try {
          await send();
          return true;
        } catch (err) {
          result.failed += 1;
          log.warn('onboarding sweep: signal failed', { what, error: String(err) });
          return false;
        } finally {
          context.heartbeat();
        }
      };

      const atVerify = or(isNull(onboardingStatus.step), eq(onboardingStatus.step, 'verify_email'));
      const beforeStripe = or(atVerify, eq(onboardingStatus.step, 'accept_terms'));
      /** Creators whose `fact` is due this run and whose projection is still `behind`, oldest fact first. */
      const creatorsBehind = (fact: AnyPgColumn, behind: SQL | undefined) =>
        db
          .select({ userId: users.id, termsVersion: users.termsVersion })
          .from(users)
          .leftJoin(onboardingStatus, eq(onboardingStatus.userId, users.id))
          .where(and(eq(users.role, 'creator'), dueNow(fact), behind))
          .orderBy(asc(fact))
          .limit(SWEEP_BATCH);

      for (const { userId } of await creatorsBehind(users.createdAt, isNull(onboardingStatus.userId))) {
        if (await attempt('start', () => onboarding.ensureStarted(userId))) result.started += 1;
      }
      for (const { userId } of await creatorsBehind(users.emailVerifiedAt, atVerify)) {
        if (await attempt('emailVerified', () => onboarding.emailVerified(userId))) result.emailVerified += 1;
      }
      for (const { userId, termsVersion } of await creatorsBehind(users.termsAcceptedAt, beforeStripe)) {
        if (await attempt('termsAccepted', () => onboarding.termsAccepted(userId, termsVersion ?? ''))) result.termsAccepted += 1;
      }

      // Stripe events: one signal per user (the workflow re-reads the account), then marked routed.
      const events = await db
        .select({ id: stripeEvents.id, type: stripeEvents.type, userId: creatorProfiles.userId })
        .from(stripeEvents)
        .innerJoin(creatorProfiles, eq(creatorProfiles.stripeAccountId, stripeEvents.accountId))
        .where(and(isNull(stripeEvents.routedAt), dueNow(stripeEvents.receivedAt), inArray(stripeEvents.type, onboardingStripeEventTypes)))
        .orderBy(asc(stripeEvents.receivedAt))
        .limit(SWEEP_BATCH);
      const byUser = new Map<string, typeof events>();
      for (const e of events) byUser.set(e.userId, [...(byUser.get(e.userId) ?? []), e]);
      for (const [userId, ofUser] of byUser) {
        const newest = ofUser.at(-1)!;
        if (
          !(await attempt('stripeAccountChanged', () => onboarding.stripeAccountChanged(userId, { eventId: newest.id, type: newest.type })))
        )
          continue;
        const ids = ofUser.map((e) => e.id);
        await db.update(stripeEvents).set({ routedAt: sql`now()` }).where(inArray(stripeEvents.id, ids));
        result.stripeEvents += ids.length;
      }
      // Events for accounts no creator holds have nobody to tell (as the webhook decides): no signal, no backoff.
      const unrouted = and(isNull(stripeEvents.routedAt), lt(stripeEvents.receivedAt, sql`now() - interval '1 minute'`));
      await db
        .update(stripeEvents)
        .set({ routedAt: sql`now()` })
        .where(
          and(
            unrouted,
            notExists(db.select({ one: sql`1` }).from(creatorProfiles).where(eq(creatorProfiles.stripeAccountId, stripeEvents.accountId))),
          ),
        );
      return result;
    },

    /**
     * Held payouts of creators who can now be paid (their Stripe account was fixed) run again: the
     * month's payout workflow, which pays once (it looks the transfer up before making one).
     */
    async retryHeldPayouts(): Promise<{ retried: number }> {
      const context = Context.current();
      let retried = 0;
      for (const { creatorId, month } of await heldNowPayable(db, HELD_PAYOUTS_BATCH)) {
        await payouts.retry(creatorId, month);
        retried += 1;
        context.heartbeat(retried);
      }
      return { retried };
    },

    /** LLM reservations that never settled (their worker died mid-call) stop holding budget. */
    async releaseStaleLlmReservations(): Promise<{ released: number }> {
      return { released: await releaseStaleLlmReservations(db) };
    },
  };
}

export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;
