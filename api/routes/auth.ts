// SPEC §2 authentication routes.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, count, eq, gt, sql } from 'drizzle-orm';
import { Type } from 'typebox';
import { hitLimits } from '../../domain/rate-limits.js';
import { consumeEmailToken, isLiveEmailToken, secondsSinceLastEmailToken } from '../../domain/email-tokens.js';
import { emailTokens, platformConnections, sendQueueAwake, users } from '../../db/schema.js';
import { pickLocale } from '../../integrations/email/templates.js';
import type { RouteDeps } from '../app.js';
import { loginThrottle, recordLoginAttempt, settleLoginAttempt } from '../auth/login-throttle.js';
import { dummyPasswordHash, hashPassword, passwordProblem, verifyPassword } from '../auth/passwords.js';
import { issueRefreshToken, revokeAllSessions, revokeSessionOfToken, rotateRefreshToken } from '../auth/sessions.js';
import { caller } from '../authenticate.js';
import { ApiError, notFound, throttled, unauthenticated } from '../errors.js';
import { bearerAuth, Email, errorResponses, IdempotencyHeaders, OpaqueToken, Password, TokenPair, User } from '../schemas.js';
import { assertIanaTimezone } from '../timezones.js';

type UserRow = typeof users.$inferSelect;
export const publicUser = (u: UserRow) => ({
  id: u.id,
  email: u.email,
  name: u.name,
  role: u.role,
  locale: u.locale,
  timezone: u.timezone,
  emailVerified: u.emailVerifiedAt !== null,
  createdAt: u.createdAt.toISOString(),
});

/** Most verification emails a user may ask for in one hour. */
const RESEND_MAX_PER_HOUR = 5;

const invalidCredentials = () => new ApiError(401, 'invalid_credentials', 'email or password is incorrect');
const invalidToken = () => new ApiError(400, 'invalid_token', 'token is invalid, expired or already used');
const weakPassword = (problem: string) =>
  new ApiError(400, 'validation_failed', `password ${problem}`, [{ field: 'body.password', message: problem }]);

export const authRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, config, jwt, onboarding, passwordReset }) => {
  const publicLimit = { rateLimit: { max: config.PUBLIC_ROUTE_LIMIT_PER_MINUTE, timeWindow: '1 minute' } };
  // Beyond the in-memory per-instance limit above: durable per-IP and per-target-email counts (one
  // hour windows, across API instances), taken before any work, for the routes that cost an argon2
  // hash, a workflow or an email. Counted whether or not the account exists: forgot-password answers
  // the same either way, so the limit reveals nothing.
  const limitExpensive = async (route: 'register' | 'forgot-password', ip: string, email: string, perIp: number, perEmail: number) => {
    const limited = await hitLimits(db, [
      { key: `${route}-ip:${ip}`, max: perIp, windowSeconds: 3600 },
      { key: `${route}-email:${email}`, max: perEmail, windowSeconds: 3600 },
    ]);
    if (limited) throw throttled(limited.retryAfterSeconds, 'too many requests from this address or for this email, try again later');
  };
  const tokenPair = async (user: UserRow, refreshToken: string) => ({
    accessToken: await jwt.sign({ userId: user.id, role: user.role, emailVerified: user.emailVerifiedAt !== null }),
    refreshToken,
    expiresIn: jwt.expiresIn,
  });

  app.post(
    '/auth/register',
    {
      config: { idempotent: true, ...publicLimit },
      schema: {
        tags: ['auth'],
        summary: 'Create a creator account and start its onboarding workflow',
        headers: IdempotencyHeaders,
        body: Type.Object(
          {
            email: Email,
            password: Password,
            name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ userId: Type.String(), onboarding: Type.Object({ step: Type.String() }) }),
          ...errorResponses(400, 409, 415, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const email = request.body.email.toLowerCase();
      await limitExpensive('register', request.ip, email, config.REGISTER_LIMIT_PER_IP_PER_HOUR, config.REGISTER_LIMIT_PER_EMAIL_PER_HOUR);
      const problem = passwordProblem(request.body.password, email);
      if (problem) throw weakPassword(problem);
      const timezone = request.body.timezone ?? 'UTC';
      assertIanaTimezone(timezone);
      const [user] = await db
        .insert(users)
        .values({
          email,
          passwordHash: await hashPassword(request.body.password),
          name: request.body.name ?? null,
          locale: pickLocale(request.headers['accept-language']),
          timezone,
        })
        .onConflictDoNothing({ target: users.email })
        .returning({ id: users.id });
      if (!user) throw new ApiError(409, 'email_taken', 'an account with this email already exists');
      // The account is the truth; if Temporal is down the onboarding is started by the user's next
      // status read, login or resend instead (see processes/onboarding.ts).
      await onboarding
        .ensureStarted(user.id, request.id)
        .catch((err) => request.log.error({ err, userId: user.id }, 'onboarding start deferred'));
      return reply.status(201).send({ userId: user.id, onboarding: { step: 'verify_email' } });
    },
  );

  app.post(
    '/auth/login',
    {
      config: publicLimit,
      schema: {
        tags: ['auth'],
        summary: 'Exchange email and password for an access and refresh token',
        body: Type.Object({ email: Email, password: Password }, { additionalProperties: false }),
        response: { 200: Type.Intersect([TokenPair, Type.Object({ user: User })]), ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => {
      const email = request.body.email.toLowerCase();
      const ip = request.ip;
      // The throttle check and the attempt's record happen under a short per-email lock, the
      // attempt counting as a failure until it is known ('pending'): parallel guesses cannot all
      // pass the check. argon2 runs after the transaction, holding no connection.
      const gate = await db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`login:${email}`}))`);
        const blocked = await loginThrottle(tx, email, ip, config);
        const attemptId = await recordLoginAttempt(tx, { email, userId: null, ip, outcome: blocked?.outcome ?? 'pending' });
        return { blocked, attemptId };
      });
      if (gate.blocked) throw throttled(gate.blocked.retryAfterSeconds, 'too many failed logins, try again later');
      const found = await db.query.users.findFirst({ where: eq(users.email, email) });
      // Unknown emails still pay for one argon2 verification: same answer, same time.
      const ok = await verifyPassword(found?.passwordHash ?? (await dummyPasswordHash()), request.body.password);
      const user = found && ok ? found : null;
      await settleLoginAttempt(db, gate.attemptId, { userId: found?.id ?? null, outcome: user ? 'ok' : 'invalid_credentials' });
      if (!user) throw invalidCredentials();
      if (!user.emailVerifiedAt) {
        await onboarding.ensureStarted(user.id, request.id).catch((err) => request.log.warn({ err }, 'onboarding ensure failed'));
      }
      const refreshToken = await issueRefreshToken(db, user.id, config.REFRESH_TOKEN_TTL_DAYS);
      return { ...(await tokenPair(user, refreshToken)), user: publicUser(user) };
    },
  );

  app.post(
    '/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Rotate a refresh token; replaying a used one revokes its whole session family',
        body: Type.Object({ refreshToken: OpaqueToken }, { additionalProperties: false }),
        response: { 200: TokenPair, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const rotated = await rotateRefreshToken(db, request.body.refreshToken, config.REFRESH_TOKEN_TTL_DAYS);
      if (!rotated.ok) {
        if (rotated.reason === 'reused') request.log.warn('refresh token reuse detected; session family revoked');
        throw new ApiError(401, 'invalid_refresh_token', 'refresh token is invalid, expired or revoked');
      }
      const user = await db.query.users.findFirst({ where: eq(users.id, rotated.userId) });
      if (!user) throw unauthenticated();
      return tokenPair(user, rotated.refreshToken);
    },
  );

  app.post(
    '/auth/logout',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['auth'],
        summary: 'End the session the refresh token belongs to',
        security: bearerAuth,
        body: Type.Object({ refreshToken: OpaqueToken }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => {
      await revokeSessionOfToken(db, caller(request).userId, request.body.refreshToken);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/auth/me',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['auth'],
        summary: 'The current user',
        security: bearerAuth,
        response: { 200: Type.Object({ user: User }), ...errorResponses(401, 404) },
      },
    },
    async (request) => {
      const user = await db.query.users.findFirst({ where: eq(users.id, caller(request).userId) });
      if (!user) throw notFound('user');
      return { user: publicUser(user) };
    },
  );

  app.post(
    '/auth/verify-email',
    {
      config: publicLimit,
      schema: {
        tags: ['auth'],
        summary: 'Consume an email verification token and advance the onboarding workflow',
        body: Type.Object({ token: OpaqueToken }, { additionalProperties: false }),
        response: { 200: Type.Object({ verified: Type.Literal(true) }), ...errorResponses(400, 503) },
      },
    },
    async (request) => {
      // Consume and mark verified, commit, then tell the workflow. A signal lost after the commit
      // (Temporal down, this process gone) is delivered by the onboarding sweep: the token is
      // spent and the email verified, so the answer is success either way.
      const userId = await db.transaction(async (tx) => {
        const consumed = await consumeEmailToken(tx, request.body.token, 'verify_email');
        if (!consumed) throw invalidToken();
        await tx
          .update(users)
          .set({ emailVerifiedAt: sql`coalesce(${users.emailVerifiedAt}, now())`, updatedAt: sql`now()` })
          .where(eq(users.id, consumed));
        return consumed;
      });
      await onboarding
        .emailVerified(userId, request.id)
        .catch((err) => request.log.warn({ err, userId }, 'email verified; onboarding signal left to the sweep'));
      return { verified: true as const };
    },
  );

  app.post(
    '/auth/resend-verification',
    {
      onRequest: app.authenticate,
      config: { idempotent: true },
      schema: {
        tags: ['auth'],
        summary: 'Send a new verification link (older links stop working)',
        headers: IdempotencyHeaders,
        security: bearerAuth,
        response: { 202: Type.Object({ workflowId: Type.String() }), ...errorResponses(401, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { userId } = caller(request);
      const user = await db.query.users.findFirst({ where: eq(users.id, userId) });
      if (!user) throw notFound('user');
      if (user.emailVerifiedAt) throw new ApiError(409, 'already_verified', 'the email address is already verified');
      const age = await secondsSinceLastEmailToken(db, userId, 'verify_email');
      if (age !== null && age < config.RESEND_VERIFICATION_MIN_INTERVAL_SECONDS) {
        throw throttled(config.RESEND_VERIFICATION_MIN_INTERVAL_SECONDS - age, 'a verification email was sent moments ago');
      }
      const [recent] = await db
        .select({ n: count() })
        .from(emailTokens)
        .where(
          and(
            eq(emailTokens.userId, userId),
            eq(emailTokens.purpose, 'verify_email'),
            gt(emailTokens.createdAt, sql`now() - interval '1 hour'`),
          ),
        );
      if ((recent?.n ?? 0) >= RESEND_MAX_PER_HOUR) throw throttled(3600, 'too many verification emails this hour');
      const workflowId = await onboarding.resendVerification(userId, request.id);
      return reply.status(202).send({ workflowId });
    },
  );

  app.post(
    '/auth/accept-terms',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['auth'],
        summary: 'Accept a version of the terms of service; requires a verified email (else 422)',
        security: bearerAuth,
        body: Type.Object(
          { termsVersion: Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\w.-]+$' }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ termsVersion: Type.String(), acceptedAt: Type.String({ format: 'date-time' }) }),
          ...errorResponses(400, 401, 404, 422, 503),
        },
      },
    },
    async (request) => {
      const { userId } = caller(request);
      // Stored and committed, then signalled; a lost signal is delivered by the onboarding sweep.
      const user = await db.transaction(async (tx) => {
        const [updated] = await tx
          .update(users)
          .set({ termsVersion: request.body.termsVersion, termsAcceptedAt: sql`now()`, updatedAt: sql`now()` })
          .where(eq(users.id, userId))
          .returning();
        if (!updated) throw notFound('user');
        if (!updated.emailVerifiedAt) throw new ApiError(422, 'email_not_verified', 'verify your email address before accepting the terms');
        return updated;
      });
      await onboarding
        .termsAccepted(userId, request.body.termsVersion, request.id)
        .catch((err) => request.log.warn({ err, userId }, 'terms accepted; onboarding signal left to the sweep'));
      return { termsVersion: request.body.termsVersion, acceptedAt: user.termsAcceptedAt!.toISOString() };
    },
  );

  app.post(
    '/auth/forgot-password',
    {
      config: { idempotent: true, ...publicLimit },
      schema: {
        tags: ['auth'],
        summary: 'Email a password reset link; answers 202 whether or not the account exists',
        headers: IdempotencyHeaders,
        body: Type.Object({ email: Email }, { additionalProperties: false }),
        response: { 202: Type.Object({ accepted: Type.Literal(true) }), ...errorResponses(400, 429, 503) },
      },
    },
    async (request, reply) => {
      const email = request.body.email.toLowerCase();
      await limitExpensive(
        'forgot-password',
        request.ip,
        email,
        config.FORGOT_PASSWORD_LIMIT_PER_IP_PER_HOUR,
        config.FORGOT_PASSWORD_LIMIT_PER_EMAIL_PER_HOUR,
      );
      await passwordReset.request(email, request.id);
      return reply.status(202).send({ accepted: true as const });
    },
  );

  app.post(
    '/auth/reset-password',
    {
      config: publicLimit,
      schema: {
        tags: ['auth'],
        summary: 'Set a new password with a reset token; ends every session',
        body: Type.Object({ token: OpaqueToken, password: Password }, { additionalProperties: false }),
        response: { 200: Type.Object({ reset: Type.Literal(true) }), ...errorResponses(400) },
      },
    },
    async (request) => {
      const problem = passwordProblem(request.body.password);
      if (problem) throw weakPassword(problem);
      // A bogus token costs a lookup, not an argon2 hash.
      if (!(await isLiveEmailToken(db, request.body.token, 'reset_password'))) throw invalidToken();
      const passwordHash = await hashPassword(request.body.password);
      await db.transaction(async (tx) => {
        const userId = await consumeEmailToken(tx, request.body.token, 'reset_password');
        if (!userId) throw invalidToken();
        const [before] = await tx.select({ verifiedAt: users.emailVerifiedAt }).from(users).where(eq(users.id, userId)).for('update');
        // A never-verified account may have been registered by someone who does not own the
        // address; the reset link, read in the mailbox, proves its owner now has it. What the earlier
        // holder configured (platform connections, with their credentials, bridge URL and webhook
        // secret; the inbound events recorded through them go with them by cascade) is removed.
        // The email is not marked verified here: an access token the earlier holder still has
        // (up to ACCESS_TOKEN_TTL_SECONDS) would then pass the verified-email gate. The owner
        // verifies through the onboarding's verification link, which only the mailbox receives.
        if (!before?.verifiedAt) {
          await tx.delete(platformConnections).where(eq(platformConnections.creatorId, userId));
          // Their queue's "awake" rows go too: a connection made anew must be signalled for.
          await tx.delete(sendQueueAwake).where(eq(sendQueueAwake.creatorId, userId));
        }
        await tx.update(users).set({ passwordHash, updatedAt: sql`now()` }).where(eq(users.id, userId));
        await revokeAllSessions(tx, userId);
      });
      return { reset: true as const };
    },
  );
};
