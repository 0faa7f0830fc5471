// Drives the LLM stand-in with the real `openai` SDK: models, completions with usage counted by
// gpt-tokenizer, scripted replies, and every queued fault as the SDK surfaces it.
import { countTokens, encodeChat } from 'gpt-tokenizer/encoding/o200k_base';
import OpenAI, { type APIError } from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LlmStandin, startLlmStandin } from '../../standins/llm/index.js';
import { llmControl } from '../support/llm.js';

let standin: LlmStandin;
let llm: ReturnType<typeof llmControl>;
const client = (options: { apiKey?: string; maxRetries?: number; timeout?: number } = {}) =>
  new OpenAI({ baseURL: `${standin.url}/v1`, apiKey: 'k', maxRetries: 0, ...options });

const messages = [
  { role: 'system' as const, content: 'You are a friendly creator.' },
  { role: 'user' as const, content: 'Hey, what are you up to tonight?' },
];
const ask = (c = client(), extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}) =>
  c.chat.completions.create({ model: 'gpt-4o-mini', messages, ...extra });

beforeAll(async () => {
  standin = await startLlmStandin({ port: 0, models: ['house-model'] });
  llm = llmControl(standin.url);
});
afterAll(() => standin.close());
afterEach(async () => {
  await llm.clearFaults();
  await llm.clearCalls();
});

describe('LLM stand-in', () => {
  it('lists the default models and the extra ones', async () => {
    const ids = [];
    for await (const model of client().models.list()) {
      expect(model).toMatchObject({ object: 'model', owned_by: 'ofm-standin' });
      ids.push(model.id);
    }
    expect(ids).toEqual(['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'gpt-4.1', 'house-model']);
  });

  it('answers deterministically, with usage as gpt-tokenizer counts it', async () => {
    const first = await ask();
    const content = first.choices[0]!.message.content!;
    expect(content).toMatch(/^Stand-in reply to "Hey, what are you up to tonight\?" \[[0-9a-f]{8}\]$/);
    expect(first).toMatchObject({ object: 'chat.completion', model: 'gpt-4o-mini', choices: [{ index: 0, finish_reason: 'stop' }] });
    expect(first.id).toMatch(/^chatcmpl-/);
    const prompt = encodeChat(messages, 'gpt-4o').length;
    expect(first.usage).toEqual({
      prompt_tokens: prompt,
      completion_tokens: countTokens(content),
      total_tokens: prompt + countTokens(content),
    });

    const again = await ask();
    expect(again.choices[0]!.message.content).toBe(content);
    const other = await client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Something else' }] });
    expect(other.choices[0]!.message.content).not.toBe(content);

    expect(await llm.calls()).toMatchObject([
      { outcome: 'answered', model: 'gpt-4o-mini', promptTokens: prompt, lastUserMessage: messages[1]!.content },
      { outcome: 'answered' },
      { outcome: 'answered', lastUserMessage: 'Something else' },
    ]);
  });

  it('cuts the answer at max_completion_tokens (or max_tokens) and says length', async () => {
    const cut = await ask(client(), { max_completion_tokens: 3 });
    expect(cut.choices[0]!.finish_reason).toBe('length');
    expect(cut.usage!.completion_tokens).toBe(3);
    const full = (await ask()).choices[0]!.message.content!;
    expect(full.startsWith(cut.choices[0]!.message.content!)).toBe(true);
    expect((await ask(client(), { max_tokens: 3 })).choices[0]!.message.content).toBe(cut.choices[0]!.message.content);
    expect((await ask(client(), { max_completion_tokens: 500 })).choices[0]!.finish_reason).toBe('stop');
  });

  it('answers scripted replies first, in order', async () => {
    await llm.reply('Scripted one', 2);
    await llm.reply('Scripted two');
    const contents = [];
    for (let i = 0; i < 4; i++) contents.push((await ask()).choices[0]!.message.content);
    expect(contents.slice(0, 3)).toEqual(['Scripted one', 'Scripted one', 'Scripted two']);
    expect(contents[3]).toMatch(/^Stand-in reply/);
    // Scripted replies nobody used can be dropped.
    await llm.reply('never used', 3);
    await llm.clearReplies();
    expect((await ask()).choices[0]!.message.content).toMatch(/^Stand-in reply/);
  });

  it('answers a JSON object when one is asked for', async () => {
    const answer = await ask(client(), { response_format: { type: 'json_object' } });
    expect(JSON.parse(answer.choices[0]!.message.content!)).toEqual({
      text: expect.stringMatching(/^Stand-in reply to "Hey/),
      priceCents: null,
    });
  });

  it('plays a rate limit as a 429 with retry-after, which the SDK retries', async () => {
    await llm.fault({ kind: 'rate_limit', retryAfterSeconds: 2 });
    const err = await ask().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as APIError).headers?.get('retry-after')).toBe('2');
    expect((err as APIError).code).toBe('rate_limit_exceeded');

    await llm.clearCalls();
    await llm.fault({ kind: 'rate_limit', retryAfterSeconds: 0.2 });
    const answer = await ask(client({ maxRetries: 1 }));
    expect(answer.choices[0]!.message.content).toMatch(/^Stand-in reply/);
    expect((await llm.calls()).map((c) => c.outcome)).toEqual(['rate_limited', 'answered']);
  });

  it('plays server errors for as many requests as asked', async () => {
    await llm.fault({ kind: 'server_error', times: 2 });
    for (let i = 0; i < 2; i++) await expect(ask()).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    await expect(ask()).resolves.toBeDefined();
    expect((await llm.calls()).map((c) => c.outcome)).toEqual(['server_error', 'server_error', 'answered']);
  });

  it('drops the connection after producing (and billing) the answer', async () => {
    await llm.fault({ kind: 'drop_after_answer' });
    await expect(ask()).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    const [call] = await llm.calls();
    expect(call).toMatchObject({ outcome: 'dropped', model: 'gpt-4o-mini' });
    expect(call!.completionTokens).toBeGreaterThan(0);
  });

  it('answers slowly, and stops waiting for a client that gave up', async () => {
    await llm.fault({ kind: 'slow', delayMs: 300 });
    const started = Date.now();
    await ask();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);

    await llm.fault({ kind: 'slow', delayMs: 5_000 });
    await expect(ask(client({ timeout: 200 }))).rejects.toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    await expect.poll(async () => (await llm.calls()).map((c) => c.outcome)).toEqual(['answered', 'dropped']);
  });

  it('refuses unknown models, bad keys, streaming and malformed requests in OpenAI’s shape', async () => {
    const unknown = await client()
      .chat.completions.create({ model: 'gpt-9', messages })
      .catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown).toMatchObject({ status: 404, code: 'model_not_found', type: 'invalid_request_error' });

    const keyed = await startLlmStandin({ port: 0, apiKey: 'sk-right' });
    try {
      const wrongKey = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
      await expect(wrongKey.chat.completions.create({ model: 'gpt-4o', messages })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
      const rightKey = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'sk-right', maxRetries: 0 });
      await expect(rightKey.chat.completions.create({ model: 'gpt-4o', messages })).resolves.toBeDefined();
    } finally {
      await keyed.close();
    }

    const streamed = await client()
      .chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true })
      .catch((e: unknown) => e);
    expect(streamed).toBeInstanceOf(OpenAI.BadRequestError);
    expect((streamed as APIError).message).toMatch(/not supported/);

    const post = (body: string, headers: Record<string, string> = { authorization: 'Bearer k' }) =>
      fetch(`${standin.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    expect((await post('{')).status).toBe(400);
    expect((await post(JSON.stringify({ messages }))).status).toBe(400);
    expect((await post(JSON.stringify({ model: 'gpt-4o', messages: [] }))).status).toBe(400);
    expect((await post(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user' }] }))).status).toBe(400);
    expect((await post(JSON.stringify({ model: 'gpt-4o', messages }), {})).status).toBe(401);
    const tooLarge = await post(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(1024 * 1024) }] }));
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ error: { type: 'invalid_request_error', param: null } });

    // Rejections are logged, and did not take the fault queued behind them.
    await llm.fault({ kind: 'server_error' });
    expect((await post('{')).status).toBe(400);
    await expect(ask()).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    const outcomes = (await llm.calls()).map((c) => c.outcome);
    expect(outcomes.at(-1)).toBe('server_error');
    expect(outcomes.slice(0, -1).every((o) => o === 'rejected' || o === 'answered')).toBe(true);
  });

  it('answers health and refuses malformed control requests', async () => {
    expect(await (await fetch(`${standin.url}/health`)).json()).toEqual({ status: 'ok' });
    const fault = (body: object) => fetch(`${standin.url}/_llm/faults`, { method: 'POST', body: JSON.stringify(body) });
    expect((await fault({ kind: 'nope' })).status).toBe(400);
    expect((await fault({ kind: 'slow' })).status).toBe(400);
    expect((await fault({ kind: 'server_error', times: 0 })).status).toBe(400);
    expect((await fetch(`${standin.url}/_llm/replies`, { method: 'POST', body: '{}' })).status).toBe(400);
    expect((await fetch(`${standin.url}/v1/nothing`)).status).toBe(404);
    expect((await fetch(`${standin.url}/_llm/replies`)).status).toBe(405);
  });
});
