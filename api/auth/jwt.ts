import { SignJWT, jwtVerify } from 'jose';
import type { Config } from '../../lib/config.js';

export type Role = 'creator' | 'operator' | 'admin';
export interface AccessClaims {
  userId: string;
  role: Role;
  /**
   * `ev`: the email was verified when the token was minted. Only `true` is trusted as is; a token
   * without it is checked against Postgres by the tenant gate (api/authenticate.ts).
   */
  emailVerified?: boolean;
}

type JwtConfig = Pick<Config, 'JWT_SECRET' | 'JWT_ISSUER' | 'ACCESS_TOKEN_TTL_SECONDS'>;

/** Short-lived HS256 access tokens; refresh tokens are opaque and live in Postgres. */
export function createJwt(config: JwtConfig) {
  const key = new TextEncoder().encode(config.JWT_SECRET);
  return {
    expiresIn: config.ACCESS_TOKEN_TTL_SECONDS,
    sign: (claims: AccessClaims) =>
      new SignJWT({ role: claims.role, ...(claims.emailVerified ? { ev: true } : {}) })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(claims.userId)
        .setIssuer(config.JWT_ISSUER)
        .setIssuedAt()
        .setExpirationTime(`${config.ACCESS_TOKEN_TTL_SECONDS}s`)
        .sign(key),
    /** Throws on a bad signature, wrong issuer, expiry or malformed token. */
    async verify(token: string): Promise<AccessClaims> {
      const { payload } = await jwtVerify(token, key, { issuer: config.JWT_ISSUER, algorithms: ['HS256'] });
      const role = payload.role;
      if (typeof payload.sub !== 'string' || (role !== 'creator' && role !== 'operator' && role !== 'admin')) {
        throw new Error('malformed claims');
      }
      return { userId: payload.sub, role, emailVerified: payload.ev === true };
    },
  };
}

export type Jwt = ReturnType<typeof createJwt>;
