// The LLM gateway and its budgets (SPEC §5) against real Postgres and the LLM stand-in through the
// real `openai` SDK: concurrent calls never pass a daily or monthly cap, a retried step never bills
// twice (also after a worker died between the answer and the settlement), stale reservations are
// released by the sweep, the SDK's own retries of provider faults bill once, and what the gateway
// refuses or the provider rejects.
import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMaintenanceActivities } from '../../activities/maintenance.js';
import { createDb, type Db } from '../../db/client.js';
import { llmCalls } from '../../db/schema.js';
import {
  costMicrocents,
  countLlmRequest,
  MICROCENTS_PER_CENT,
  releaseStaleLlmReservations,
  reserveLlmCall,
  setBudget,
  settleLlmCall,
  spendOf,
  STALE_RESERVATION_MS,
} from '../../domain/llm-budget.js';
import {
  type ChatMessage,
  createLlmGateway,
  type LlmGatewayConfig,
  LlmRefusal,
  LlmRequestRejected,
} from '../../integrations/llm/gateway.js';
import type { LlmCall as StandinCall } from '../../standins/llm/index.js';
import { register, startHarness, type Harness } from '../support/harness.js';
import { llmOf } from '../support/llm.js';

// gpt-4o-mini at 1 cent per output token and nothing for input: a call with maxTokens 10 is
// estimated at exactly 10 cents and, its answer cut at 10 tokens, costs exactly that.
// gpt-4o has both prices, so a cost shows the provider's usage of both. `offline-model` is
// priced here but unknown to the stand-in; gpt-4.1 is served by the stand-in but has no price.
const PRICES = {
  'gpt-4o-mini': { input: 0, output: 1_000_000 },
  'gpt-4o': { input: 250, output: 1000 },
  'offline-model': { input: 1, output: 1 },
};
const CENT = MICROCENTS_PER_CENT;

let h: Harness;
let llm: ReturnType<typeof llmOf>;
// The race runs on a pool as wide as a fleet of workers, so that reservations really meet in Postgres.
let wide: ReturnType<typeof createDb>;
beforeAll(async () => {
  h = await startHarness({ workers: false, env: { LLM_MODEL: 'gpt-4o-mini', LLM_PRICES: JSON.stringify(PRICES), LLM_MAX_RETRIES: '2' } });
  llm = llmOf(h);
  wide = createDb(h.config.DATABASE_URL, { max: 25 });
  // Open all of its connections now (each held a moment), not one by one during the race.
  await Promise.all(Array.from({ length: 25 }, () => wide.sql`select pg_sleep(0.05)`));
});
afterAll(async () => {
  await wide?.close();
  await h?.close();
});

const gatewayWith = (overrides: Partial<LlmGatewayConfig> = {}, db: Db = h.db) =>
  createLlmGateway({ db, config: { ...h.config, ...overrides } });

/** A new creator, and a message tag no other test's calls carry (the stand-in's log is per harness). */
async function creator(budget = { dailyCapCents: 10_000, monthlyCapCents: 100_000 }) {
  const { userId } = await register(h);
  await setBudget(h.db, userId, budget);
  return userId;
}
const tag = () => `t-${randomUUID().slice(0, 8)}`;
const ask = (text: string): ChatMessage[] => [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: text },
];
const callsFor = async (text: string) => (await llm.calls()).filter((c) => c.lastUserMessage?.startsWith(text));
const rowsOf = (creatorId: string) => h.db.select().from(llmCalls).where(eq(llmCalls.creatorId, creatorId));
const rowOf = async (creatorId: string, stepKey: string) =>
  (await h.db.query.llmCalls.findFirst({ where: and(eq(llmCalls.creatorId, creatorId), eq(llmCalls.stepKey, stepKey)) }))!;
/** What the provider's usage for one answer costs at `model`'s price. */
const costOf = (c: StandinCall, model: keyof typeof PRICES = 'gpt-4o-mini') =>
  costMicrocents(PRICES[model], c.promptTokens, c.completionTokens);
const refusalReason = (err: unknown) => (err instanceof LlmRefusal ? err.reason : err);

describe('caps under concurrency', () => {
  it.each([
    ['daily', { dailyCapCents: 100, monthlyCapCents: 100_000 }],
    ['monthly', { dailyCapCents: 100_000, monthlyCapCents: 100 }],
  ])(
    '50 concurrent calls against a %s cap that fits 10 estimates: 10 run, 40 are refused, spend never passes the cap',
    async (_cap, budget) => {
      const creatorId = await creator(budget);
      const gateway = gatewayWith({}, wide.db);
      const text = tag();
      expect(gateway.estimate(ask(text), 10)).toBe(10 * CENT);

      // Spend sampled all along the race: counted reservations plus settled costs never pass the cap.
      const capMicrocents = 100 * CENT;
      const seen: number[] = [];
      let racing = true;
      const sampler = (async () => {
        while (racing) {
          const spend = await spendOf(h.db, creatorId);
          seen.push(spend.day, spend.month);
        }
      })();
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          gateway.complete({ creatorId, stepKey: `race:${i}`, feature: 'test', messages: ask(`${text} call ${i}`), maxTokens: 10 }),
        ),
      );
      racing = false;
      await sampler;

      const answered = results.filter((r) => r.status === 'fulfilled');
      const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
      expect(answered).toHaveLength(10);
      expect(refused.map(refusalReason)).toEqual(Array(40).fill('llm_budget_exceeded'));
      expect(await callsFor(text)).toHaveLength(10);

      expect(seen.length).toBeGreaterThan(0);
      expect(Math.max(...seen)).toBeLessThanOrEqual(capMicrocents);
      const spend = await spendOf(h.db, creatorId);
      expect(spend).toEqual({ day: capMicrocents, month: capMicrocents });

      const rows = await rowsOf(creatorId);
      const byStatus = (s: string) => rows.filter((r) => r.status === s);
      expect(byStatus('settled')).toHaveLength(10);
      expect(byStatus('settled').reduce((sum, r) => sum + r.costMicrocents, 0)).toBe(capMicrocents);
      expect(byStatus('refused')).toHaveLength(40);
      expect(
        byStatus('refused').every((r) => r.lastError === 'llm_budget_exceeded' && r.reservedMicrocents === 0 && r.requests === 0),
      ).toBe(true);

      // Nothing is left: the next call is refused too, without reaching the provider.
      await expect(
        gateway
          .complete({ creatorId, stepKey: 'race:late', feature: 'test', messages: ask(`${text} late`), maxTokens: 10 })
          .catch(refusalReason),
      ).resolves.toBe('llm_budget_exceeded');
      expect(await callsFor(text)).toHaveLength(10);
    },
  );
});

describe('a business step bills once', () => {
  it('a retry of the step reads the stored answer instead of calling again', async () => {
    const creatorId = await creator();
    const gateway = gatewayWith({ LLM_MODEL: 'gpt-4o' });
    const text = tag();
    const call = { creatorId, stepKey: `wf-${text}:draft`, feature: 'test', messages: ask(text), maxTokens: 50 };

    const first = await gateway.complete(call);
    const second = await gateway.complete(call);
    expect(first.stored).toBe(false);
    expect(second).toEqual({ ...first, stored: true });

    const calls = await callsFor(text);
    expect(calls.map((c) => c.outcome)).toEqual(['answered']);
    expect(first.costMicrocents).toBe(costOf(calls[0]!, 'gpt-4o'));
    const rows = await rowsOf(creatorId);
    expect(rows).toEqual([
      expect.objectContaining({
        status: 'settled',
        requests: 1,
        costMicrocents: first.costMicrocents,
        result: { content: first.content, finishReason: 'stop' },
      }),
    ]);
    expect((await spendOf(h.db, creatorId)).day).toBe(first.costMicrocents);
  });

  it('a worker killed between the answer and the settlement: the retry settles the step once', async () => {
    const creatorId = await creator();
    const gateway = gatewayWith({ LLM_MODEL: 'gpt-4o' });
    const text = tag();
    const call = { creatorId, stepKey: `wf-${text}:draft`, feature: 'test', messages: ask(text), maxTokens: 50 };

    // What the gateway does up to the provider's answer, then the worker dies: nothing settles.
    const estimateMicrocents = gateway.estimate(call.messages, call.maxTokens);
    const reservation = await reserveLlmCall(h.db, h.config, { ...call, model: 'gpt-4o', estimateMicrocents });
    expect(reservation.kind).toBe('reserved');
    await countLlmRequest(h.db, reservation.call.id);
    const provider = new OpenAI({ baseURL: h.config.LLM_BASE_URL, apiKey: 'k', maxRetries: 0 });
    const lost = await provider.chat.completions.create({ model: 'gpt-4o', messages: call.messages, max_tokens: call.maxTokens });
    expect(lost.usage?.completion_tokens).toBeGreaterThan(0);
    expect(await spendOf(h.db, creatorId)).toEqual({ day: estimateMicrocents, month: estimateMicrocents });

    // The activity's retry reuses the open reservation (not a second one) and settles it.
    const retried = await gateway.complete(call);
    expect(retried.stored).toBe(false);
    const calls = await callsFor(text);
    expect(calls.map((c) => c.outcome)).toEqual(['answered', 'answered']);
    expect(retried.costMicrocents).toBe(costOf(calls[1]!, 'gpt-4o'));

    const rows = await rowsOf(creatorId);
    expect(rows).toEqual([
      expect.objectContaining({ id: reservation.call.id, status: 'settled', requests: 2, costMicrocents: retried.costMicrocents }),
    ]);
    expect(await spendOf(h.db, creatorId)).toEqual({ day: retried.costMicrocents, month: retried.costMicrocents });

    // And any later attempt reads the stored answer.
    expect(await gateway.complete(call)).toEqual({ ...retried, stored: true });
    expect(await callsFor(text)).toHaveLength(2);
  });
});

describe('answers Postgres cannot hold', () => {
  it('stores and returns an answer with NUL characters without them, settled once', async () => {
    const creatorId = await creator();
    await llm.reply('hi\u0000 there\u0000');
    const stepKey = `wf-${tag()}:nul`;
    const answer = await gatewayWith().complete({ creatorId, stepKey, feature: 'test', messages: ask(tag()), maxTokens: 10 });
    expect(answer.content).toBe('hi there');
    expect(await rowOf(creatorId, stepKey)).toMatchObject({ status: 'settled', result: { content: 'hi there' } });
  });
});

describe('stale reservations', () => {
  it('the sweep releases a reservation that never settled; a late settlement still records the cost', async () => {
    const creatorId = await creator();
    const reservation = await reserveLlmCall(h.db, h.config, {
      creatorId,
      stepKey: `wf-${tag()}:draft`,
      feature: 'test',
      model: 'gpt-4o-mini',
      estimateMicrocents: 7 * CENT,
    });
    expect((await spendOf(h.db, creatorId)).day).toBe(7 * CENT);

    expect(await releaseStaleLlmReservations(h.db, 0)).toBeGreaterThanOrEqual(1);
    expect(await rowOf(creatorId, reservation.call.stepKey)).toMatchObject({
      status: 'released',
      lastError: 'never settled: released by the sweep',
    });
    expect(await spendOf(h.db, creatorId)).toEqual({ day: 0, month: 0 });

    // The worker was only slow: its answer arrives after the sweep, and the money was spent.
    const settled = await settleLlmCall(h.db, reservation.call.id, {
      promptTokens: 20,
      completionTokens: 3,
      costMicrocents: 3 * CENT,
      content: 'late',
      finishReason: 'stop',
    });
    expect(settled).toMatchObject({ status: 'settled', costMicrocents: 3 * CENT, result: { content: 'late', finishReason: 'stop' } });
    expect(await spendOf(h.db, creatorId)).toEqual({ day: 3 * CENT, month: 3 * CENT });
  });

  it('the maintenance activity releases what is older than the threshold and leaves open calls alone', async () => {
    const creatorId = await creator();
    const reserve = (stepKey: string) =>
      reserveLlmCall(h.db, h.config, { creatorId, stepKey, feature: 'test', model: 'gpt-4o-mini', estimateMicrocents: 5 * CENT });
    const stale = await reserve(`wf-${tag()}:stale`);
    const running = await reserve(`wf-${tag()}:running`);
    // The stale one's lease was last renewed a minute past the threshold (its worker died then).
    await h.db
      .update(llmCalls)
      .set({ leasedAt: sql`now() - make_interval(secs => ${STALE_RESERVATION_MS / 1000 + 60})` })
      .where(eq(llmCalls.id, stale.call.id));
    // The running one was reserved as long ago, but its step's last request renewed the lease just now.
    await h.db
      .update(llmCalls)
      .set({ reservedAt: sql`now() - make_interval(secs => ${STALE_RESERVATION_MS / 1000 + 60})` })
      .where(eq(llmCalls.id, running.call.id));
    await countLlmRequest(h.db, running.call.id);

    const { releaseStaleLlmReservations: sweep } = createMaintenanceActivities({ db: h.db, client: h.temporal, config: h.config });
    expect((await sweep()).released).toBeGreaterThanOrEqual(1);
    expect((await rowOf(creatorId, stale.call.stepKey)).status).toBe('released');
    expect((await rowOf(creatorId, running.call.stepKey)).status).toBe('reserved');
    expect((await spendOf(h.db, creatorId)).day).toBe(5 * CENT);

    // The dead step's retry reserves again and runs.
    const gateway = gatewayWith();
    const text = tag();
    const answer = await gateway.complete({ creatorId, stepKey: stale.call.stepKey, feature: 'test', messages: ask(text), maxTokens: 10 });
    expect(answer.stored).toBe(false);
    expect(await rowOf(creatorId, stale.call.stepKey)).toMatchObject({ status: 'settled', costMicrocents: answer.costMicrocents });
    expect((await spendOf(h.db, creatorId)).day).toBe(5 * CENT + answer.costMicrocents);
  });
});

describe('provider faults through the SDK retries', () => {
  it.each([
    ['a 429 with retry-after', { kind: 'rate_limit', retryAfterSeconds: 0.2 }, 'rate_limited'],
    ['a 500', { kind: 'server_error' }, 'server_error'],
    ['a connection dropped after the answer', { kind: 'drop_after_answer' }, 'dropped'],
  ] as const)('%s: the call succeeds and the creator is billed once, for the answer received', async (_name, fault, outcome) => {
    const creatorId = await creator();
    const gateway = gatewayWith({ LLM_MODEL: 'gpt-4o', LLM_MAX_RETRIES: 2 });
    const text = tag();
    await llm.fault(fault);
    const answer = await gateway.complete({ creatorId, stepKey: `wf-${text}:draft`, feature: 'test', messages: ask(text), maxTokens: 50 });

    const calls = await callsFor(text);
    expect(calls.map((c) => c.outcome)).toEqual([outcome, 'answered']);
    const cost = costOf(calls[1]!, 'gpt-4o');
    expect(answer).toMatchObject({ stored: false, costMicrocents: cost });
    expect(await rowsOf(creatorId)).toEqual([
      expect.objectContaining({
        status: 'settled',
        costMicrocents: cost,
        promptTokens: calls[1]!.promptTokens,
        completionTokens: calls[1]!.completionTokens,
        // Every request the provider saw, the SDK's retries included: more than one may have been billed.
        requests: 2,
      }),
    ]);
    expect(await spendOf(h.db, creatorId)).toEqual({ day: cost, month: cost });
  });

  it.each([
    ['a 500', { kind: 'server_error' }, OpenAI.InternalServerError],
    ['a dropped connection', { kind: 'drop_after_answer' }, OpenAI.APIConnectionError],
  ] as const)(
    'without SDK retries, %s is thrown and the reservation released; the step can run again',
    async (_name, fault, errorClass) => {
      const creatorId = await creator();
      const gateway = gatewayWith({ LLM_MAX_RETRIES: 0 });
      const text = tag();
      const call = { creatorId, stepKey: `wf-${text}:draft`, feature: 'test', messages: ask(text), maxTokens: 10 };
      await llm.fault(fault);

      await expect(gateway.complete(call)).rejects.toBeInstanceOf(errorClass);
      expect(await rowOf(creatorId, call.stepKey)).toMatchObject({
        status: 'released',
        requests: 1,
        costMicrocents: 0,
        lastError: expect.any(String),
      });
      expect(await spendOf(h.db, creatorId)).toEqual({ day: 0, month: 0 });

      // The activity's retry: a new reservation on the same row, settled.
      const answer = await gateway.complete(call);
      expect(answer.stored).toBe(false);
      expect(await rowOf(creatorId, call.stepKey)).toMatchObject({ status: 'settled', requests: 2, costMicrocents: answer.costMicrocents });
      expect(await spendOf(h.db, creatorId)).toEqual({ day: answer.costMicrocents, month: answer.costMicrocents });
      expect((await callsFor(text)).length).toBe(2);
    },
  );
});

describe('refusals and rejections', () => {
  it('a model without a price is refused before anything is reserved or sent', async () => {
    const creatorId = await creator();
    const text = tag();
    const gateway = gatewayWith({ LLM_MODEL: 'gpt-4.1' });
    const err = await gateway
      .complete({ creatorId, stepKey: `wf-${text}:draft`, feature: 'test', messages: ask(text), maxTokens: 10 })
      .catch((e) => e);
    expect(err).toBeInstanceOf(LlmRefusal);
    expect(err.reason).toBe('model_not_priced');
    expect(await rowsOf(creatorId)).toEqual([]);
    expect(await callsFor(text)).toEqual([]);
  });

  it('no endpoint configured (production without key or base URL): llm_unavailable', async () => {
    const creatorId = await creator();
    const text = tag();
    const config: LlmGatewayConfig = {
      ...h.config,
      usesLlmStandin: false,
      LLM_BASE_URL: undefined,
      LLM_API_KEY: undefined,
    };
    const gateway = createLlmGateway({ db: h.db, config });
    const err = await gateway
      .complete({ creatorId, stepKey: `wf-${text}:draft`, feature: 'test', messages: ask(text), maxTokens: 10 })
      .catch((e) => e);
    expect(err).toBeInstanceOf(LlmRefusal);
    expect(err.reason).toBe('llm_unavailable');
    expect(await rowsOf(creatorId)).toEqual([]);
  });

  it.each([
    ['an unknown model (404)', { LLM_MODEL: 'offline-model' }, (text: string) => ask(text), 404],
    ['a malformed request (400)', {}, () => [] as ChatMessage[], 400],
  ])('%s is LlmRequestRejected, not retried, and releases the reservation', async (_name, overrides, messages, status) => {
    const creatorId = await creator();
    const text = tag();
    const gateway = gatewayWith(overrides);
    await llm.clearCalls();
    const err = await gateway
      .complete({ creatorId, stepKey: `wf-${text}:draft`, feature: 'test', messages: messages(text), maxTokens: 10 })
      .catch((e) => e);
    expect(err).toBeInstanceOf(LlmRequestRejected);
    expect(err.message).toContain(`(${status})`);
    // One request only: the SDK does not retry a rejection.
    expect((await llm.calls()).map((c) => c.outcome)).toEqual(['rejected']);
    expect(await rowOf(creatorId, `wf-${text}:draft`)).toMatchObject({ status: 'released', requests: 1, costMicrocents: 0 });
    expect(await spendOf(h.db, creatorId)).toEqual({ day: 0, month: 0 });
  });
});
