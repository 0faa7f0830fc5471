// How the chaos run's clients talk to the API: like real ones, they retry the SAME request (same
// body, same Idempotency-Key) after a network error, a 5xx, a 429 or a 409 idempotency_in_progress,
// with capped backoff, until an answer or a deadline. Every retry is counted.

export interface Answer {
  status: number;
  body: any;
}

export interface CallOptions {
  body?: unknown;
  form?: () => FormData;
  token?: string;
  idempotencyKey?: string;
  /** Give up after this long (default 10 minutes: a run restarts things for minutes). */
  deadlineMs?: number;
}

export interface RetryingClient {
  call(method: string, url: string, opts?: CallOptions): Promise<Answer & { attempts: number }>;
  stats: { requests: number; retries: number };
  base: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const retryable = (a: Answer) =>
  a.status >= 500 || a.status === 429 || (a.status === 409 && a.body?.error?.code === 'idempotency_in_progress');

export function retryingClient(base: string): RetryingClient {
  const stats = { requests: 0, retries: 0 };
  async function call(method: string, url: string, opts: CallOptions = {}) {
    const deadline = Date.now() + (opts.deadlineMs ?? 600_000);
    let last = 'no attempt';
    for (let attempt = 1; ; attempt++) {
      stats.requests += 1;
      if (attempt > 1) stats.retries += 1;
      try {
        const headers: Record<string, string> = {};
        if (opts.body !== undefined) headers['content-type'] = 'application/json';
        if (opts.token) headers.authorization = `Bearer ${opts.token}`;
        if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
        const res = await fetch(`${base}${url}`, {
          method,
          headers,
          body: opts.form ? opts.form() : opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        let body: unknown = null;
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          body = text;
        }
        const answer = { status: res.status, body };
        if (!retryable(answer)) return { ...answer, attempts: attempt };
        last = `HTTP ${res.status} ${text.slice(0, 200)}`;
      } catch (err) {
        last = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`${method} ${url}: gave up after ${attempt} attempts, last: ${last}`);
      await sleep(Math.min(2_000, 100 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random()));
    }
  }
  return { call, stats, base };
}

/** Polls `check` until it returns a value, retrying thrown errors, or throws after `timeoutMs`. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 600_000, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${lastError}` : ''}`);
    await sleep(intervalMs);
  }
}
