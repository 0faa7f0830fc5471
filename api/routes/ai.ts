// SPEC §5 AI: the creator's LLM budget and usage, their persona (AI config), and reply suggestions
// (drafted by `reply-suggestion:<id>` workflows, sent only once a person approves them, or by
// auto-reply). Every LLM call goes through integrations/llm/gateway.ts in the workers; the API only
// reads, configures, starts and decides.
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, eq, gte, isNull, lt, sql } from 'drizzle-orm';
import { Type } from 'typebox';
import { conversations, fans, llmCalls, replySuggestions } from '../../db/schema.js';
import { aiConfigOf, saveAiConfig } from '../../domain/ai-config.js';
import { budgetOf, microcentsToCents, setBudget } from '../../domain/llm-budget.js';
import {
  draftFitsBudget,
  type Suggestion,
  startSuggestion,
  suggestionIdForRequest,
  suggestionOf,
  suggestionsOf,
} from '../../domain/reply-suggestions.js';
import type { RouteDeps } from '../app.js';
import { caller } from '../authenticate.js';
import { ApiError, notFound } from '../errors.js';
import { afterNewest, page, PageQuery } from '../pagination.js';
import { bearerAuth, errorResponses, IdempotencyHeaders, MessageText, Nullable, PriceCents } from '../schemas.js';

const Cap = Type.Integer({ minimum: 0, maximum: 100_000_00, description: 'cents' });
const Budget = Type.Object({ dailyCapCents: Cap, monthlyCapCents: Cap }, { additionalProperties: false });

const Day = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'YYYY-MM-DD (UTC)' });
/** A day Postgres takes: Date.parse rolls 2026-02-31 over to March and knows a year 0, Postgres refuses both. */
const isRealDay = (day: string) => {
  const t = Date.parse(`${day}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === day && !day.startsWith('0000');
};
const Usage = Type.Object({
  from: Type.String(),
  to: Type.String(),
  spentCents: Type.Number({ description: 'cents, with fractions: a short call costs a fraction of a cent' }),
  reservedCents: Type.Number({ description: 'cents, with fractions: the estimates of calls still running' }),
  calls: Type.Integer(),
  refusals: Type.Integer(),
  byFeature: Type.Array(Type.Object({ feature: Type.String(), calls: Type.Integer(), spentCents: Type.Number() })),
  byDay: Type.Array(Type.Object({ day: Type.String(), calls: Type.Integer(), spentCents: Type.Number() })),
});

const ShortText = (maxLength: number) => Type.String({ minLength: 1, maxLength });
const AiConfig = Type.Object(
  {
    persona: Type.Object(
      {
        name: ShortText(100),
        tone: ShortText(200),
        style: ShortText(200),
        language: Type.String({ pattern: '^[a-z]{2,3}(-[A-Za-z]{2,4})?$', description: 'a language code: en, fr, pt-BR' }),
        boundaries: Type.Array(ShortText(300), { maxItems: 30 }),
        emojis: Type.Boolean(),
      },
      { additionalProperties: false },
    ),
    customResponses: Type.Array(ShortText(1_000), { maxItems: 30 }),
    autoReply: Type.Object(
      { enabled: Type.Boolean(), maxPriceCents: Type.Integer({ minimum: 0, maximum: 1_000_000 }) },
      { additionalProperties: false },
    ),
    suggestOnInbound: Type.Boolean(),
  },
  { additionalProperties: false },
);

const SuggestionView = Type.Object({
  id: Type.String(),
  conversationId: Type.String(),
  status: Type.String({ description: 'drafting, ready, approved, rejected, expired, refused or failed' }),
  text: Nullable(Type.String({ description: 'what was sent, else the draft' })),
  draftText: Nullable(Type.String({ description: 'the model’s draft, as written' })),
  priceCents: Nullable(Type.Integer()),
  costCents: Type.Number({ description: 'cents, with fractions: what its draft cost' }),
  trigger: Type.String(),
  reason: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  decidedBy: Nullable(Type.String()),
  decidedAt: Nullable(Type.String({ format: 'date-time' })),
  sentMessageId: Nullable(Type.String()),
});

export const presentSuggestion = (s: Suggestion) => ({
  id: s.id,
  conversationId: s.conversationId,
  status: s.status,
  text: s.sentText ?? s.draftText,
  draftText: s.draftText,
  priceCents: s.priceCents,
  costCents: microcentsToCents(s.costMicrocents),
  trigger: s.trigger,
  reason: s.reason,
  createdAt: s.createdAt.toISOString(),
  expiresAt: s.expiresAt.toISOString(),
  decidedBy: s.decidedBy,
  decidedAt: s.decidedAt?.toISOString() ?? null,
  sentMessageId: s.sentMessageId,
});

const budgetExceeded = () => new ApiError(422, 'llm_budget_exceeded', 'the AI budget for today or this month is spent');
const notReady = (s: Suggestion) => new ApiError(409, 'suggestion_not_ready', `the suggestion is ${s.status}`);
/** A body that may be left out and has nothing to say: anything in it is a 400. */
const NoBody = Type.Optional(Type.Object({}, { additionalProperties: false }));
/** Fastify validates a missing optional body as required: an absent one is the empty object. */
const emptyBodyIfNone = async (request: { body: unknown }) => {
  request.body ??= {};
};

export const aiRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, config, replySuggestions: process }) => {
  app.addHook('onRequest', app.authenticate);
  const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

  app.get(
    '/ai/budget',
    {
      schema: {
        tags: ['ai'],
        summary: 'The caller’s LLM spend caps per UTC day and month',
        security: bearerAuth,
        response: { 200: Budget, ...errorResponses(401) },
      },
    },
    async (request) => budgetOf(db, config, caller(request).userId),
  );

  app.put(
    '/ai/budget',
    {
      schema: {
        tags: ['ai'],
        summary: 'Set the caller’s LLM spend caps; calls that would pass either are refused',
        security: bearerAuth,
        body: Budget,
        response: { 200: Budget, ...errorResponses(400, 401, 422) },
      },
    },
    async (request) => {
      const { dailyCapCents, monthlyCapCents } = request.body;
      if (dailyCapCents > monthlyCapCents)
        throw new ApiError(400, 'validation_failed', 'the daily cap cannot be above the monthly cap', [
          { field: 'body.dailyCapCents', message: 'must not exceed monthlyCapCents' },
        ]);
      // The platform pays the provider: a creator's caps stay under its ceiling.
      if (monthlyCapCents > config.AI_MAX_CAP_CENTS)
        throw new ApiError(422, 'cap_above_limit', `caps may be at most ${config.AI_MAX_CAP_CENTS} cents`, [
          { field: 'body.monthlyCapCents', message: `must not exceed ${config.AI_MAX_CAP_CENTS}` },
        ]);
      return setBudget(db, caller(request).userId, { dailyCapCents, monthlyCapCents });
    },
  );

  app.get(
    '/ai/usage',
    {
      schema: {
        tags: ['ai'],
        summary: 'LLM spend, open reservations, calls and refusals between two UTC days (default: this month)',
        security: bearerAuth,
        querystring: Type.Object({ from: Type.Optional(Day), to: Type.Optional(Day) }, { additionalProperties: false }),
        response: { 200: Usage, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const today = new Date().toISOString().slice(0, 10);
      const from = request.query.from ?? `${today.slice(0, 8)}01`;
      const to = request.query.to ?? today;
      if (!isRealDay(from) || !isRealDay(to) || from > to)
        throw new ApiError(400, 'validation_failed', '`from` and `to` must be real days, `from` not after `to`');
      const where = and(
        eq(llmCalls.creatorId, caller(request).userId),
        gte(llmCalls.reservedAt, sql`${from}::date::timestamp at time zone 'UTC'`),
        lt(llmCalls.reservedAt, sql`(${to}::date + 1)::timestamp at time zone 'UTC'`),
      );
      const made = sql`${llmCalls.status} in ('settled', 'reserved')`;
      const spent = sql<string>`coalesce(sum(${llmCalls.costMicrocents}) filter (where ${llmCalls.status} = 'settled'), 0)`;
      const calls = sql<number>`(count(*) filter (where ${made}))::int`;
      const [totals] = await db
        .select({
          spent,
          reserved: sql<string>`coalesce(sum(${llmCalls.reservedMicrocents}) filter (where ${llmCalls.status} = 'reserved'), 0)`,
          calls,
          refusals: sql<number>`(count(*) filter (where ${llmCalls.status} = 'refused'))::int`,
        })
        .from(llmCalls)
        .where(where);
      const byFeature = await db.select({ feature: llmCalls.feature, calls, spent }).from(llmCalls).where(where).groupBy(llmCalls.feature);
      const day = sql<string>`to_char(${llmCalls.reservedAt} at time zone 'UTC', 'YYYY-MM-DD')`;
      const byDay = await db.select({ day, calls, spent }).from(llmCalls).where(where).groupBy(day).orderBy(day);
      const cents = (microcents: string | number) => microcentsToCents(Number(microcents));
      return {
        from,
        to,
        spentCents: cents(totals?.spent ?? 0),
        reservedCents: cents(totals?.reserved ?? 0),
        calls: totals?.calls ?? 0,
        refusals: totals?.refusals ?? 0,
        byFeature: byFeature.map((f) => ({ feature: f.feature, calls: f.calls, spentCents: cents(f.spent) })),
        byDay: byDay.map((d) => ({ day: d.day, calls: d.calls, spentCents: cents(d.spent) })),
      };
    },
  );

  app.get(
    '/ai/config',
    {
      schema: {
        tags: ['ai'],
        summary: 'The caller’s persona, example replies, auto-reply and suggest-on-inbound settings',
        security: bearerAuth,
        response: { 200: AiConfig, ...errorResponses(401) },
      },
    },
    async (request) => aiConfigOf(db, caller(request).userId),
  );

  app.put(
    '/ai/config',
    {
      schema: {
        tags: ['ai'],
        summary: 'Set the persona drafts are written in, and what may be sent without a person',
        description:
          'autoReply.enabled sends drafts without approval when their price is at most autoReply.maxPriceCents; suggestOnInbound drafts a suggestion for every inbound fan message, within budget.',
        security: bearerAuth,
        body: AiConfig,
        response: { 200: AiConfig, ...errorResponses(400, 401) },
      },
    },
    async (request) => saveAiConfig(db, caller(request).userId, request.body),
  );

  app.post(
    '/crm/conversations/:id/suggestions',
    {
      config: { idempotent: true },
      schema: {
        tags: ['ai'],
        summary: 'Draft a reply to the fan in the caller’s persona; a person approves it before it is sent',
        description:
          'No body (or an empty object). With an Idempotency-Key the suggestion’s id derives from the key: a request re-run after its answer was lost names the same suggestion and drafts nothing new. 422 fan_opted_out for a fan who opted out.',
        security: bearerAuth,
        headers: IdempotencyHeaders,
        params: IdParams,
        body: NoBody,
        response: { 202: Type.Object({ suggestionId: Type.String() }), ...errorResponses(400, 401, 404, 409, 422, 503) },
      },
      preValidation: emptyBodyIfNone,
    },
    async (request, reply) => {
      const creatorId = caller(request).userId;
      const [owned] = await db
        .select({ id: conversations.id, optedOutAt: fans.optedOutAt })
        .from(conversations)
        .innerJoin(fans, eq(fans.id, conversations.fanId))
        .where(and(eq(conversations.id, request.params.id), eq(conversations.creatorId, creatorId), isNull(fans.deletedAt)));
      if (!owned) throw notFound('conversation');
      if (owned.optedOutAt) throw new ApiError(422, 'fan_opted_out', 'this fan opted out of messages');
      const id = request.idempotency ? suggestionIdForRequest(creatorId, request.idempotency) : randomUUID();
      // An early refusal when even a draft's output cannot fit (not for a retried request whose
      // suggestion exists); the worker reserves the whole estimate.
      if (!(await suggestionOf(db, creatorId, id)) && !(await draftFitsBudget(db, config, creatorId))) throw budgetExceeded();
      const suggestion = await startSuggestion(db, process, creatorId, owned.id, 'person', id);
      return reply.status(202).send({ suggestionId: suggestion!.id });
    },
  );

  app.get(
    '/crm/conversations/:id/suggestions',
    {
      schema: {
        tags: ['ai'],
        summary: 'The conversation’s reply suggestions, newest first, each with its audit trail',
        security: bearerAuth,
        params: IdParams,
        querystring: Type.Object(PageQuery, { additionalProperties: false }),
        response: {
          200: Type.Object({ items: Type.Array(SuggestionView), nextCursor: Nullable(Type.String()) }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => {
      const creatorId = caller(request).userId;
      const { limit = 50, cursor } = request.query;
      const conversation = await db.query.conversations.findFirst({
        where: and(eq(conversations.id, request.params.id), eq(conversations.creatorId, creatorId)),
        columns: { id: true },
      });
      if (!conversation) throw notFound('conversation');
      const after = cursor ? afterNewest(replySuggestions.createdAt, replySuggestions.id, cursor) : undefined;
      const rows = await suggestionsOf(db, creatorId, conversation.id, limit + 1, after);
      const result = page(
        rows.map((r) => ({ ...r, id: r.s.id })),
        limit,
        (r) => r.key,
      );
      return { items: result.items.map((r) => presentSuggestion(r.s)), nextCursor: result.nextCursor };
    },
  );

  app.post(
    '/ai/suggestions/:id/approve',
    {
      config: { idempotent: true },
      schema: {
        tags: ['ai'],
        summary: 'Approve a suggestion (optionally edited): the reply goes through the send queue at 1:1 priority',
        description:
          'An approved suggestion answers 202 with itself when the body is empty or says what was sent, 409 suggestion_not_ready otherwise.',
        security: bearerAuth,
        headers: IdempotencyHeaders,
        params: IdParams,
        body: Type.Optional(
          Type.Object(
            { text: Type.Optional(MessageText), priceCents: Type.Optional(Nullable(PriceCents)) },
            { additionalProperties: false },
          ),
        ),
        response: { 202: SuggestionView, ...errorResponses(400, 401, 404, 409, 503) },
      },
      // The body is optional: approve as drafted.
      preValidation: emptyBodyIfNone,
    },
    async (request, reply) => {
      const creatorId = caller(request).userId;
      const suggestion = await suggestionOf(db, creatorId, request.params.id);
      if (!suggestion) throw notFound('suggestion');
      const { text, priceCents } = request.body ?? {};
      // The same approval again is its row; another (a different text or price) is a conflict.
      const same = (s: Suggestion) =>
        (text === undefined || text === s.sentText) && (priceCents === undefined || priceCents === s.priceCents);
      if (suggestion.status === 'approved') {
        // Decided: Postgres answers (its workflow may be gone).
        if (!same(suggestion)) throw notReady(suggestion);
        return reply.status(202).send(presentSuggestion(suggestion));
      }
      if (suggestion.status !== 'ready') throw notReady(suggestion);
      await process.approve(suggestion.id, { decidedBy: creatorId, ...request.body });
      // Two approvals at once share the Update id: the one that lost sees the winner's row.
      const approved = (await suggestionOf(db, creatorId, suggestion.id))!;
      if (!same(approved)) throw notReady(approved);
      return reply.status(202).send(presentSuggestion(approved));
    },
  );

  app.post(
    '/ai/suggestions/:id/reject',
    {
      schema: {
        tags: ['ai'],
        summary: 'Reject a suggestion: it is never sent',
        description: 'No body (or an empty object). 409 suggestion_not_ready once it is no longer drafting or ready.',
        security: bearerAuth,
        params: IdParams,
        body: NoBody,
        response: { 200: SuggestionView, ...errorResponses(400, 401, 404, 409, 503) },
      },
      preValidation: emptyBodyIfNone,
    },
    async (request) => {
      const creatorId = caller(request).userId;
      const suggestion = await suggestionOf(db, creatorId, request.params.id);
      if (!suggestion) throw notFound('suggestion');
      if (suggestion.status !== 'ready' && suggestion.status !== 'drafting') throw notReady(suggestion);
      await process.reject(suggestion.id, creatorId);
      return presentSuggestion((await suggestionOf(db, creatorId, suggestion.id))!);
    },
  );
};
