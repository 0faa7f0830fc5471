// Bearer-token authentication: routes opt in with `onRequest: app.authenticate`. Tenant modules are
// registered behind `requireVerifiedEmail` (api/app.ts), which authenticates and then checks the
// email (SPEC §1).
import { eq } from 'drizzle-orm';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../db/client.js';
import { users } from '../db/schema.js';
import type { AccessClaims, Jwt } from './auth/jwt.js';
import { ApiError, forbidden, unauthenticated } from './errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    authenticate: (request: FastifyRequest) => Promise<void>;
  }
  interface FastifyRequest {
    auth: AccessClaims | null;
  }
}

export function registerAuthentication(app: FastifyInstance, jwt: Jwt): void {
  app.decorateRequest('auth', null);
  app.decorate('authenticate', async (request: FastifyRequest) => {
    // Once per request: the tenant gate authenticates before the route's own hook runs.
    if (request.auth) return;
    const header = request.headers.authorization;
    const match = header?.match(/^Bearer ([\w.-]{1,4096})$/i);
    if (!match?.[1]) throw unauthenticated();
    try {
      request.auth = await jwt.verify(match[1]);
    } catch {
      throw unauthenticated('invalid or expired access token');
    }
  });
}

export const emailNotVerified = () =>
  new ApiError(403, 'email_not_verified', 'verify your email address first: this needs a verified email (see POST /auth/verify-email)');

/**
 * An onRequest hook for every route of a tenant module: authenticated, and the caller's email
 * verified. A token minted after verification says so (`ev`) and costs nothing more; one minted
 * before is checked against Postgres, so verifying takes effect at once, with no new login.
 */
export function requireVerifiedEmail(app: FastifyInstance, db: Db) {
  return async (request: FastifyRequest): Promise<void> => {
    await app.authenticate(request);
    const claims = caller(request);
    if (claims.emailVerified) return;
    const [user] = await db.select({ verifiedAt: users.emailVerifiedAt }).from(users).where(eq(users.id, claims.userId));
    if (!user) throw unauthenticated();
    if (!user.verifiedAt) throw emailNotVerified();
  };
}

/**
 * Admin-only routes (after authentication): the role is read from Postgres, not only from the access
 * token, so an admin demoted a minute ago is refused now. 403 `forbidden` otherwise.
 */
export function requireAdmin(db: Db) {
  return async (request: FastifyRequest): Promise<void> => {
    const claims = caller(request);
    if (claims.role !== 'admin') throw forbidden('this route is for administrators');
    const [user] = await db.select({ role: users.role }).from(users).where(eq(users.id, claims.userId));
    if (user?.role !== 'admin') throw forbidden('this route is for administrators');
  };
}

/** The authenticated caller; only call from routes that run `app.authenticate`. */
export function caller(request: FastifyRequest): AccessClaims {
  if (!request.auth) throw unauthenticated();
  return request.auth;
}
