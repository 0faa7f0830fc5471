// The sizes of the send queue's work, shared by the workflow (its batch budget and activity
// timeouts) and the code that does the work. Pure: the workflow bundle imports it.

/** Largest batch one activity claims and sends. */
export const SEND_BATCH_MAX = 500;
/**
 * Requests in flight at once per worker process, across all creators: guards the providers inside
 * one process. The per-creator rate limit is not this: the creator's send-queue workflow keeps it.
 */
export const MAX_CONCURRENT_SENDS = 16;
/**
 * Of those, the most one creator's requests may hold: a creator whose bridge answers slowly (up to
 * the request timeout) leaves the other slots to other creators.
 */
export const MAX_CONCURRENT_SENDS_PER_CREATOR = 4;
/** The longest one request to a platform may take (integrations/platforms/http.ts). */
export const PLATFORM_REQUEST_TIMEOUT_MS = 15_000;
