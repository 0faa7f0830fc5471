// Schemas shared by several routes (request bodies and responses are also the OpenAPI document).
import { Type } from 'typebox';

/** `T` or null (a field that may be cleared). */
export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const Email = Type.String({ format: 'email', maxLength: 254 });
export const Password = Type.String({ minLength: 1, maxLength: 256 });
export const OpaqueToken = Type.String({ minLength: 1, maxLength: 512 });

export const User = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  role: Type.Union([Type.Literal('creator'), Type.Literal('operator'), Type.Literal('admin')]),
  locale: Type.String(),
  timezone: Type.String(),
  emailVerified: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
});

export const TokenPair = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  expiresIn: Type.Integer({ description: 'access token lifetime in seconds' }),
});

/**
 * A platform's name (`onlyfans`, `fansly`, ...). Names that are also Object.prototype keys are
 * refused: the send queue keys its per-platform state by name.
 */
export const PlatformName = (options: { default?: string } = {}) =>
  Type.String({
    minLength: 1,
    maxLength: 30,
    pattern: '^(?!(?:constructor|prototype|__proto__|hasownproperty|tostring|valueof)$)[a-z0-9_]+$',
    ...options,
  });

export const errorResponses = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, Type.Ref('ErrorResponse')]));

export const bearerAuth = [{ bearerAuth: [] }];

/** Documents (and bounds) the Idempotency-Key header on routes with `config: { idempotent: true }`. */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ minLength: 1, maxLength: 255, description: 'Replays the first response to the same key and body for 24 h' }),
  ),
});

/** An outgoing message's text, price and media (1:1 messages, replies and campaigns). */
export const MessageText = Type.String({ minLength: 1, maxLength: 5_000 });
export const PriceCents = Type.Integer({
  minimum: 0,
  maximum: 1_000_000,
  description: 'pay-per-view price; 0 or absent for a free message',
});
export const MediaUrls = Type.Array(Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048 }), { maxItems: 20 });
