// The one place that reads the environment. Everything else receives a Config.
// Defaults give a working embedded stack; production refuses to start without
// the secrets and real endpoints it needs.
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_TIERS, tiersProblem } from '../domain/commissions.js';
import { TaskQueues } from '../workflows/task-queues.js';

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const port = z.coerce.number().int().min(0).max(65535);
const commaList = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

const DEV_JWT_SECRET = 'dev-only-insecure-jwt-secret-change-me-0123456789';
const DEV_STRIPE_WEBHOOK_SECRET = 'whsec_dev_standin_secret_0123456789';
/** Cents per million tokens (input, output). */
const DEFAULT_LLM_PRICES = {
  'gpt-4o-mini': { input: 15, output: 60 },
  'gpt-4o': { input: 250, output: 1000 },
  'gpt-4.1-mini': { input: 40, output: 160 },
  'gpt-4.1': { input: 200, output: 800 },
};
const DEFAULT_COMMISSION_TIERS = DEFAULT_TIERS.map((t) => ({ upToCents: t.upToCents, rate: t.rateBps / 10_000 }));
const DEV_CREDENTIALS_KEY = Buffer.alloc(32, 'dev-only-credentials-key').toString('base64');

/** An address only this machine can reach: 127.0.0.0/8, ::1 (also IPv4-mapped) or localhost. */
function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    DATA_DIR: z.string().default('.data'),

    API_HOST: z.string().default('127.0.0.1'),
    API_PORT: port.default(3000),
    PUBLIC_API_URL: z.string().url().optional(),
    BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(1_048_576),
    // POST /messages/bulk only: 100,000 recipient ids as JSON are about 4 MB.
    BULK_BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(8 * 1_048_576),
    CORS_ORIGINS: commaList.optional(),
    FRONTEND_URL: z.string().url().default('http://localhost:5173'),
    // Whose X-Forwarded-For to believe: false, or a comma-separated list of the proxies'
    // addresses/CIDRs. "true" believes any hop, which a client can forge: use it only when every
    // request comes through a proxy that overwrites the header.
    TRUST_PROXY: z
      .string()
      .default('false')
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      )
      .pipe(
        z.union([
          z.tuple([z.enum(['true', 'false'])]).transform(([v]) => v === 'true'),
          z
            .array(
              z
                .string()
                .refine((a) => isIP(a.split('/')[0]!) !== 0, 'each entry must be an IP address or CIDR, or the list "true"/"false"'),
            )
            .min(1),
        ]),
      ),
    ENABLE_DEV_ROUTES: bool.optional(),

    DATABASE_URL: z.string().url().optional(),
    EMBEDDED_PG_PORT: port.default(5433),

    TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
    // `npm run dev` starts a Temporal dev server when TEMPORAL_ADDRESS is on this machine, unless false.
    DEV_START_TEMPORAL: bool.default(true),
    TEMPORAL_NAMESPACE: z.string().default('default'),
    TEMPORAL_UI_PORT: port.default(8233),
    // Prepended to every task queue name; lets test runs and tenants share one server.
    TEMPORAL_TASK_QUEUE_PREFIX: z.string().default(''),
    TEMPORAL_CLI_PATH: z.string().optional(),
    WORKER_METRICS_PORT: port.default(9464),
    // Where the worker's metrics endpoint listens: 0.0.0.0 for a Prometheus in another container.
    WORKER_METRICS_HOST: z.string().default('127.0.0.1'),
    // The task queues this worker process serves (comma-separated areas: onboarding, maintenance,
    // crm, messaging, campaigns); unset: all of them. `npm run dev` runs one process for the
    // interactive and send queues and one for CSV imports (workers/layout.ts).
    WORKER_TASK_QUEUES: commaList
      .pipe(z.array(z.enum(Object.keys(TaskQueues) as [keyof typeof TaskQueues, ...(keyof typeof TaskQueues)[]])).min(1))
      .optional(),
    /** A workflow bundle built beforehand (bundleWorkflowCode): the worker starts in seconds instead of bundling. */
    WORKFLOW_BUNDLE_PATH: z.string().min(1).optional(),

    JWT_SECRET: z.string().min(32).default(DEV_JWT_SECRET),
    JWT_ISSUER: z.string().default('ofm-social-os'),
    ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().positive().default(900),
    REFRESH_TOKEN_TTL_DAYS: z.coerce.number().int().positive().default(30),
    EMAIL_TOKEN_TTL_MINUTES: z.coerce.number().int().positive().default(30),
    LOGIN_MAX_FAILURES: z.coerce.number().int().positive().default(5),
    LOGIN_LOCKOUT_BASE_SECONDS: z.coerce.number().int().positive().default(30),
    LOGIN_IP_MAX_FAILURES_PER_15MIN: z.coerce.number().int().positive().default(50),
    // Per client IP and API instance, on the public routes that create work or send mail
    // (register, verify-email, forgot-password, reset-password); 429 with Retry-After past it.
    PUBLIC_ROUTE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(20),
    // Durable limits (Postgres, across API instances) on the expensive public routes, per client IP
    // and per target email, each in a one-hour window: register hashes a password and starts an
    // onboarding, forgot-password sends mail. Past them: 429 with Retry-After.
    REGISTER_LIMIT_PER_IP_PER_HOUR: z.coerce.number().int().positive().default(30),
    REGISTER_LIMIT_PER_EMAIL_PER_HOUR: z.coerce.number().int().positive().default(5),
    FORGOT_PASSWORD_LIMIT_PER_IP_PER_HOUR: z.coerce.number().int().positive().default(30),
    FORGOT_PASSWORD_LIMIT_PER_EMAIL_PER_HOUR: z.coerce.number().int().positive().default(5),
    // Every authenticated request, per user and per client IP, across API instances (SPEC §1): a
    // frontend polling a few views every few seconds stays well under the per-user default.
    USER_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(600),
    USER_IP_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(1200),
    // Timeouts of the HTTP server: the whole request (headers and body, so a 200 MB import at
    // about 0.7 MB/s) must arrive within REQUEST_TIMEOUT_MS (else 408); a socket with no traffic either
    // way for CONNECTION_IDLE_TIMEOUT_MS is closed (a stalled upload, or a CSV export whose reader
    // stopped reading); an idle keep-alive connection is closed after KEEP_ALIVE_TIMEOUT_MS (keep it
    // above a load balancer's idle timeout).
    REQUEST_TIMEOUT_MS: z.coerce.number().int().positive().default(300_000),
    CONNECTION_IDLE_TIMEOUT_MS: z.coerce.number().int().positive().default(60_000),
    KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().positive().default(72_000),
    // GET /analytics/export.csv runs on its own pool of EXPORT_MAX_CONCURRENT connections per API
    // instance, each query bounded by EXPORT_STATEMENT_TIMEOUT_MS; at most EXPORT_MAX_CONCURRENT_PER_CREATOR
    // of a creator's exports run at once on an instance. Beyond either: 429 with Retry-After.
    EXPORT_MAX_CONCURRENT: z.coerce.number().int().positive().default(2),
    EXPORT_MAX_CONCURRENT_PER_CREATOR: z.coerce.number().int().positive().default(1),
    EXPORT_STATEMENT_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
    // Recurring campaigns fire at most once per this many seconds (`every`, and a cron's minutes).
    MIN_SCHEDULE_INTERVAL_SECONDS: z.coerce.number().int().positive().default(60),
    // Open campaigns (scheduled, running, paused, or with a schedule) and open imports (uploading,
    // queued, running) a creator may have at once; beyond: 409 too_many_open_campaigns / too_many_open_imports.
    MAX_OPEN_CAMPAIGNS_PER_CREATOR: z.coerce.number().int().positive().default(50),
    MAX_OPEN_IMPORTS_PER_CREATOR: z.coerce.number().int().positive().default(3),
    // Largest CSV import accepted; files are streamed into Postgres (fan_import_uploads), never held in memory.
    IMPORT_MAX_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(200 * 1024 * 1024),
    RESEND_VERIFICATION_MIN_INTERVAL_SECONDS: z.coerce.number().int().nonnegative().default(60),

    // Stripe Connect: without a secret key (outside production) the local stand-in plays Stripe.
    STRIPE_SECRET_KEY: z.string().startsWith('sk_').optional(),
    STRIPE_WEBHOOK_SECRET: z.string().min(8).default(DEV_STRIPE_WEBHOOK_SECRET),
    STRIPE_STANDIN_PORT: port.default(12111),

    // Platform connections' credentials and webhook secrets are stored encrypted (AES-256-GCM) with
    // this key: 32 bytes, base64.
    CREDENTIALS_KEY: z
      .string()
      .default(DEV_CREDENTIALS_KEY)
      .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded'),
    // The local simulated fan platform (standins/platform-sandbox/) the `sandbox` adapter talks to.
    PLATFORM_SANDBOX_PORT: port.default(8010),
    PLATFORM_SANDBOX_URL: z.string().url().optional(),
    // Send queue: messages per minute per creator account when its connection sets no limit, and
    // the transient-failure policy (exponential backoff from the base, dead-letter after the attempts).
    SEND_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(10),
    SEND_RETRY_BASE_SECONDS: z.coerce.number().positive().default(10),
    SEND_MAX_ATTEMPTS: z.coerce.number().int().positive().default(6),

    // The LLM gateway (integrations/llm/): any OpenAI-compatible Chat Completions endpoint. Without
    // LLM_API_KEY outside production, the local stand-in (standins/llm/) on LLM_STANDIN_PORT plays it.
    LLM_BASE_URL: z.string().url().optional(),
    LLM_API_KEY: z.string().min(1).optional(),
    LLM_MODEL: z.string().min(1).default('gpt-4o-mini'),
    LLM_STANDIN_PORT: port.default(8020),
    // Price per million tokens, in cents, per model: {"<model>": {"input": 15, "output": 60}}. A model
    // missing here is refused (its cost cannot be bounded). Defaults: OpenAI's published list prices when
    // this was written; set the ones your contract says.
    LLM_PRICES: z
      .string()
      .default(JSON.stringify(DEFAULT_LLM_PRICES))
      .transform((v, ctx) => {
        try {
          return JSON.parse(v) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be JSON: {"<model>": {"input": <cents per 1M>, "output": <cents per 1M>}}' });
          return z.NEVER;
        }
      })
      .pipe(z.record(z.string().min(1), z.object({ input: z.number().nonnegative(), output: z.number().nonnegative() }).strict())),
    // The LLM request's own timeout (at most 5 minutes: a reservation's lease outlives any request,
    // domain/llm-budget.ts), and the SDK's retries of 429, 5xx and dropped connections within one activity attempt.
    LLM_TIMEOUT_MS: z.coerce.number().int().positive().max(300_000).default(60_000),
    LLM_MAX_RETRIES: z.coerce.number().int().nonnegative().max(5).default(2),
    // The output limit's parameter: OpenAI's own API wants max_completion_tokens (its reasoning models
    // refuse max_tokens); most other compatible servers know only max_tokens. Default: by endpoint.
    LLM_OUTPUT_LIMIT_PARAM: z.enum(['max_tokens', 'max_completion_tokens']).optional(),
    // A creator's LLM spend caps (SPEC §5) until they set their own with PUT /ai/budget, in cents per UTC day and month.
    AI_DAILY_CAP_CENTS: z.coerce.number().int().nonnegative().default(200),
    AI_MONTHLY_CAP_CENTS: z.coerce.number().int().nonnegative().default(2_000),
    // The most a creator may set their own caps to (PUT /ai/budget): the platform pays the provider.
    AI_MAX_CAP_CENTS: z.coerce.number().int().nonnegative().default(100_000),

    // The platform's commission (SPEC §7): marginal tiers by a month's gross, JSON
    // [{"upToCents": 500000, "rate": 0.30}, ..., {"upToCents": null, "rate": 0.20}] (rates to 0.01 %).
    COMMISSION_TIERS: z
      .string()
      .default(JSON.stringify(DEFAULT_COMMISSION_TIERS))
      .transform((v, ctx) => {
        try {
          return JSON.parse(v) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be JSON: [{"upToCents": <cents or null>, "rate": <0..1>}, ...]' });
          return z.NEVER;
        }
      })
      .pipe(
        z
          .array(z.object({ upToCents: z.number().int().positive().nullable(), rate: z.number().min(0).max(1) }).strict())
          .transform((tiers) => tiers.map((t) => ({ upToCents: t.upToCents, rateBps: Math.round(t.rate * 10_000) })))
          .superRefine((tiers, ctx) => {
            const problem = tiersProblem(tiers);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          }),
      ),
    // A payout the platform's Stripe balance cannot cover yet tries again after this many seconds.
    PAYOUT_BALANCE_RETRY_SECONDS: z.coerce.number().positive().default(3600),
    EMAIL_FROM: z.string().default('OFM Social OS <no-reply@ofm.local>'),
    SES_REGION: z.string().default('us-east-1'),
    SES_ENDPOINT: z.string().url().optional(),
    SES_STANDIN_PORT: port.default(8005),
    AWS_ACCESS_KEY_ID: z.string().optional(),
    AWS_SECRET_ACCESS_KEY: z.string().optional(),
  })
  .transform((env) => {
    const production = env.NODE_ENV === 'production';
    // Outside production, mail goes to the local SES v2 stand-in unless an endpoint is given.
    const usesLlmStandin = !production && env.LLM_API_KEY === undefined && env.LLM_BASE_URL === undefined;
    const sesEndpoint = env.SES_ENDPOINT ?? (production ? undefined : `http://127.0.0.1:${env.SES_STANDIN_PORT}`);
    return {
      ...env,
      production,
      DATA_DIR: path.resolve(env.DATA_DIR),
      CORS_ORIGINS: env.CORS_ORIGINS ?? [env.FRONTEND_URL],
      PUBLIC_API_URL: env.PUBLIC_API_URL ?? `http://localhost:${env.API_PORT}`,
      ENABLE_DEV_ROUTES: env.ENABLE_DEV_ROUTES ?? !production,
      SES_ENDPOINT: sesEndpoint,
      usesSesStandin: !production && env.SES_ENDPOINT === undefined,
      // Without DATABASE_URL the dev launcher runs an embedded PostgreSQL on EMBEDDED_PG_PORT.
      DATABASE_URL: env.DATABASE_URL ?? `postgres://postgres:postgres@127.0.0.1:${env.EMBEDDED_PG_PORT}/ofm`,
      usesEmbeddedPostgres: env.DATABASE_URL === undefined,
      usesStripeStandin: !production && env.STRIPE_SECRET_KEY === undefined,
      PLATFORM_SANDBOX_URL: env.PLATFORM_SANDBOX_URL ?? `http://127.0.0.1:${env.PLATFORM_SANDBOX_PORT}`,
      // `npm run dev` runs the sandbox platform unless it is elsewhere (or this is production).
      usesPlatformSandbox: !production && env.PLATFORM_SANDBOX_URL === undefined,
      // Outside production with neither key nor endpoint, the LLM stand-in answers (`npm run dev` starts
      // it). A key alone means OpenAI itself; an endpoint alone, a server that needs no key.
      usesLlmStandin,
      LLM_BASE_URL: env.LLM_BASE_URL ?? (usesLlmStandin ? `http://127.0.0.1:${env.LLM_STANDIN_PORT}/v1` : undefined),
      LLM_OUTPUT_LIMIT_PARAM:
        env.LLM_OUTPUT_LIMIT_PARAM ??
        (env.LLM_BASE_URL === undefined && env.LLM_API_KEY !== undefined ? 'max_completion_tokens' : 'max_tokens'),
    };
  })
  .superRefine((cfg, ctx) => {
    // One activity attempt of an LLM step (5 minutes) must outlive the SDK's tries, or two attempts
    // would overlap and the provider bill both: a request's timeout times its tries, with a minute to spare.
    if (cfg.LLM_TIMEOUT_MS * (cfg.LLM_MAX_RETRIES + 1) > 240_000)
      ctx.addIssue({
        code: 'custom',
        path: ['LLM_TIMEOUT_MS'],
        message: 'LLM_TIMEOUT_MS × (LLM_MAX_RETRIES + 1) must be at most 240000 (4 minutes)',
      });
    // Fail at start, not at every call: a model without a price cannot be budgeted.
    if (!Object.hasOwn(cfg.LLM_PRICES, cfg.LLM_MODEL))
      ctx.addIssue({ code: 'custom', path: ['LLM_MODEL'], message: `${cfg.LLM_MODEL} has no price in LLM_PRICES` });
    if (cfg.AI_DAILY_CAP_CENTS > cfg.AI_MAX_CAP_CENTS || cfg.AI_MONTHLY_CAP_CENTS > cfg.AI_MAX_CAP_CENTS)
      ctx.addIssue({ code: 'custom', path: ['AI_MAX_CAP_CENTS'], message: 'must not be below the default caps' });
    if (!cfg.production) {
      // Fail closed: the development secrets are public (they are in this file) and the dev routes
      // read anyone's mail, so outside production they only run on an API nobody else can reach.
      if (isLoopback(cfg.API_HOST)) return;
      const where = `allowed only while API_HOST is a loopback address (127.0.0.0/8, ::1, localhost), not ${cfg.API_HOST}`;
      const developmentSecrets = {
        JWT_SECRET: cfg.JWT_SECRET === DEV_JWT_SECRET,
        CREDENTIALS_KEY: cfg.CREDENTIALS_KEY === DEV_CREDENTIALS_KEY,
        STRIPE_WEBHOOK_SECRET: cfg.STRIPE_WEBHOOK_SECRET === DEV_STRIPE_WEBHOOK_SECRET,
      };
      for (const [name, isDev] of Object.entries(developmentSecrets))
        if (isDev) ctx.addIssue({ code: 'custom', path: [name], message: `the development value is ${where}: set a real secret` });
      if (cfg.ENABLE_DEV_ROUTES)
        ctx.addIssue({ code: 'custom', path: ['ENABLE_DEV_ROUTES'], message: `dev routes are ${where}: set ENABLE_DEV_ROUTES=false` });
      return;
    }
    if (cfg.JWT_SECRET === DEV_JWT_SECRET) ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'must be set in production' });
    if (cfg.STRIPE_WEBHOOK_SECRET === DEV_STRIPE_WEBHOOK_SECRET)
      ctx.addIssue({ code: 'custom', path: ['STRIPE_WEBHOOK_SECRET'], message: 'must be set in production' });
    if (!cfg.STRIPE_SECRET_KEY) ctx.addIssue({ code: 'custom', path: ['STRIPE_SECRET_KEY'], message: 'must be set in production' });
    if (cfg.CREDENTIALS_KEY === DEV_CREDENTIALS_KEY)
      ctx.addIssue({ code: 'custom', path: ['CREDENTIALS_KEY'], message: 'must be set in production' });
    if (cfg.usesEmbeddedPostgres) ctx.addIssue({ code: 'custom', path: ['DATABASE_URL'], message: 'must be set in production' });
    if (cfg.ENABLE_DEV_ROUTES)
      ctx.addIssue({ code: 'custom', path: ['ENABLE_DEV_ROUTES'], message: 'dev routes cannot run in production' });
    // The key travels with every request: in production, only over TLS (or to this machine).
    if (
      cfg.LLM_BASE_URL &&
      new URL(cfg.LLM_BASE_URL).protocol !== 'https:' &&
      !isLoopback(new URL(cfg.LLM_BASE_URL).hostname.replace(/^\[|\]$/g, ''))
    )
      ctx.addIssue({ code: 'custom', path: ['LLM_BASE_URL'], message: 'must be https in production (plain http only to this machine)' });
  });

export type Config = z.output<typeof schema>;

export class ConfigError extends Error {}

/** Parse an environment (process.env by default). Throws ConfigError listing every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return result.data;
}

/** Entry points call this: reads ./.env when present, then validates, exiting with a clear message on error. */
export function configFromProcess(): Config {
  if (existsSync('.env')) process.loadEnvFile('.env');
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
}
