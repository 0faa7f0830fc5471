import { Context, log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { and, asc, eq, inArray, isNull, lt, notExists, or, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { creatorProfiles, onboardingStatus, stripeEvents, users } from '../db/schema.js';
import type { Config } from '../lib/config.js';
import { createOnboardingProcess, onboardingStripeEventTypes } from '../processes/onboarding.js';

export interface PurgeResult {
  emailTokens: number;
  refreshTokens: number;
  idempotencyKeys: number;
}

export interface OnboardingSweepResult {
  emailVerified: number;
  termsAccepted: number;
  stripeEvents: number;
  failed: number;
}

/** A fact this old that its onboarding has not caught up with lost its signal (commit, then signal). */
export const ONBOARDING_STRANDED_AFTER_SECONDS = 60;
/** Users and Stripe events repaired per sweep run at most; the next run (a minute later) takes the rest. */
const SWEEP_BATCH = 500;

export interface MaintenanceDeps {
  db: Db;
  /** For the onboarding sweep's signals. */
  client: Client;
  config: Pick<Config, 'TEMPORAL_TASK_QUEUE_PREFIX'>;
}

export function createMaintenanceActivities({ db, client, config }: MaintenanceDeps) {
  const onboarding = createOnboardingProcess(client, config);
  return {
    /**
     * Idempotent delete of tokens that expired more than `graceHours` ago, and of Idempotency-Key
     * records past the same age (their replay window).
     */
    async purgeExpiredTokens({ graceHours }: { graceHours: number }): Promise<PurgeResult> {
      const cutoff = sql`now() - make_interval(hours => ${graceHours})`;
      const email = await db.execute(sql`delete from email_tokens where expires_at < ${cutoff}`);
      const refresh = await db.execute(sql`delete from refresh_tokens where expires_at < ${cutoff}`);
      const idempotency = await db.execute(sql`delete from idempotency_keys where created_at < ${cutoff}`);
      return { emailTokens: email.count, refreshTokens: refresh.count, idempotencyKeys: idempotency.count };
    },

    /**
     * The onboarding sweep (every minute, Schedule `maintenance-sweep-onboarding`): the API commits
     * a fact, then signals the user's onboarding; a signal lost in between (Temporal down, the API
     * process gone) is sent again here once the fact is older than the grace period and the
     * projection has not moved past it: email verified but still at verify_email, terms accepted
     * but still before stripe_connect, Stripe events stored but never routed. The signals are
     * idempotent in the workflow; signalWithStart also restarts an onboarding that is not running.
     */
    async sweepOnboarding(): Promise<OnboardingSweepResult> {
      const context = Context.current();
      const stale = sql`now() - make_interval(secs => ${ONBOARDING_STRANDED_AFTER_SECONDS})`;
      const result: OnboardingSweepResult = { emailVerified: 0, termsAccepted: 0, stripeEvents: 0, failed: 0 };
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
      const verifyLost = and(lt(users.emailVerifiedAt, stale), atVerify);
      const termsLost = and(lt(users.termsAcceptedAt, stale), beforeStripe);
      const behind = await db
        .select({
          userId: users.id,
          verifyLost: sql<boolean>`coalesce(${verifyLost}, false)`,
          termsLost: sql<boolean>`coalesce(${termsLost}, false)`,
          termsVersion: users.termsVersion,
        })
        .from(users)
        .leftJoin(onboardingStatus, eq(onboardingStatus.userId, users.id))
        .where(or(verifyLost, termsLost))
        .limit(SWEEP_BATCH);
      for (const user of behind) {
        if (user.verifyLost && (await attempt('emailVerified', () => onboarding.emailVerified(user.userId)))) result.emailVerified += 1;
        if (user.termsLost) {
          const version = user.termsVersion ?? '';
          if (await attempt('termsAccepted', () => onboarding.termsAccepted(user.userId, version))) result.termsAccepted += 1;
        }
      }

      // Stripe events: one signal per user (the workflow re-reads the account), then marked routed.
      const unrouted = and(isNull(stripeEvents.routedAt), lt(stripeEvents.receivedAt, stale));
      const events = await db
        .select({ id: stripeEvents.id, type: stripeEvents.type, userId: creatorProfiles.userId })
        .from(stripeEvents)
        .innerJoin(creatorProfiles, eq(creatorProfiles.stripeAccountId, stripeEvents.accountId))
        .where(and(unrouted, inArray(stripeEvents.type, onboardingStripeEventTypes)))
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
      // Events for accounts no creator holds have nobody to tell (as the webhook decides).
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
  };
}

export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;
