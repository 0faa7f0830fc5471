// The one error shape of the API: {"error": {"code", "message", "details"?}}. Every failure,
// including the framework's own (bad JSON, body too large, wrong media type, unknown route),
// goes through here; nothing a client sends produces a 500 or a stack trace.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { DomainError, type DomainErrorKind } from '../domain/errors.js';

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { $id: 'ErrorResponse' },
);

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export const notFound = (what = 'resource') => new ApiError(404, 'not_found', `${what} not found`);
export const unauthenticated = (message = 'authentication required') => new ApiError(401, 'unauthenticated', message);
export const forbidden = (message = 'not allowed') => new ApiError(403, 'forbidden', message);
export const throttled = (retryAfterSeconds: number, message = 'too many requests') =>
  new ApiError(429, 'throttled', message, { retryAfterSeconds }, retryAfterSeconds);

/** Temporal or Postgres unreachable: 503, so clients retry rather than report a bug. */
export const dependencyDown = (dependency: string) =>
  new ApiError(503, 'dependency_unavailable', `${dependency} is unavailable, try again shortly`);

const domainStatus: Record<DomainErrorKind, number> = {
  invalid: 400,
  not_found: 404,
  invalid_state: 409,
  conflict: 409,
  unprocessable: 422,
  unavailable: 503,
};

function sendError(reply: FastifyReply, err: ApiError) {
  if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterSeconds))));
  const body = { error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) } };
  return reply.status(err.statusCode).type('application/json').send(body);
}

/** Maps framework errors (by Fastify error code) to the API's codes. */
const frameworkErrors: Record<string, [number, string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large', 'request body is too large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type', 'send application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_content_length', 'content-length does not match the body'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'malformed_json', 'body is empty but content-type is application/json'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'malformed_json', 'body is not valid JSON'],
  FST_ERR_CTP_INSTANCE_ALREADY_STARTED: [500, 'internal_error', 'internal error'],
};

/** Temporal or Postgres unreachable, looking through wrappers (drizzle wraps driver errors as `cause`). */
function isDependencyError(err: unknown): string | null {
  for (
    let e = err as { name?: string; code?: string | number; message?: string; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    if (e.name === 'ServiceError' || e.name === 'TransportError' || /14 UNAVAILABLE|DEADLINE_EXCEEDED/.test(e.message ?? ''))
      return 'Temporal';
    if (
      ['ECONNREFUSED', 'ECONNRESET', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', '57P01', '57P03', '53300'].includes(
        String(e.code),
      )
    )
      return 'database';
  }
  return null;
}

/** What is safe to log of an unexpected error: drizzle puts the query parameters (emails, hashes) in its message. */
function loggable(err: unknown) {
  const e = err as { name?: string; code?: unknown; message?: string; stack?: string; cause?: { message?: string; code?: unknown } };
  const query = e.name === 'DrizzleQueryError';
  return {
    type: e.name,
    code: e.code ?? e.cause?.code,
    message: query ? (e.cause?.message ?? 'query failed') : e.message,
    stack: query ? undefined : e.stack,
  };
}

export function frameworkErrorHandler(err: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  return sendError(reply, new ApiError(400, 'bad_url', err.code === 'FST_ERR_BAD_URL' ? 'the URL is malformed' : err.message));
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof ApiError) return sendError(reply, err);
    if (err instanceof DomainError) return sendError(reply, new ApiError(domainStatus[err.kind], err.code, err.message, err.details));
    if (err.validation) {
      const details = err.validation.map((v) => ({
        field: `${err.validationContext ?? 'body'}${v.instancePath.replaceAll('/', '.')}${'additionalProperty' in v.params ? `.${String(v.params.additionalProperty)}` : ''}`,
        message: v.message ?? 'invalid',
      }));
      return sendError(reply, new ApiError(400, 'validation_failed', 'request is invalid', details));
    }
    const mapped = err.code ? frameworkErrors[err.code] : undefined;
    if (mapped && mapped[0] < 500) return sendError(reply, new ApiError(mapped[0], mapped[1], mapped[2]));
    // JSON.parse failures surface as SyntaxError with statusCode 400.
    if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON/i.test(err.message))) {
      return sendError(reply, new ApiError(400, 'malformed_json', 'body is not valid JSON'));
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return sendError(reply, new ApiError(err.statusCode, 'bad_request', err.message));
    }
    const dependency = isDependencyError(err);
    if (dependency) {
      request.log.warn({ err: loggable(err) }, `${dependency} unavailable`);
      return sendError(reply, dependencyDown(dependency));
    }
    request.log.error({ err: loggable(err) }, 'unhandled error');
    return sendError(reply, new ApiError(500, 'internal_error', 'internal error'));
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new ApiError(404, 'not_found', `no route ${request.method} ${(request.url.split('?')[0] ?? '').slice(0, 200)}`)),
  );
}
