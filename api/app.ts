// The Fastify app factory. Routes are thin: validate, authenticate, authorise, then read
// Postgres or start / signal a workflow. Everything is injected, so tests build the same app.
import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Client } from '@temporalio/client';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type Stripe from 'stripe';
import type { Db } from '../db/client.js';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { createMetrics, type Metrics } from '../lib/metrics.js';
import { hitLimits } from '../domain/rate-limits.js';
import { createJwt } from './auth/jwt.js';
import { registerAuthentication, requireVerifiedEmail } from './authenticate.js';
import { ApiError, ErrorResponse, frameworkErrorHandler, registerErrorHandling, throttled } from './errors.js';
import { registerIdempotency } from './idempotency.js';
import { createCampaignProcess } from '../processes/campaign.js';
import { createFanImportProcess } from '../processes/fan-import.js';
import { createReplySuggestionProcess } from '../processes/reply-suggestion.js';
import { createPayoutProcess } from '../processes/payouts.js';
import { createOnboardingProcess } from '../processes/onboarding.js';
import { createPasswordResetProcess } from '../processes/password-reset.js';
import { createSendQueueProcess } from '../processes/send-queue.js';
import { authRoutes } from './routes/auth.js';
import { analyticsRoutes } from './routes/analytics.js';
import { aiRoutes } from './routes/ai.js';
import { moneyRoutes } from './routes/money.js';
import { campaignRoutes } from './routes/campaigns/index.js';
import { conversationRoutes } from './routes/conversations.js';
import { creatorRoutes } from './routes/creator.js';
import { devRoutes } from './routes/dev.js';
import { fanRoutes } from './routes/fans.js';
import { messageRoutes } from './routes/messages.js';
import { importRoutes } from './routes/imports.js';
import { healthRoutes } from './routes/health.js';
import { onboardingRoutes } from './routes/onboarding.js';
import { platformRoutes, platformWebhookRoutes } from './routes/platforms.js';
import { stripeRoutes } from './routes/stripe.js';
import { webhookRoutes } from './routes/webhooks.js';

export interface AppDeps {
  config: Config;
  db: Db;
  temporal: Client;
  stripe: Stripe;
  logger: Logger;
  metrics?: Metrics;
}

export const API_PREFIX = '/api/v1';

// Bodies are validated strictly (no type coercion, unknown fields rejected by the schemas'
// additionalProperties: false); query strings and params are strings on the wire, so they coerce.
function validators() {
  const make = (coerceTypes: boolean) => {
    const ajv = new Ajv({ allErrors: true, removeAdditional: false, useDefaults: true, coerceTypes, strict: false });
    addFormats.default(ajv);
    // ajv-formats also accepts `urn:uuid:…`, which Postgres rejects: only the bare form is an id here.
    ajv.addFormat('uuid', UUID);
    return ajv;
  };
  return { body: make(false), other: make(true) };
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** PostgreSQL text cannot hold U+0000; finding it here makes it a 400 instead of a failed write. */
function containsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (depth > 32 || value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return false;
  return Object.entries(value).some(([k, v]) => k.includes('\u0000') || containsNul(v, depth + 1));
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const metrics = deps.metrics ?? createMetrics();
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: config.BODY_LIMIT_BYTES,
    // A slow or stalled client cannot hold a request forever (see lib/config.ts): the whole request
    // within REQUEST_TIMEOUT_MS (408), no socket silent for CONNECTION_IDLE_TIMEOUT_MS (a streamed
    // upload or CSV export keeps its socket busy, so only a stalled one is cut). Node checks the
    // request deadline on an interval (30 s by default), scaled down here with the timeout.
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    connectionTimeout: config.CONNECTION_IDLE_TIMEOUT_MS,
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    http: {
      headersTimeout: Math.min(60_000, config.REQUEST_TIMEOUT_MS),
      connectionsCheckingInterval: Math.min(30_000, Math.ceil(config.REQUEST_TIMEOUT_MS / 4)),
    },
    // The option's overloads take each form separately; the value is one of them.
    trustProxy: config.TRUST_PROXY as string[],
    // Carry the caller's X-Request-Id when it is sane; otherwise mint one. It is logged on every
    // line of the request and passed into the workflows it starts.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { maxParamLength: 200 },
    frameworkErrors: frameworkErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>();

  const ajv = validators();
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? ajv.body : ajv.other).compile(schema));
  // JSON only: a text/plain body is a 415, not a string that fails validation later.
  app.removeContentTypeParser('text/plain');

  registerErrorHandling(app);
  app.addSchema(ErrorResponse);

  app.addHook('preValidation', async (request) => {
    if (containsNul(request.body) || containsNul(request.query)) {
      throw new ApiError(400, 'validation_failed', 'text must not contain the NUL character (U+0000)');
    }
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  await app.register(helmet, { global: true });
  // Opt-in per route (`config: { rateLimit: ... }`), in memory per API instance: a first line
  // against floods; the durable limits (login throttle, resend and reset intervals) are in Postgres.
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) => throttled(context.ttl / 1000, `too many requests, retry in ${context.after}`),
  });
  await app.register(cors, {
    origin: config.CORS_ORIGINS,
    exposedHeaders: ['x-request-id', 'retry-after'],
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'OFM Social OS API',
        version: '0.1.0',
        description:
          'Creator onboarding, fan CRM, messaging and campaigns as durable Temporal workflows. Errors always have the shape {"error":{"code","message","details"}}.',
      },
      servers: [{ url: config.PUBLIC_API_URL }],
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const jwt = createJwt(config);
  registerAuthentication(app, jwt);
  // Every authenticated request counts against its user and its client IP, in Postgres so that the
  // limit holds across API instances (SPEC §1): one upsert per request. preParsing runs after every
  // onRequest hook (where routes authenticate) and before the body is read.
  app.addHook('preParsing', async (request, _reply, payload) => {
    if (!request.auth) return payload;
    const limited = await hitLimits(deps.db, [
      { key: `user:${request.auth.userId}`, max: config.USER_RATE_LIMIT_PER_MINUTE, windowSeconds: 60 },
      { key: `ip:${request.ip}`, max: config.USER_IP_RATE_LIMIT_PER_MINUTE, windowSeconds: 60 },
    ]);
    if (limited) throw throttled(limited.retryAfterSeconds, 'too many requests, slow down');
    return payload;
  });
  // ...so every route that takes a bearer token says so in its OpenAPI responses.
  app.addHook('onRoute', (route) => {
    const response = route.schema?.response;
    if (route.schema?.security && response && typeof response === 'object' && !('429' in response))
      route.schema.response = { ...response, 429: Type.Ref('ErrorResponse') };
  });
  registerIdempotency(app, deps.db, config.JWT_SECRET);
  // The routes' only door into Temporal: one client per process (processes/).
  const processes = {
    onboarding: createOnboardingProcess(deps.temporal, config),
    passwordReset: createPasswordResetProcess(deps.temporal, config),
    sendQueue: createSendQueueProcess(deps.temporal, config),
    campaignProcess: createCampaignProcess(deps.temporal, config),
    fanImportProcess: createFanImportProcess(deps.temporal, config),
    replySuggestions: createReplySuggestionProcess(deps.temporal, config),
    payouts: createPayoutProcess(deps.temporal, config),
  };
  const routeDeps: RouteDeps = { ...deps, jwt, ...processes };

  await app.register(healthRoutes, { ...routeDeps, registry: metrics.registry });
  await app.register(
    async (api) => {
      await api.register(healthRoutes, { ...routeDeps, registry: null });
      await api.register(authRoutes, routeDeps);
      await api.register(onboardingRoutes, routeDeps);
      await api.register(stripeRoutes, routeDeps);
      await api.register(creatorRoutes, routeDeps);
      await api.register(tenantRoutes, routeDeps);
      // Signed by the platform or Stripe, not called by a user: their signatures are their gate.
      await api.register(platformWebhookRoutes, routeDeps);
      await api.register(webhookRoutes, routeDeps);
      if (config.ENABLE_DEV_ROUTES) await api.register(devRoutes, routeDeps);
    },
    { prefix: API_PREFIX },
  );
  return app;
}

/**
 * A creator's data and processes (SPEC §1: CRM, messaging, platforms, campaigns, analytics and every
 * later module): one encapsulated scope whose hook authenticates and then requires a verified email
 * (403 email_not_verified), before any route's own hooks and before the body is read. A new tenant
 * module is registered here, and is gated without a line of its own.
 */
const tenantRoutes: FastifyPluginAsync<RouteDeps> = async (tenant, deps) => {
  tenant.addHook('onRequest', requireVerifiedEmail(tenant, deps.db));
  tenant.addHook('onRoute', (route) => {
    if (route.schema?.response && typeof route.schema.response === 'object')
      route.schema.response = { 403: Type.Ref('ErrorResponse'), ...route.schema.response };
  });
  await tenant.register(fanRoutes, deps);
  await tenant.register(importRoutes, deps);
  await tenant.register(messageRoutes, deps);
  await tenant.register(conversationRoutes, deps);
  await tenant.register(platformRoutes, deps);
  await tenant.register(campaignRoutes, deps);
  await tenant.register(analyticsRoutes, deps);
  await tenant.register(aiRoutes, deps);
  await tenant.register(moneyRoutes, deps);
};

export type RouteDeps = AppDeps & {
  jwt: ReturnType<typeof createJwt>;
  onboarding: ReturnType<typeof createOnboardingProcess>;
  passwordReset: ReturnType<typeof createPasswordResetProcess>;
  sendQueue: ReturnType<typeof createSendQueueProcess>;
  campaignProcess: ReturnType<typeof createCampaignProcess>;
  fanImportProcess: ReturnType<typeof createFanImportProcess>;
  replySuggestions: ReturnType<typeof createReplySuggestionProcess>;
  payouts: ReturnType<typeof createPayoutProcess>;
};
