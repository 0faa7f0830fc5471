// Side effects of the onboarding and password-reset workflows. Each is safe to run twice.
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { issueEmailToken, secondsSinceLastEmailToken } from '../db/email-tokens.js';
import { onboardingStatus, users, type OnboardingStepRecord } from '../db/schema.js';
import type { Config } from '../lib/config.js';
import { isPermanentEmailError, type EmailSender } from '../lib/email/sender.js';
import { renderEmail } from '../lib/email/templates.js';

export interface OnboardingActivityDeps {
  db: Db;
  email: EmailSender;
  config: Pick<Config, 'FRONTEND_URL' | 'EMAIL_TOKEN_TTL_MINUTES'>;
}

export type IssueVerificationResult = { alreadyVerified: true } | { alreadyVerified: false; expiresAt: string };

/** Minimum time between two password-reset mails to one account: stops mail bombing. */
const RESET_EMAIL_MIN_INTERVAL_SECONDS = 60;

export function createOnboardingActivities({ db, email, config }: OnboardingActivityDeps) {
  const send = async (to: string, mail: { subject: string; text: string; html: string }) => {
    try {
      await email.send({ to, ...mail });
    } catch (err) {
      // A rejected address will not be accepted on retry; everything else retries.
      if (isPermanentEmailError(err)) throw ApplicationFailure.nonRetryable(String(err), 'EmailRejected');
      throw err;
    }
  };

  return {
    /**
     * Issues a fresh verification token (killing older ones) and mails its link. A retry after
     * the mail went out sends a second mail whose link replaces the first: the user always has
     * one working link, never a dead newest one.
     */
    async issueVerificationEmail(input: { userId: string; requestId?: string }): Promise<IssueVerificationResult> {
      const user = await db.query.users.findFirst({ where: eq(users.id, input.userId) });
      if (!user) throw ApplicationFailure.nonRetryable(`user ${input.userId} not found`, 'UserNotFound');
      if (user.emailVerifiedAt) return { alreadyVerified: true };
      const { token, expiresAt } = await issueEmailToken(db, user.id, 'verify_email', config.EMAIL_TOKEN_TTL_MINUTES);
      const link = `${config.FRONTEND_URL}/verify-email?token=${token}`;
      await send(user.email, renderEmail('verify_email', user.locale, { name: user.name, link, expiresInMinutes: config.EMAIL_TOKEN_TTL_MINUTES }));
      log.info('verification email sent', { userId: user.id, requestId: input.requestId });
      return { alreadyVerified: false, expiresAt: expiresAt.toISOString() };
    },

    /** Idempotent: keeps the first verification time. */
    async markEmailVerified(input: { userId: string }): Promise<void> {
      await db
        .update(users)
        .set({ emailVerifiedAt: sql`coalesce(${users.emailVerifiedAt}, now())`, updatedAt: sql`now()` })
        .where(eq(users.id, input.userId));
    },

    /** Writes the workflow's state for the API to read; an older version never overwrites a newer one. */
    async projectOnboarding(input: {
      userId: string;
      workflowId: string;
      executionId: string;
      step: string;
      completed: boolean;
      steps: OnboardingStepRecord[];
      version: number;
    }): Promise<void> {
      const row = { ...input, updatedAt: new Date() };
      await db
        .insert(onboardingStatus)
        .values(row)
        .onConflictDoUpdate({
          target: onboardingStatus.userId,
          set: row,
          setWhere: sql`${onboardingStatus.version} < ${input.version} or ${onboardingStatus.executionId} <> ${input.executionId}`,
        });
    },

    /** Unknown emails end here quietly: the caller cannot tell the difference. */
    async issuePasswordResetEmail(input: { email: string; requestId?: string }): Promise<{ sent: boolean }> {
      const user = await db.query.users.findFirst({ where: eq(users.email, input.email.toLowerCase()) });
      if (!user) return { sent: false };
      // Throttle only the first attempt: a retry must still deliver the mail it owes.
      if (Context.current().info.attempt === 1) {
        const age = await secondsSinceLastEmailToken(db, user.id, 'reset_password');
        if (age !== null && age < RESET_EMAIL_MIN_INTERVAL_SECONDS) return { sent: false };
      }
      const { token } = await issueEmailToken(db, user.id, 'reset_password', config.EMAIL_TOKEN_TTL_MINUTES);
      const link = `${config.FRONTEND_URL}/reset-password?token=${token}`;
      await send(user.email, renderEmail('reset_password', user.locale, { name: user.name, link, expiresInMinutes: config.EMAIL_TOKEN_TTL_MINUTES }));
      log.info('password reset email sent', { userId: user.id, requestId: input.requestId });
      return { sent: true };
    },
  };
}

export type OnboardingActivities = ReturnType<typeof createOnboardingActivities>;
