// The stand-in's state: accounts, links, balances, transfers, idempotency keys and events, kept as
// one JSON snapshot (rewritten atomically after every change) so a restart keeps it.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type Stripe from 'stripe';
import type { Logger } from '../../lib/logger.js';

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000; // Stripe keeps keys for 24 hours

export interface StoredAccount {
  account: Stripe.Account;
  /** The account revoked the platform's access: API calls for it fail from then on. */
  deauthorized: boolean;
}

export interface StoredLink {
  id: string;
  account: string;
  type: string;
  returnUrl: string;
  refreshUrl: string;
  created: number;
  expiresAt: number;
  /** Links are single use: the first visit consumes them. */
  visited: boolean;
  /** Ties the form post to the visit that rendered it. */
  session?: string;
  submitted: boolean;
}

export interface IdempotencyRecord {
  method: string;
  path: string;
  fingerprint: string;
  /** The answer replayed: a success, or an error raised once the request had started executing. */
  status?: number;
  body: unknown;
  requestId: string;
  createdAt: number;
}

export interface StandinEvent {
  id: string;
  object: 'event';
  /** The connected account the event happened on; absent for the platform's own events, as with Stripe. */
  account?: string;
  api_version: string;
  created: number;
  data: { object: unknown; previous_attributes?: Record<string, unknown> };
  livemode: false;
  pending_webhooks: number;
  /** The API request that caused the event, if one did. */
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

export interface EventDelivery {
  status: 'pending' | 'delivered' | 'failed' | 'no_endpoint';
  attempts: number;
  lastStatus?: number;
  lastError?: string;
  deliveredAt?: number;
}

/** Whose balance: the platform's or a connected account's. */
export const PLATFORM = 'platform';

/** Funds of one account in one currency, in the currency's minor unit. */
export interface Funds {
  available: number;
  pending: number;
}

export interface StoredTransfer {
  /** Who sent it (the platform, or a connected account acting under Stripe-Account). */
  owner: string;
  transfer: Omit<Stripe.Transfer, 'reversals'>;
  /** Oldest first. */
  reversals: Stripe.TransferReversal[];
}

export interface State {
  version: 1;
  /** The platform's Connect application, as named in deauthorization events. */
  applicationId: string;
  /** Successful POST /v1/accounts (idempotent replays excluded). */
  accountCreations: number;
  accounts: Record<string, StoredAccount>;
  links: Record<string, StoredLink>;
  idempotency: Record<string, IdempotencyRecord>;
  events: { event: StandinEvent; delivery: EventDelivery }[];
  /** By owner (PLATFORM or an account id), then currency. */
  balances: Record<string, Record<string, Funds>>;
  /** By id, in creation order. */
  transfers: Record<string, StoredTransfer>;
  /**
   * Test faults: how many of the next transfers fail with balance_insufficient, and how many are
   * made and then left unanswered (a caller that dies or times out before it hears the answer).
   */
  faults: { balanceInsufficient: number; hangAfterTransfer?: number };
}

export const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export function randomId(prefix: string, length = 16): string {
  return prefix + [...randomBytes(length)].map((b) => BASE62[b % 62]).join('');
}
export const now = () => Math.floor(Date.now() / 1000);

export function freshState(): State {
  return {
    version: 1,
    applicationId: randomId('ca_', 24),
    accountCreations: 0,
    accounts: {},
    links: {},
    idempotency: {},
    events: [],
    balances: {},
    transfers: {},
    faults: { balanceInsufficient: 0 },
  };
}

/**
 * Forgets saved idempotent answers, as Stripe does once a key is 24 hours old: all of them, or those
 * of one key (in every account context). Returns how many were forgotten.
 */
export function forgetIdempotencyKeys(state: State, key?: string): number {
  let forgotten = 0;
  for (const scope of Object.keys(state.idempotency)) {
    // Scopes are `<account context> <key>`.
    if (key !== undefined && scope.slice(scope.indexOf(' ') + 1) !== key) continue;
    delete state.idempotency[scope];
    forgotten += 1;
  }
  return forgotten;
}

export async function loadState(file: string, logger?: Logger): Promise<State> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return freshState();
    throw err;
  }
  try {
    const state = JSON.parse(raw) as State;
    if (state.version !== 1) throw new Error(`unsupported version ${String(state.version)}`);
    // Snapshots written before money existed.
    state.balances ??= {};
    state.transfers ??= {};
    state.faults ??= { balanceInsufficient: 0 };
    const cutoff = Date.now() - IDEMPOTENCY_TTL_MS;
    for (const [key, record] of Object.entries(state.idempotency)) if (record.createdAt < cutoff) delete state.idempotency[key];
    return state;
  } catch (err) {
    // Writes are atomic (rename), so this is a hand-edited file: keep it aside rather than lose it.
    const aside = `${file}.unreadable-${Date.now()}`;
    await rename(file, aside);
    logger?.warn({ err, file, aside }, 'Stripe stand-in state unreadable; starting empty');
    return freshState();
  }
}

export interface Store {
  state: State;
  /** Writes the snapshot (chained: each write saves the state as it is when its turn comes). */
  persist(): Promise<void>;
  /** Resolves once the writes queued so far are done. */
  flush(): Promise<void>;
}

export async function openStore(stateFile: string | undefined, logger?: Logger): Promise<Store> {
  if (stateFile) await mkdir(path.dirname(stateFile), { recursive: true });
  const state = stateFile ? await loadState(stateFile, logger) : freshState();
  let writes: Promise<void> = Promise.resolve();
  return {
    state,
    persist() {
      if (!stateFile) return Promise.resolve();
      const write = writes.then(async () => {
        const tmp = `${stateFile}.tmp`;
        await writeFile(tmp, JSON.stringify(state));
        await rename(tmp, stateFile); // atomic: a crash never leaves half a file
      });
      writes = write.catch(() => undefined);
      return write;
    },
    flush: () => writes,
  };
}
