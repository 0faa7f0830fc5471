// Bearer-token authentication: routes opt in with `onRequest: app.authenticate`.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessClaims, Jwt } from './auth/jwt.js';
import { unauthenticated } from './errors.js';

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

/** The authenticated caller; only call from routes that run `app.authenticate`. */
export function caller(request: FastifyRequest): AccessClaims {
  if (!request.auth) throw unauthenticated();
  return request.auth;
}
