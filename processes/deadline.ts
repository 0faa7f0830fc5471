// The one way a process client calls Temporal: under a deadline, with Temporal being unreachable or
// too slow turned into the domain's `unavailable` error (the API answers 503). A Temporal that
// does not answer costs a caller seconds, never a hung request.
import { isGrpcDeadlineError, isGrpcServiceError, type Client } from '@temporalio/client';
import { DomainError } from '../domain/errors.js';

/** Starts and signals: the server answers these without a worker. */
export const SIGNAL_DEADLINE_MS = 5_000;
/** Updates: a worker must run the validator and, for some, the handler. */
export const UPDATE_DEADLINE_MS = 20_000;
const GRPC_UNAVAILABLE = 14;

export const unavailable = (what: string) =>
  new DomainError('unavailable', 'dependency_unavailable', `${what} is unavailable, try again shortly`);

/** Whether `err` says Temporal (or the worker behind it) did not answer in time or could not be reached. */
export function isTemporalUnavailable(err: unknown): boolean {
  for (let c: unknown = err; c instanceof Error; c = c.cause) {
    const e: unknown = c; // the SDK's type guards would narrow `c` to never between the checks
    if (isGrpcDeadlineError(e) || (isGrpcServiceError(e) && e.code === GRPC_UNAVAILABLE)) return true;
  }
  return false;
}

/** Runs `call` under a deadline; an unavailable Temporal becomes `unavailable(what)`, anything else is rethrown. */
export async function withDeadline<T>(client: Client, ms: number, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await client.connection.withDeadline(Date.now() + ms, call);
  } catch (err) {
    throw isTemporalUnavailable(err) ? unavailable(what) : err;
  }
}
