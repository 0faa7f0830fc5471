// The one door to an LLM (SPEC §5): any OpenAI-compatible Chat Completions endpoint through the
// official `openai` SDK. Every call is estimate → reserve → call → settle (domain/llm-budget.ts),
// keyed by its business step, so a retried activity or a replayed workflow reads the stored answer
// instead of calling (and paying) again.
//
// The estimate is an upper bound: the prompt counted with the o200k tokenizer (OpenAI's current
// models) plus a margin for other tokenizers and the chat framing, plus `maxTokens` of output.
// The SDK itself retries 429 (honouring retry-after up to a minute; longer waits fall back to its
// own backoff), 5xx and dropped connections LLM_MAX_RETRIES times; what still fails releases the
// reservation and is thrown for the activity's own retries.
import { encodeChat } from 'gpt-tokenizer/encoding/o200k_base';
import OpenAI from 'openai';
import { eq } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { llmCalls } from '../../db/schema.js';
import {
  type BudgetDefaults,
  costMicrocents,
  countLlmRequest,
  type LlmCallRow,
  microcentsToCents,
  type ModelPrice,
  releaseLlmCall,
  reserveLlmCall,
  settleLlmCall,
} from '../../domain/llm-budget.js';
import type { Config } from '../../lib/config.js';
import type { DomainMetrics } from '../../lib/metrics.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface LlmCall {
  creatorId: string;
  /** The business step, unique per creator: `<workflow id>:<step>`. */
  stepKey: string;
  /** What the call is for, in usage reports and metrics: `reply_suggestion`, `marketing_analysis`. */
  feature: string;
  messages: ChatMessage[];
  maxTokens: number;
  /** Ask for a JSON object (response_format json_object). */
  json?: boolean;
}

export interface LlmAnswer {
  content: string;
  finishReason: string;
  model: string;
  costMicrocents: number;
  /** Read from an earlier attempt of the step: no request was made now. */
  stored: boolean;
}

export type LlmRefusalReason = 'llm_budget_exceeded' | 'model_not_priced' | 'llm_unavailable';

/** The call was not made, and retrying now would not change that. */
export class LlmRefusal extends Error {
  constructor(readonly reason: LlmRefusalReason) {
    super(
      reason === 'llm_budget_exceeded'
        ? 'the AI budget for today or this month is spent'
        : reason === 'model_not_priced'
          ? 'the configured model has no price in LLM_PRICES'
          : 'no LLM endpoint is configured (LLM_API_KEY or LLM_BASE_URL)',
    );
  }
}

/** The provider refused the request itself (bad request, key, model): retrying cannot help. */
export class LlmRequestRejected extends Error {}

/** Prompt tokens over the o200k count: other tokenizers and the chat framing of other servers. */
const PROMPT_MARGIN = 1.1;
const PROMPT_MARGIN_TOKENS = 16;

export type LlmGatewayConfig = Pick<
  Config,
  | 'LLM_BASE_URL'
  | 'LLM_API_KEY'
  | 'LLM_MODEL'
  | 'LLM_PRICES'
  | 'LLM_TIMEOUT_MS'
  | 'LLM_MAX_RETRIES'
  | 'LLM_OUTPUT_LIMIT_PARAM'
  | 'usesLlmStandin'
> &
  BudgetDefaults;

const storedAnswer = (row: LlmCallRow): LlmAnswer => ({
  content: row.result?.content ?? '',
  finishReason: row.result?.finishReason ?? 'stop',
  model: row.model,
  costMicrocents: row.costMicrocents,
  stored: true,
});

export function createLlmGateway({ db, config, metrics }: { db: Db; config: LlmGatewayConfig; metrics?: DomainMetrics }) {
  const model = config.LLM_MODEL;
  const price: ModelPrice | undefined = config.LLM_PRICES[model];
  const configured = config.LLM_BASE_URL !== undefined || config.LLM_API_KEY !== undefined;
  const client = configured
    ? new OpenAI({
        baseURL: config.LLM_BASE_URL,
        // The stand-in and keyless local servers take any key; the SDK insists on one.
        apiKey: config.LLM_API_KEY ?? 'no-key',
        timeout: config.LLM_TIMEOUT_MS,
        maxRetries: config.LLM_MAX_RETRIES,
      })
    : undefined;

  /** The most the call can cost, in microcents (refused when the model has no price). */
  function estimate(messages: ChatMessage[], maxTokens: number): number {
    if (!price) throw new LlmRefusal('model_not_priced');
    const promptTokens = Math.ceil(encodeChat(messages, 'gpt-4o').length * PROMPT_MARGIN) + PROMPT_MARGIN_TOKENS;
    return costMicrocents(price, promptTokens, maxTokens);
  }

  async function complete(call: LlmCall): Promise<LlmAnswer> {
    if (!client) throw new LlmRefusal('llm_unavailable');
    const estimateMicrocents = estimate(call.messages, call.maxTokens);
    const reservation = await reserveLlmCall(db, config, { ...call, model, estimateMicrocents });
    const row = reservation.call;
    if (reservation.kind === 'refused') {
      metrics?.llmBudgetRefusals.inc({ feature: call.feature, model });
      throw new LlmRefusal('llm_budget_exceeded');
    }
    if (reservation.kind === 'settled') return storedAnswer(row);

    // Every request the provider sees is counted before it leaves, the SDK's own retries included
    // (a connection dropped after the answer was billed by the provider all the same).
    const counting = client.withOptions({
      fetch: async (url, init) => {
        await countLlmRequest(db, row.id);
        return fetch(url, init);
      },
    });
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    try {
      completion = await counting.chat.completions.create({
        model,
        messages: call.messages,
        [config.LLM_OUTPUT_LIMIT_PARAM]: call.maxTokens,
        ...(call.json ? { response_format: { type: 'json_object' as const } } : {}),
      });
    } catch (err) {
      await releaseLlmCall(db, row.id, err instanceof Error ? err.message : String(err));
      if (err instanceof OpenAI.APIError && err.status !== undefined && [400, 401, 403, 404, 422].includes(err.status))
        throw new LlmRequestRejected(`the LLM endpoint refused the request (${err.status}): ${err.message}`);
      throw err;
    }
    const choice = completion.choices[0];
    // Postgres text and jsonb cannot hold U+0000: an answer carrying one is kept without it.
    const content = (choice?.message.content ?? '').replaceAll('\u0000', '');
    const finishReason = choice?.finish_reason ?? 'stop';
    // A server that reports no usage is billed the reservation, which bounds what it can cost.
    const cost = completion.usage
      ? costMicrocents(price!, completion.usage.prompt_tokens, completion.usage.completion_tokens)
      : estimateMicrocents;
    const labels = { feature: call.feature, model };
    metrics?.llmCostCents.inc(labels, microcentsToCents(cost));
    metrics?.llmTokens.inc({ ...labels, kind: 'prompt' }, completion.usage?.prompt_tokens ?? 0);
    metrics?.llmTokens.inc({ ...labels, kind: 'completion' }, completion.usage?.completion_tokens ?? 0);
    const settled = await settleLlmCall(db, row.id, {
      promptTokens: completion.usage?.prompt_tokens ?? 0,
      completionTokens: completion.usage?.completion_tokens ?? 0,
      costMicrocents: cost,
      content,
      finishReason,
    });
    // Settled meanwhile by an overlapping attempt of the same step: its answer is the step's.
    if (!settled) return storedAnswer((await db.query.llmCalls.findFirst({ where: eq(llmCalls.id, row.id) }))!);
    return { content, finishReason, model, costMicrocents: cost, stored: false };
  }

  return { model, estimate, complete };
}

export type LlmGateway = ReturnType<typeof createLlmGateway>;
