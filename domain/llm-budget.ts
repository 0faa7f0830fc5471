// LLM spend against a creator's caps (SPEC §5): reserve an estimate before a call, settle it to the
// provider's reported usage after, release what never settled. Every call is a row of `llm_calls`
// keyed by its business step, so a retried step finds its stored answer instead of paying again.
//
// Reservations are serialised per creator by a transaction-scoped advisory lock: the check ("spent
// plus reserved plus this estimate fits both caps") and the reservation are one step, so concurrent
// calls can never together pass a cap. Spend counts settled costs plus open reservations, from the
// start of the current UTC day and month (by `reserved_at`).
import { and, eq, gte, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { aiBudgets, llmCalls } from '../db/schema.js';
import type { Config } from '../lib/config.js';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type LlmCallRow = typeof llmCalls.$inferSelect;

/** Costs are kept in millionths of a cent: a short call costs a fraction of a cent. */
export const MICROCENTS_PER_CENT = 1_000_000;
export const microcentsToCents = (microcents: number) => microcents / MICROCENTS_PER_CENT;

/** A model's price in cents per million tokens (config LLM_PRICES). */
export interface ModelPrice {
  input: number;
  output: number;
}

/** Cents per million tokens × tokens = millionths of a cent; rounded up, never under-counted. */
export const costMicrocents = (price: ModelPrice, promptTokens: number, completionTokens: number) =>
  Math.ceil(promptTokens * price.input + completionTokens * price.output);

/**
 * A reservation whose lease (renewed by each provider request of its step) is this old has nobody
 * using it: its worker died. The sweep releases it. Above the longest single request
 * (LLM_TIMEOUT_MS, capped at 5 minutes by the config), so a request in flight is never released.
 */
export const STALE_RESERVATION_MS = 10 * 60_000;

export type BudgetDefaults = Pick<Config, 'AI_DAILY_CAP_CENTS' | 'AI_MONTHLY_CAP_CENTS'>;

export interface Budget {
  dailyCapCents: number;
  monthlyCapCents: number;
}

export async function budgetOf(db: Db | Tx, defaults: BudgetDefaults, creatorId: string): Promise<Budget> {
  const row = await db.query.aiBudgets.findFirst({ where: eq(aiBudgets.creatorId, creatorId) });
  return row
    ? { dailyCapCents: row.dailyCapCents, monthlyCapCents: row.monthlyCapCents }
    : { dailyCapCents: defaults.AI_DAILY_CAP_CENTS, monthlyCapCents: defaults.AI_MONTHLY_CAP_CENTS };
}

export async function setBudget(db: Db, creatorId: string, budget: Budget): Promise<Budget> {
  await db
    .insert(aiBudgets)
    .values({ creatorId, ...budget })
    .onConflictDoUpdate({ target: aiBudgets.creatorId, set: { ...budget, updatedAt: sql`now()` } });
  return budget;
}

/** Settled costs plus open reservations since the start of this UTC day and month, in microcents. */
export async function spendOf(db: Db | Tx, creatorId: string): Promise<{ day: number; month: number }> {
  const counted = sql`case ${llmCalls.status} when 'settled' then ${llmCalls.costMicrocents} when 'reserved' then ${llmCalls.reservedMicrocents} else 0 end`;
  const dayStart = sql`date_trunc('day', now(), 'UTC')`;
  const [row] = await db
    .select({
      day: sql<string>`coalesce(sum(${counted}) filter (where ${llmCalls.reservedAt} >= ${dayStart}), 0)`,
      month: sql<string>`coalesce(sum(${counted}), 0)`,
    })
    .from(llmCalls)
    .where(and(eq(llmCalls.creatorId, creatorId), gte(llmCalls.reservedAt, sql`date_trunc('month', now(), 'UTC')`)));
  return { day: Number(row?.day ?? 0), month: Number(row?.month ?? 0) };
}

/** Whether `microcents` more fits both caps now (no reservation: an API route's early refusal). */
export async function fitsBudget(db: Db | Tx, defaults: BudgetDefaults, creatorId: string, microcents: number): Promise<boolean> {
  const [budget, spend] = await Promise.all([budgetOf(db, defaults, creatorId), spendOf(db, creatorId)]);
  return (
    spend.day + microcents <= budget.dailyCapCents * MICROCENTS_PER_CENT &&
    spend.month + microcents <= budget.monthlyCapCents * MICROCENTS_PER_CENT
  );
}

export interface ReservationRequest {
  creatorId: string;
  stepKey: string;
  feature: string;
  model: string;
  estimateMicrocents: number;
}

/**
 * settled: the step already ran (its stored answer is the answer); reserved: go ahead (a reservation
 * an earlier attempt of the step left open is reused, not taken twice); refused: over a cap.
 */
export type Reservation =
  | { kind: 'settled'; call: LlmCallRow }
  | { kind: 'reserved'; call: LlmCallRow }
  | { kind: 'refused'; call: LlmCallRow };

export async function reserveLlmCall(db: Db, defaults: BudgetDefaults, r: ReservationRequest): Promise<Reservation> {
  // READ COMMITTED, whatever the server's default: each statement after the lock must see the
  // reservations committed by the creator's previous holder of the lock.
  return db.transaction(
    async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`llm-budget:${r.creatorId}`}, 0))`);
      const existing = await tx.query.llmCalls.findFirst({
        where: and(eq(llmCalls.creatorId, r.creatorId), eq(llmCalls.stepKey, r.stepKey)),
      });
      if (existing?.status === 'settled') return { kind: 'settled' as const, call: existing };
      if (existing?.status === 'reserved') {
        // An earlier attempt of the step left it: this attempt takes over its lease.
        const [renewed] = await tx.update(llmCalls).set({ leasedAt: sql`now()` }).where(eq(llmCalls.id, existing.id)).returning();
        return { kind: 'reserved' as const, call: renewed! };
      }
      const fits = await fitsBudget(tx, defaults, r.creatorId, r.estimateMicrocents);
      const values = {
        status: fits ? ('reserved' as const) : ('refused' as const),
        feature: r.feature,
        model: r.model,
        reservedMicrocents: fits ? r.estimateMicrocents : 0,
        reservedAt: sql`now()`,
        leasedAt: sql`now()`,
        lastError: fits ? null : 'llm_budget_exceeded',
      };
      const [call] = await tx
        .insert(llmCalls)
        .values({ creatorId: r.creatorId, stepKey: r.stepKey, ...values })
        .onConflictDoUpdate({ target: [llmCalls.creatorId, llmCalls.stepKey], set: values })
        .returning();
      return { kind: fits ? ('reserved' as const) : ('refused' as const), call: call! };
    },
    { isolationLevel: 'read committed' },
  );
}

/** One more provider request for this step (counted before it is sent), renewing the reservation's lease. */
export const countLlmRequest = (db: Db, id: string) =>
  db
    .update(llmCalls)
    .set({ requests: sql`${llmCalls.requests} + 1`, leasedAt: sql`now()` })
    .where(eq(llmCalls.id, id));

/**
 * The provider answered: the cost is what its usage says, and the answer is stored for retries of
 * the step. A reservation the sweep already released still settles: the money was spent.
 */
export async function settleLlmCall(
  db: Db,
  id: string,
  s: { promptTokens: number; completionTokens: number; costMicrocents: number; content: string; finishReason: string },
): Promise<LlmCallRow | undefined> {
  const [row] = await db
    .update(llmCalls)
    .set({
      status: 'settled',
      promptTokens: s.promptTokens,
      completionTokens: s.completionTokens,
      costMicrocents: s.costMicrocents,
      result: { content: s.content, finishReason: s.finishReason },
      lastError: null,
      settledAt: sql`now()`,
    })
    .where(and(eq(llmCalls.id, id), inArray(llmCalls.status, ['reserved', 'released'])))
    .returning();
  return row;
}

/** The call failed: its reservation no longer holds budget; a retry of the step reserves again. */
export const releaseLlmCall = (db: Db, id: string, error: string) =>
  db
    .update(llmCalls)
    .set({ status: 'released', lastError: error.slice(0, 500) })
    .where(and(eq(llmCalls.id, id), eq(llmCalls.status, 'reserved')));

/** The sweep: reservations whose lease nobody renewed for longer than any request lasts are released. */
export async function releaseStaleLlmReservations(db: Db, olderThanMs = STALE_RESERVATION_MS): Promise<number> {
  const rows = await db
    .update(llmCalls)
    .set({ status: 'released', lastError: 'never settled: released by the sweep' })
    .where(and(eq(llmCalls.status, 'reserved'), lt(llmCalls.leasedAt, sql`now() - make_interval(secs => ${olderThanMs / 1000})`)))
    .returning({ id: llmCalls.id });
  return rows.length;
}
