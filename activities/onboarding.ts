// Side effects of the onboarding and password-reset workflows. Each is safe to run twice.
import { createHash } from 'node:crypto';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { and, eq, isNull, sql } from 'drizzle-orm';
import Stripe from 'stripe';
import type { Db } from '../db/client.js';
import { issueEmailToken, secondsSinceLastEmailToken } from '../domain/email-tokens.js';
import { syncStripeAccount } from '../domain/stripe-account.js';
import type { StripeAccountState } from '../domain/stripe-activation.js';
import { creatorProfiles, fans, onboardingStatus, users, type OnboardingStepRecord } from '../db/schema.js';
import type { Config } from '../lib/config.js';
import type { DomainMetrics } from '../lib/metrics.js';
import { isPermanentEmailError, type EmailSender } from '../integrations/email/sender.js';
import { renderEmail, type TemplateVars } from '../integrations/email/templates.js';
import { analyseWithLlm, type MarketingAnalysis, type MarketingInputs, type MarketingSnapshot } from '../domain/marketing-analysis.js';
import { createLlmGateway, type LlmGatewayConfig, LlmRefusal, LlmRequestRejected } from '../integrations/llm/gateway.js';

export interface OnboardingActivityDeps {
  db: Db;
  /** The process's domain counters (lib/metrics.ts); tests may leave them out. */
  metrics?: DomainMetrics;
  email: EmailSender;
  stripe: Stripe;
  config: Pick<Config, 'FRONTEND_URL' | 'EMAIL_TOKEN_TTL_MINUTES'> & LlmGatewayConfig;
}

/** What the workflow decides activation on: a fresh read of the Stripe account. */

export type IssueVerificationResult = { alreadyVerified: true } | { alreadyVerified: false; expiresAt: string };

/** Minimum time between two password-reset mails to one account: stops mail bombing. */
const RESET_EMAIL_MIN_INTERVAL_SECONDS = 60;

export function createOnboardingActivities({ db, email, stripe, config, metrics }: OnboardingActivityDeps) {
  const llm = createLlmGateway({ db, config, metrics });
  const loadUser = async (userId: string) => {
    const user = await db.query.users.findFirst({ where: eq(users.id, userId) });
    if (!user) throw ApplicationFailure.nonRetryable(`user ${userId} not found`, 'UserNotFound');
    return user;
  };
  const ensureProfile = (userId: string) => db.insert(creatorProfiles).values({ userId }).onConflictDoNothing();
  /** Stripe's 4xx refusals will not change on retry: fail for good (the API answers 422). */
  const refusalsAreFinal = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      if (err instanceof Stripe.errors.StripeInvalidRequestError || err instanceof Stripe.errors.StripePermissionError) {
        throw ApplicationFailure.nonRetryable(err.message, 'StripeRefused');
      }
      throw err;
    }
  };

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
    async issueVerificationEmail(input: { userId: string; requestId?: string; reminder?: boolean }): Promise<IssueVerificationResult> {
      const user = await loadUser(input.userId);
      if (user.emailVerifiedAt) return { alreadyVerified: true };
      const { token, expiresAt } = await issueEmailToken(db, user.id, 'verify_email', config.EMAIL_TOKEN_TTL_MINUTES);
      const link = `${config.FRONTEND_URL}/verify-email?token=${token}`;
      const template = input.reminder ? 'verify_email_reminder' : 'verify_email';
      await send(
        user.email,
        renderEmail(template, user.locale, { name: user.name, link, expiresInMinutes: config.EMAIL_TOKEN_TTL_MINUTES }),
      );
      log.info('verification email sent', { userId: user.id, requestId: input.requestId });
      return { alreadyVerified: false, expiresAt: expiresAt.toISOString() };
    },

    /** What the user already did, so that a (re)started onboarding resumes where they are. */
    async loadOnboardingFacts(input: { userId: string }): Promise<{
      emailVerified: boolean;
      termsAccepted: boolean;
      accountId: string | null;
      status: 'onboarding' | 'active' | 'restricted';
    }> {
      const user = await loadUser(input.userId);
      const profile = await db.query.creatorProfiles.findFirst({ where: eq(creatorProfiles.userId, input.userId) });
      return {
        emailVerified: user.emailVerifiedAt !== null,
        termsAccepted: user.termsAcceptedAt !== null,
        accountId: profile?.stripeAccountId ?? null,
        status: profile?.activatedAt ? profile.status : 'onboarding',
      };
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
      await send(
        user.email,
        renderEmail('reset_password', user.locale, { name: user.name, link, expiresInMinutes: config.EMAIL_TOKEN_TTL_MINUTES }),
      );
      log.info('password reset email sent', { userId: user.id, requestId: input.requestId });
      return { sent: true };
    },

    async sendOnboardingReminder(input: { userId: string; step: 'accept_terms' | 'stripe_connect'; reminder: number }): Promise<void> {
      const user = await loadUser(input.userId);
      const link = `${config.FRONTEND_URL}/onboarding`;
      await send(user.email, renderEmail('onboarding_reminder', user.locale, { name: user.name, step: input.step, link }));
      log.info('onboarding reminder sent', { userId: user.id, step: input.step, reminder: input.reminder });
    },

    /**
     * Creates the user's Express account once. The stored id makes later calls return it; the
     * Stripe idempotency key (from the workflow id) covers a crash between create and store.
     */
    async createStripeAccount(input: { userId: string; idempotencyKey: string }): Promise<string> {
      await ensureProfile(input.userId);
      const profile = await db.query.creatorProfiles.findFirst({ where: eq(creatorProfiles.userId, input.userId) });
      if (profile?.stripeAccountId) return profile.stripeAccountId;
      const user = await loadUser(input.userId);
      const account = await refusalsAreFinal(() =>
        stripe.accounts.create(
          {
            type: 'express',
            email: user.email,
            capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
            metadata: { userId: user.id },
          },
          { idempotencyKey: input.idempotencyKey },
        ),
      );
      await db
        .update(creatorProfiles)
        .set({ stripeAccountId: account.id, updatedAt: sql`now()` })
        .where(and(eq(creatorProfiles.userId, input.userId), isNull(creatorProfiles.stripeAccountId)));
      log.info('stripe account created', { userId: user.id, accountId: account.id });
      return account.id;
    },

    /** A new single-use hosted onboarding link (every call is a new link, so no idempotency key). */
    async createStripeAccountLink(input: {
      accountId: string;
      returnUrl: string;
      refreshUrl: string;
    }): Promise<{ url: string; expiresAt: string }> {
      const link = await refusalsAreFinal(() =>
        stripe.accountLinks.create({
          account: input.accountId,
          type: 'account_onboarding',
          return_url: input.returnUrl,
          refresh_url: input.refreshUrl,
        }),
      );
      return { url: link.url, expiresAt: new Date(link.expires_at * 1000).toISOString() };
    },

    async createStripeDashboardLink(input: { accountId: string }): Promise<string> {
      return (await refusalsAreFinal(() => stripe.accounts.createLoginLink(input.accountId))).url;
    },

    /** Re-reads the account (webhooks can be late, duplicated or out of order) and projects it. */
    async syncStripeAccount(input: { userId: string; accountId: string }): Promise<StripeAccountState> {
      return syncStripeAccount({ db, stripe }, input);
    },

    /** Idempotent: keeps the first activation time. */
    async activateCreator(input: { userId: string }): Promise<void> {
      await db
        .update(creatorProfiles)
        .set({
          status: 'active',
          activatedAt: sql`coalesce(${creatorProfiles.activatedAt}, now())`,
          restrictedAt: null,
          updatedAt: sql`now()`,
        })
        .where(eq(creatorProfiles.userId, input.userId));
    },

    async setCreatorStatus(input: { userId: string; status: 'active' | 'restricted' }): Promise<void> {
      await db
        .update(creatorProfiles)
        .set({ status: input.status, restrictedAt: input.status === 'restricted' ? sql`now()` : null, updatedAt: sql`now()` })
        .where(eq(creatorProfiles.userId, input.userId));
    },

    /** Welcome and restriction mails (at least once: a retry after sending may repeat it). */
    async sendLifecycleEmail(
      input: { userId: string; template: 'welcome' } | { userId: string; template: 'account_restricted'; reason: string },
    ): Promise<void> {
      const user = await loadUser(input.userId);
      const link = `${config.FRONTEND_URL}/${input.template === 'welcome' ? 'dashboard' : 'settings/payouts'}`;
      const mail =
        input.template === 'welcome'
          ? renderEmail('welcome', user.locale, { name: user.name, link } satisfies TemplateVars['welcome'])
          : renderEmail('account_restricted', user.locale, { name: user.name, link, reason: input.reason });
      await send(user.email, mail);
      log.info('lifecycle email sent', { userId: user.id, template: input.template });
    },

    async loadMarketingInputs(input: { userId: string }): Promise<MarketingSnapshot> {
      const profile = await db.query.creatorProfiles.findFirst({ where: eq(creatorProfiles.userId, input.userId) });
      // The audience: the declared size, or the CRM's live fans when it knows more.
      const [crm] = await db
        .select({ n: sql<number>`count(*)::int` })
        .from(fans)
        .where(and(eq(fans.creatorId, input.userId), isNull(fans.deletedAt)));
      return {
        fanCount: Math.max(profile?.declaredFanCount ?? 0, crm?.n ?? 0),
        subscriptionPriceCents: profile?.subscriptionPriceCents ?? null,
        niche: profile?.niche ?? null,
        declaredFanCount: profile?.declaredFanCount ?? null,
      };
    },

    /**
     * The LLM's analysis within the creator's budget; null when refused, rejected by the endpoint or
     * out of vocabulary (the rules answer). One business step per set of inputs: the same profile
     * analysed again reads the stored answer instead of paying twice.
     */
    async analyseCreatorWithLlm(input: { userId: string; inputs: MarketingInputs }): Promise<MarketingAnalysis | null> {
      const { fanCount, subscriptionPriceCents, niche } = input.inputs;
      const digest = createHash('sha256')
        .update(JSON.stringify([fanCount, subscriptionPriceCents, niche]))
        .digest('hex')
        .slice(0, 32);
      try {
        return await analyseWithLlm(llm, input.userId, `marketing-analysis:${input.userId}:${digest}`, input.inputs);
      } catch (err) {
        if (err instanceof LlmRefusal || err instanceof LlmRequestRejected) {
          log.info('marketing analysis by rules', {
            userId: input.userId,
            reason: err instanceof LlmRefusal ? err.reason : 'llm_request_rejected',
          });
          return null;
        }
        throw err;
      }
    },

    /**
     * Saved only while the profile still declares what the analysis read: a run on older inputs
     * (activation's, racing a profile change's) finishing last does not overwrite the newer one.
     */
    async saveMarketingAnalysis(input: { userId: string; source: string; inputs?: MarketingSnapshot } & MarketingAnalysis): Promise<void> {
      // Without `inputs` (a task scheduled by the workflow code before they existed): saved as before.
      const declared = input.inputs && {
        niche: input.inputs.niche,
        subscriptionPriceCents: input.inputs.subscriptionPriceCents,
        declaredFanCount: input.inputs.declaredFanCount,
      };
      await db
        .update(creatorProfiles)
        .set({
          analysisSource: input.source,
          accountSize: input.accountSize,
          pricingTier: input.pricingTier,
          contentCategories: input.contentCategories,
          analysedAt: sql`now()`,
          updatedAt: sql`now()`,
        })
        .where(
          and(
            eq(creatorProfiles.userId, input.userId),
            declared && sql`${creatorProfiles.niche} is not distinct from ${declared.niche}`,
            declared && sql`${creatorProfiles.subscriptionPriceCents} is not distinct from ${declared.subscriptionPriceCents}::integer`,
            declared && sql`${creatorProfiles.declaredFanCount} is not distinct from ${declared.declaredFanCount}::integer`,
          ),
        );
    },
  };
}

export type OnboardingActivities = ReturnType<typeof createOnboardingActivities>;
