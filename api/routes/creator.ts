// The creator's business profile: what they declare (inputs of the marketing analysis), their
// activation status and the latest analysis. Not in SPEC §2's table; see docs/DECISIONS.md.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { eq, sql } from 'drizzle-orm';
import { Type } from 'typebox';
import { creatorProfiles } from '../../db/schema.js';
import type { RouteDeps } from '../app.js';
import { caller } from '../authenticate.js';
import { bearerAuth, errorResponses, Nullable } from '../schemas.js';

const Profile = Type.Object({
  status: Type.Union([Type.Literal('onboarding'), Type.Literal('active'), Type.Literal('restricted')]),
  stripeAccountId: Nullable(Type.String()),
  activatedAt: Nullable(Type.String({ format: 'date-time' })),
  niche: Nullable(Type.String()),
  subscriptionPriceCents: Nullable(Type.Integer()),
  declaredFanCount: Nullable(Type.Integer()),
  analysis: Nullable(
    Type.Object({
      accountSize: Type.String(),
      pricingTier: Nullable(Type.String()),
      contentCategories: Type.Array(Type.String()),
      source: Type.String({ description: 'llm (the LLM gateway, within the AI budget) or rules (the deterministic fallback)' }),
      analysedAt: Type.String({ format: 'date-time' }),
    }),
  ),
});

type Row = typeof creatorProfiles.$inferSelect;
const present = (p: Row | undefined) => ({
  status: p?.status ?? 'onboarding',
  stripeAccountId: p?.stripeAccountId ?? null,
  activatedAt: p?.activatedAt?.toISOString() ?? null,
  niche: p?.niche ?? null,
  subscriptionPriceCents: p?.subscriptionPriceCents ?? null,
  declaredFanCount: p?.declaredFanCount ?? null,
  analysis:
    p?.analysedAt && p.accountSize
      ? {
          accountSize: p.accountSize,
          pricingTier: p.pricingTier,
          contentCategories: p.contentCategories ?? [],
          source: p.analysisSource ?? 'rules',
          analysedAt: p.analysedAt.toISOString(),
        }
      : null,
});

export const creatorRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, onboarding }) => {
  app.get(
    '/creator/profile',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['creator'],
        summary: 'The caller’s creator profile',
        security: bearerAuth,
        response: { 200: Profile, ...errorResponses(401) },
      },
    },
    async (request) => present(await db.query.creatorProfiles.findFirst({ where: eq(creatorProfiles.userId, caller(request).userId) })),
  );

  app.put(
    '/creator/profile',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['creator'],
        summary: 'Declare the niche, subscription price and audience size (inputs of the marketing analysis)',
        description: 'The analysis runs at activation, and again after each change of an active creator’s profile.',
        security: bearerAuth,
        body: Type.Object(
          {
            niche: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
            subscriptionPriceCents: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 100_000_00 }))),
            declaredFanCount: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 1_000_000_000 }))),
          },
          { additionalProperties: false },
        ),
        response: { 200: Profile, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const userId = caller(request).userId;
      const [row] = await db
        .insert(creatorProfiles)
        .values({ userId, ...request.body })
        .onConflictDoUpdate({ target: creatorProfiles.userId, set: { ...request.body, updatedAt: sql`now()` } })
        .returning();
      if (row?.status === 'active')
        await onboarding
          .reanalyse(userId)
          .catch((err: unknown) => request.log.warn({ err, userId }, 'marketing analysis not restarted after a profile change'));
      return present(row);
    },
  );
};
