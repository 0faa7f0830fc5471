// Errors of the business rules, free of HTTP: `kind` says what went wrong in terms the API maps to
// a status (api/errors.ts), `code` is the stable machine-readable code clients see.
export type DomainErrorKind = 'invalid' | 'not_found' | 'invalid_state' | 'conflict' | 'unprocessable' | 'unavailable';

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFoundError = (what: string) => new DomainError('not_found', 'not_found', `${what} not found`);
