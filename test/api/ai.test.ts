// SPEC §5 through the API with real workers, the real `reply-suggestion` workflow, the sandbox
// platform and the LLM stand-in (driven by the real `openai` SDK): AI config and budget, usage,
// reply suggestions from draft to delivery (approve, edit, reject, expiry, auto-reply, suggest on
// inbound), budget refusals early in the API and late in the worker, and tenant isolation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inboundWebhookUrl } from '../../domain/platform-connections.js';
import type { Delivery } from '../../standins/platform-sandbox/index.js';
import { apiCalls, bearer, login, register, startHarness, type Harness } from '../support/harness.js';
import { llmOf } from '../support/llm.js';
import { sandboxOf } from '../support/sandbox.js';
import { waitFor } from '../support/wait.js';

let h: Harness;
let platform: ReturnType<typeof sandboxOf>;
let llm: ReturnType<typeof llmOf>;
beforeAll(async () => {
  // gpt-4.1: its output price makes the API's early check (a draft's output only) and the worker's
  // full estimate (prompt included) far enough apart to play a refusal by the worker alone.
  h = await startHarness({ env: { LLM_MODEL: 'gpt-4.1' } });
  platform = sandboxOf(h);
  llm = llmOf(h);
});
afterAll(() => h?.close());

const { call, ok } = apiCalls(() => h);

async function creator() {
  const { userId, email } = await register(h);
  return { userId, auth: bearer((await login(h, email)).accessToken) };
}
type Creator = Awaited<ReturnType<typeof creator>>;

interface SuggestionView {
  id: string;
  status: string;
  text: string | null;
  draftText: string | null;
  priceCents: number | null;
  costCents: number;
  trigger: string;
  reason: string | null;
  decidedBy: string | null;
  sentMessageId: string | null;
}

/**
 * A sandbox connection, and its account on the sandbox platform registered the way the adapter
 * registers it before a first send (the sandbox only knows accounts that sent), so that fans can
 * write before the creator ever did.
 */
async function connect(c: Creator) {
  await ok(c.auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'sandbox', rateLimit: { messages: 100, perSeconds: 1 } }, 201);
  const conn = await platform.connection(c.userId);
  const res = await fetch(`${h.platformSandbox.url}/v1/accounts/${conn.credentials.accountId}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${conn.credentials.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ webhookUrl: inboundWebhookUrl(h.config.PUBLIC_API_URL, conn), webhookSecret: conn.webhookSecret }),
  });
  if (!res.ok) throw new Error(`sandbox account: ${res.status} ${await res.text()}`);
}

const fanWrites = async (c: Creator, fanHandle: string, text: string) =>
  expect(await platform.fanEvent(c.userId, 'message.received', { fanHandle, text })).toMatchObject({ delivered: true });

/** A connected creator whose fan wrote: the conversation's id. */
async function conversationWith(c: Creator, fanHandle: string, text = 'hey, what are you up to tonight?') {
  await connect(c);
  await fanWrites(c, fanHandle, text);
  return waitFor(async () => {
    const inbox = await ok(c.auth, 'GET', '/crm/conversations');
    return inbox.items.find((i: { fan: { handle: string } }) => i.fan.handle === fanHandle)?.id as string | undefined;
  }, `conversation with ${fanHandle}`);
}

const suggest = async (c: Creator, conversationId: string) =>
  (await ok(c.auth, 'POST', `/crm/conversations/${conversationId}/suggestions`, undefined, 202)).suggestionId as string;
const suggestions = async (c: Creator, conversationId: string) =>
  (await ok(c.auth, 'GET', `/crm/conversations/${conversationId}/suggestions`)).items as SuggestionView[];
const suggestionIn = (c: Creator, conversationId: string, id: string, status: string) =>
  waitFor(async () => (await suggestions(c, conversationId)).find((s) => s.id === id && s.status === status), `suggestion ${status}`);
const messageSent = (c: Creator, id: string) =>
  waitFor(async () => {
    const m = await ok(c.auth, 'GET', `/messages/${id}`);
    return m.status === 'sent' ? m : undefined;
  }, `message ${id} sent`);
const deliveries = async (c: Creator) => (await platform.deliveries(c.userId)).deliveries as (Delivery & { requests: number })[];
const scriptDraft = (text: string, priceCents: number | null) => llm.reply(JSON.stringify({ text, priceCents }));

const persona = {
  persona: { name: 'Mia', tone: 'playful', style: 'short, teasing', language: 'pt-BR', boundaries: ['no meetups'], emojis: false },
  customResponses: ['haha you are sweet', 'check your DMs later ;)'],
  autoReply: { enabled: false, maxPriceCents: 0 },
  suggestOnInbound: false,
};

describe('AI config, budget and usage', () => {
  it('reads defaults, round-trips a persona, and refuses bad ones with 400', async () => {
    const c = await creator();
    expect(await ok(c.auth, 'GET', '/ai/config')).toEqual({
      persona: { name: 'the creator', tone: 'warm', style: 'short and personal', language: 'en', boundaries: [], emojis: true },
      customResponses: [],
      autoReply: { enabled: false, maxPriceCents: 0 },
      suggestOnInbound: false,
    });
    expect(await ok(c.auth, 'PUT', '/ai/config', persona)).toEqual(persona);
    expect(await ok(c.auth, 'GET', '/ai/config')).toEqual(persona);

    const bad = [
      { ...persona, persona: { ...persona.persona, language: 'english' } },
      { ...persona, persona: { ...persona.persona, language: 'en_US' } },
      { ...persona, persona: { ...persona.persona, boundaries: Array.from({ length: 31 }, (_, i) => `limit ${i}`) } },
      { ...persona, persona: { ...persona.persona, name: '' } },
      { ...persona, persona: { ...persona.persona, role: 'admin' } },
      { ...persona, autoReply: { enabled: true, maxPriceCents: -1 } },
      { ...persona, autoReply: { enabled: true, maxPriceCents: 100, sendAll: true } },
      { ...persona, customResponses: ['x'.repeat(1_001)] },
      { ...persona, model: 'gpt-4o' },
      { persona: persona.persona },
    ];
    for (const body of bad) {
      const res = await call(c.auth, 'PUT', '/ai/config', body);
      expect(res.statusCode, JSON.stringify(body).slice(0, 200)).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
    }
    expect(await ok(c.auth, 'GET', '/ai/config')).toEqual(persona);
    expect((await call({}, 'GET', '/ai/config')).statusCode).toBe(401);
  });

  it('reads the default caps, sets its own, and refuses a daily cap above the monthly one', async () => {
    const c = await creator();
    expect(await ok(c.auth, 'GET', '/ai/budget')).toEqual({
      dailyCapCents: h.config.AI_DAILY_CAP_CENTS,
      monthlyCapCents: h.config.AI_MONTHLY_CAP_CENTS,
    });
    expect(await ok(c.auth, 'PUT', '/ai/budget', { dailyCapCents: 50, monthlyCapCents: 500 })).toEqual({
      dailyCapCents: 50,
      monthlyCapCents: 500,
    });
    const above = await call(c.auth, 'PUT', '/ai/budget', { dailyCapCents: 501, monthlyCapCents: 500 });
    expect(above.statusCode).toBe(400);
    expect(above.json().error).toMatchObject({ code: 'validation_failed', details: [{ field: 'body.dailyCapCents' }] });
    for (const body of [{ dailyCapCents: -1, monthlyCapCents: 5 }, { dailyCapCents: 1.5, monthlyCapCents: 5 }, { dailyCapCents: 1 }]) {
      expect((await call(c.auth, 'PUT', '/ai/budget', body)).statusCode, JSON.stringify(body)).toBe(400);
    }
    expect(await ok(c.auth, 'GET', '/ai/budget')).toEqual({ dailyCapCents: 50, monthlyCapCents: 500 });

    expect(await ok(c.auth, 'GET', '/ai/usage')).toMatchObject({ spentCents: 0, reservedCents: 0, calls: 0, refusals: 0, byFeature: [] });
    expect((await call(c.auth, 'GET', '/ai/usage?from=2026-02-10&to=2026-02-01')).statusCode).toBe(400);
    for (const day of ['2026-02-31', '2026-13-01', '0000-01-01']) {
      const res = await call(c.auth, 'GET', `/ai/usage?from=${day}`);
      expect(res.statusCode, `${day}: ${res.body}`).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
    }
    expect((await ok(c.auth, 'GET', '/ai/usage?from=2024-02-29&to=2024-03-01')).calls).toBe(0);
  });
});

describe('reply suggestions', () => {
  it('drafts in the persona, sends nothing until approved, then sends the edited reply exactly once', async () => {
    const c = await creator();
    await ok(c.auth, 'PUT', '/ai/config', persona);
    const conversationId = await conversationWith(c, 'eager_fan', 'are you online? 👀');
    const before = (await llm.calls()).length;

    await scriptDraft('oi amor, tenho algo especial pra você', 500);
    const id = await suggest(c, conversationId);
    const ready = await suggestionIn(c, conversationId, id, 'ready');
    expect(ready).toMatchObject({
      text: 'oi amor, tenho algo especial pra você',
      draftText: 'oi amor, tenho algo especial pra você',
      priceCents: 500,
      trigger: 'person',
      decidedBy: null,
      sentMessageId: null,
    });
    expect(ready.costCents).toBeGreaterThan(0);
    // One request to the model, answering the fan's last message.
    const made = (await llm.calls()).slice(before);
    expect(made).toEqual([expect.objectContaining({ model: 'gpt-4.1', outcome: 'answered', lastUserMessage: 'are you online? 👀' })]);

    const usage = await ok(c.auth, 'GET', '/ai/usage');
    const today = new Date().toISOString().slice(0, 10);
    expect(usage).toMatchObject({ calls: 1, refusals: 0, reservedCents: 0, spentCents: ready.costCents });
    expect(usage.byFeature).toEqual([{ feature: 'reply_suggestion', calls: 1, spentCents: ready.costCents }]);
    expect(usage.byDay).toEqual([{ day: today, calls: 1, spentCents: ready.costCents }]);

    // A draft is not a message: nothing reached the fan.
    expect(await deliveries(c)).toEqual([]);
    expect((await ok(c.auth, 'GET', `/crm/conversations/${conversationId}/messages`)).items).toHaveLength(1);

    const approve = () => call(c.auth, 'POST', `/ai/suggestions/${id}/approve`, { text: 'oi amor, tenho uma surpresa pra você' });
    const approved = await approve();
    expect(approved.statusCode, approved.body).toBe(202);
    expect(approved.json()).toMatchObject({ id, status: 'approved', decidedBy: c.userId, sentMessageId: expect.any(String) });
    const sent = await messageSent(c, approved.json().sentMessageId);
    expect(sent).toMatchObject({ direction: 'out', text: 'oi amor, tenho uma surpresa pra você', priceCents: 500, priority: 'normal' });

    // The same approval again (a double click, a client retry) changes nothing.
    const again = await approve();
    expect(again.statusCode, again.body).toBe(202);
    expect(again.json()).toMatchObject({ status: 'approved', sentMessageId: sent.id });
    const delivered = await deliveries(c);
    expect(delivered).toEqual([
      expect.objectContaining({ idempotencyKey: sent.id, text: 'oi amor, tenho uma surpresa pra você', priceCents: 500, requests: 1 }),
    ]);

    // The audit trail: the model's draft, the text sent, who approved it, what it cost.
    const [trail] = await suggestions(c, conversationId);
    expect(trail).toMatchObject({
      id,
      status: 'approved',
      draftText: 'oi amor, tenho algo especial pra você',
      text: 'oi amor, tenho uma surpresa pra você',
      decidedBy: c.userId,
      sentMessageId: sent.id,
      costCents: ready.costCents,
    });
    const rejectAfter = await call(c.auth, 'POST', `/ai/suggestions/${id}/reject`);
    expect(rejectAfter.statusCode).toBe(409);
    expect(rejectAfter.json().error.code).toBe('suggestion_not_ready');
  });

  it('keeps a model answer in prose as a free message', async () => {
    const c = await creator();
    const conversationId = await conversationWith(c, 'prose_fan');
    await llm.reply('Sure, talk soon!');
    const id = await suggest(c, conversationId);
    expect(await suggestionIn(c, conversationId, id, 'ready')).toMatchObject({ text: 'Sure, talk soon!', priceCents: null });
  });

  it('rejects: never sent, and an approval afterwards is 409', async () => {
    const c = await creator();
    const conversationId = await conversationWith(c, 'rejected_fan');
    await scriptDraft('not this one', null);
    const id = await suggest(c, conversationId);
    await suggestionIn(c, conversationId, id, 'ready');
    expect(await ok(c.auth, 'POST', `/ai/suggestions/${id}/reject`)).toMatchObject({ id, status: 'rejected', decidedBy: c.userId });
    const approve = await call(c.auth, 'POST', `/ai/suggestions/${id}/approve`);
    expect(approve.statusCode).toBe(409);
    expect(approve.json().error.code).toBe('suggestion_not_ready');
    expect(await suggestions(c, conversationId)).toEqual([expect.objectContaining({ status: 'rejected', sentMessageId: null })]);
    expect(await deliveries(c)).toEqual([]);
  });

  it('expires a ready suggestion when the fan writes again', async () => {
    const c = await creator();
    const conversationId = await conversationWith(c, 'impatient_fan');
    await scriptDraft('answer to the first message', null);
    const id = await suggest(c, conversationId);
    await suggestionIn(c, conversationId, id, 'ready');

    await fanWrites(c, 'impatient_fan', 'hello??');
    const expired = await suggestionIn(c, conversationId, id, 'expired');
    expect(expired.reason).toMatch(/fan wrote/);
    const approve = await call(c.auth, 'POST', `/ai/suggestions/${id}/approve`);
    expect(approve.statusCode).toBe(409);
    expect(approve.json().error.code).toBe('suggestion_not_ready');
    expect(await deliveries(c)).toEqual([]);
    // suggestOnInbound is off: the new message drafted nothing.
    expect(await suggestions(c, conversationId)).toHaveLength(1);
  });

  it('auto-reply sends a draft within its price limit, and leaves a pricier one to a person', async () => {
    const c = await creator();
    await ok(c.auth, 'PUT', '/ai/config', { ...persona, autoReply: { enabled: true, maxPriceCents: 1000 } });
    const conversationId = await conversationWith(c, 'auto_fan');

    await scriptDraft('a little something for you', 500);
    const cheap = await suggest(c, conversationId);
    const auto = await suggestionIn(c, conversationId, cheap, 'approved');
    expect(auto).toMatchObject({ decidedBy: 'auto-reply', text: 'a little something for you', priceCents: 500 });
    const sentId = await waitFor(
      async () => (await suggestions(c, conversationId)).find((s) => s.id === cheap)?.sentMessageId ?? undefined,
      'sent id',
    );
    await messageSent(c, sentId);
    expect(await deliveries(c)).toEqual([expect.objectContaining({ idempotencyKey: sentId, text: 'a little something for you' })]);

    await scriptDraft('the full set, just for you', 5000);
    const pricey = await suggest(c, conversationId);
    await suggestionIn(c, conversationId, pricey, 'ready');
    // Still undecided in its workflow: a person's approval is the one that sends it.
    const approved = await call(c.auth, 'POST', `/ai/suggestions/${pricey}/approve`);
    expect(approved.statusCode, approved.body).toBe(202);
    expect(approved.json()).toMatchObject({ status: 'approved', decidedBy: c.userId, priceCents: 5000 });
    await messageSent(c, approved.json().sentMessageId);
    expect((await deliveries(c)).map((d) => [d.text, d.priceCents])).toEqual([
      ['a little something for you', 500],
      ['the full set, just for you', 5000],
    ]);
  });

  it('suggestOnInbound drafts a suggestion for every fan message on its own', async () => {
    const c = await creator();
    await ok(c.auth, 'PUT', '/ai/config', { ...persona, suggestOnInbound: true });
    await scriptDraft('drafted on arrival', null);
    const conversationId = await conversationWith(c, 'inbound_fan', 'first!');
    const [first] = await waitFor(async () => {
      const items = await suggestions(c, conversationId);
      return items[0]?.status === 'ready' ? items : undefined;
    }, 'inbound suggestion');
    expect(first).toMatchObject({ trigger: 'inbound', text: 'drafted on arrival' });

    // The next message expires it and drafts a new one.
    await scriptDraft('drafted for the second', null);
    await fanWrites(c, 'inbound_fan', 'second!');
    const items = await waitFor(async () => {
      const all = await suggestions(c, conversationId);
      return all.length === 2 && all[0]!.status === 'ready' ? all : undefined;
    }, 'second inbound suggestion');
    expect(items.map((s) => [s.trigger, s.status, s.text])).toEqual([
      ['inbound', 'ready', 'drafted for the second'],
      ['inbound', 'expired', 'drafted on arrival'],
    ]);
    expect(await deliveries(c)).toEqual([]);
  });
});

describe('budget', () => {
  it('refuses a suggestion with 422 llm_budget_exceeded when the caps are spent', async () => {
    const c = await creator();
    const conversationId = await conversationWith(c, 'broke_fan');
    await ok(c.auth, 'PUT', '/ai/budget', { dailyCapCents: 0, monthlyCapCents: 0 });
    const before = (await llm.calls()).length;
    const res = await call(c.auth, 'POST', `/crm/conversations/${conversationId}/suggestions`);
    expect(res.statusCode).toBe(422);
    expect(res.json()).toEqual({ error: { code: 'llm_budget_exceeded', message: expect.any(String) } });
    expect(await suggestions(c, conversationId)).toEqual([]);
    expect((await llm.calls()).length).toBe(before);
  });

  it('a draft the worker cannot reserve for ends refused, without calling the model', async () => {
    const c = await creator();
    // A long persona: the prompt alone costs more than the cap, while a draft's output fits it.
    const voice = (i: number) => `Reply ${i}: ${'thank you so much for the lovely message, it made my whole day brighter! '.repeat(13)}`;
    await ok(c.auth, 'PUT', '/ai/config', { ...persona, customResponses: Array.from({ length: 30 }, (_, i) => voice(i).slice(0, 1000)) });
    await ok(c.auth, 'PUT', '/ai/budget', { dailyCapCents: 1, monthlyCapCents: 1 });
    const conversationId = await conversationWith(c, 'costly_fan');
    const before = (await llm.calls()).length;

    const id = await suggest(c, conversationId);
    const refused = await suggestionIn(c, conversationId, id, 'refused');
    expect(refused).toMatchObject({ reason: 'llm_budget_exceeded', costCents: 0, text: null });
    expect((await llm.calls()).length).toBe(before);
    expect(await ok(c.auth, 'GET', '/ai/usage')).toMatchObject({ calls: 0, refusals: 1, spentCents: 0, reservedCents: 0 });
    expect((await call(c.auth, 'POST', `/ai/suggestions/${id}/approve`)).statusCode).toBe(409);
  });
});

describe('tenancy', () => {
  it('answers 404 for another creator’s conversation and suggestions', async () => {
    const alice = await creator();
    const bob = await creator();
    const conversationId = await conversationWith(alice, 'alice_fan');
    await scriptDraft('for alice only', null);
    const id = await suggest(alice, conversationId);
    await suggestionIn(alice, conversationId, id, 'ready');
    for (const [method, url] of [
      ['GET', `/crm/conversations/${conversationId}/suggestions`],
      ['POST', `/crm/conversations/${conversationId}/suggestions`],
      ['POST', `/ai/suggestions/${id}/approve`],
      ['POST', `/ai/suggestions/${id}/reject`],
    ] as const) {
      const res = await call(bob.auth, method, url);
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.json().error.code).toBe('not_found');
    }
    expect(await suggestions(alice, conversationId)).toEqual([expect.objectContaining({ id, status: 'ready', decidedBy: null })]);
    expect(await ok(bob.auth, 'GET', '/ai/usage')).toMatchObject({ calls: 0 });
  });
});
