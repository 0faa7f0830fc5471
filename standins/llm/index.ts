// Local stand-in for an OpenAI-compatible LLM provider, for dev and tests (SPEC §5). It speaks the
// Chat Completions protocol as the `openai` SDK expects it: GET /v1/models and POST
// /v1/chat/completions (no streaming) behind a Bearer key, with `usage` counted by gpt-tokenizer.
// Answers are deterministic (same request, same content) unless a reply was scripted. The
// provider's failure modes are queued through /_llm/ (no auth): 429 with retry-after, 500, slow
// answers, and a connection dropped after the answer was produced (and billed). State is in memory.
// Modules: protocol (errors, validation), control (faults, replies, calls log); this file is the
// completion itself, the router and the server.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { decode, encode, encodeChat } from 'gpt-tokenizer/encoding/o200k_base';
import type { Logger } from '../../lib/logger.js';
import { listen, sendJson } from '../http.js';
import { createControl, type LlmCall } from './control.js';
import { type ChatMessage, type ChatRequest, LlmError, parseChatRequest, readJsonObject } from './protocol.js';

export type { LlmCall, LlmFault } from './control.js';

export interface LlmStandinOptions {
  /** 0 picks a free port; the returned url has the actual one. */
  port: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  logger?: Logger;
  /** The one key accepted; by default any non-empty Bearer key is. */
  apiKey?: string;
  /** Served beside the default models. */
  models?: string[];
}

export interface LlmStandin {
  /** The base URL; the SDK's baseURL is `${url}/v1`. */
  url: string;
  close(): Promise<void>;
}

/** The models lib/config.ts prices by default. */
const DEFAULT_MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'gpt-4.1'];
const OWNER = 'ofm-standin';
const FINGERPRINT = 'fp_ofm_standin';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

const lastUserMessage = (messages: ChatMessage[]) => messages.findLast((m) => m.role === 'user')?.content ?? null;

/** The answer's text and its token count, cut to `maxTokens` as a provider stops generating there. */
function completion({ messages, maxTokens, json }: ChatRequest, scripted: string | undefined) {
  const digest = createHash('sha256').update(JSON.stringify(messages)).digest('hex').slice(0, 8);
  const reply = `Stand-in reply to "${(lastUserMessage(messages) ?? '').slice(0, 60)}" [${digest}]`;
  // Asked for JSON, a provider answers an object: the reply as `text` (what a drafting prompt asks for).
  const text = scripted ?? (json ? JSON.stringify({ text: reply, priceCents: null }) : reply);
  const tokens = encode(text);
  if (maxTokens === undefined || tokens.length <= maxTokens) return { content: text, tokens: tokens.length, finishReason: 'stop' };
  return { content: decode(tokens.slice(0, maxTokens)), tokens: maxTokens, finishReason: 'length' };
}

/** Resolves true after `ms`, or false as soon as the client goes away. */
function waitUnlessGone(res: ServerResponse, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const gone = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.off('close', gone);
      resolve(true);
    }, ms);
    res.once('close', gone);
  });
}

export async function startLlmStandin(opts: LlmStandinOptions): Promise<LlmStandin> {
  const { logger, apiKey } = opts;
  const host = opts.host ?? '127.0.0.1';
  const models = new Set([...DEFAULT_MODELS, ...(opts.models ?? [])]);
  const created = Math.floor(Date.now() / 1000);
  const control = createControl();

  function authorize(req: IncomingMessage) {
    const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]?.trim();
    if (!key || (apiKey !== undefined && key !== apiKey))
      throw new LlmError(401, 'invalid_request_error', 'Incorrect API key provided.', 'invalid_api_key');
  }

  function listModels(req: IncomingMessage, res: ServerResponse) {
    authorize(req);
    sendJson(res, 200, { object: 'list', data: [...models].map((id) => ({ id, object: 'model', created, owned_by: OWNER })) });
  }

  async function chatCompletions(req: IncomingMessage, res: ServerResponse) {
    const id = `chatcmpl-${randomBytes(12).toString('hex')}`;
    const call: Omit<LlmCall, 'outcome'> = {
      id,
      model: null,
      at: new Date().toISOString(),
      promptTokens: 0,
      completionTokens: 0,
      lastUserMessage: null,
    };
    let request: ChatRequest;
    try {
      authorize(req);
      request = parseChatRequest(await readJsonObject(req));
      call.model = request.model;
      call.lastUserMessage = lastUserMessage(request.messages);
      if (!models.has(request.model))
        throw new LlmError(
          404,
          'invalid_request_error',
          `The model \`${request.model}\` does not exist or you do not have access to it.`,
          'model_not_found',
          'model',
        );
    } catch (err) {
      if (err instanceof LlmError) control.record({ ...call, outcome: 'rejected' });
      throw err;
    }
    // chatml names any role, so developer and tool messages are counted as they are.
    call.promptTokens = encodeChat(request.messages, 'gpt-4o').length;

    // Faults are taken by valid requests only, so a test's malformed call does not eat one.
    const fault = control.nextFault();
    if (fault?.kind === 'rate_limit') {
      control.record({ ...call, outcome: 'rate_limited' });
      throw new LlmError(429, 'rate_limit_error', 'Rate limit reached (stand-in fault).', 'rate_limit_exceeded', null, {
        'retry-after': String(Math.ceil(fault.retryAfterSeconds)),
        'retry-after-ms': String(Math.round(fault.retryAfterSeconds * 1000)),
      });
    }
    if (fault?.kind === 'server_error') {
      control.record({ ...call, outcome: 'server_error' });
      throw new LlmError(500, 'server_error', 'The server had an error while processing your request (stand-in fault).');
    }
    if (fault?.kind === 'slow' && !(await waitUnlessGone(res, fault.delayMs))) {
      control.record({ ...call, outcome: 'dropped' }); // the client gave up before anything was produced
      return;
    }

    const answer = completion(request, control.nextReply());
    const dropped = fault?.kind === 'drop_after_answer';
    control.record({ ...call, completionTokens: answer.tokens, outcome: dropped ? 'dropped' : 'answered' });
    // The provider produced (and bills) the answer, but the client never hears it.
    if (dropped) return void res.destroy();
    sendJson(
      res,
      200,
      {
        id,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: request.model,
        system_fingerprint: FINGERPRINT,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: answer.content, refusal: null },
            finish_reason: answer.finishReason,
            logprobs: null,
          },
        ],
        usage: { prompt_tokens: call.promptTokens, completion_tokens: answer.tokens, total_tokens: call.promptTokens + answer.tokens },
      },
      { 'x-request-id': `req_${randomBytes(12).toString('hex')}` },
    );
  }

  const { handlers } = control;
  const routes: Record<string, Record<string, Handler>> = {
    '/health': { GET: (_req, res) => sendJson(res, 200, { status: 'ok' }) },
    '/v1/models': { GET: listModels },
    '/v1/chat/completions': { POST: chatCompletions },
    '/_llm/faults': { POST: handlers.addFault, DELETE: handlers.clearFaults },
    '/_llm/replies': { POST: handlers.addReply, DELETE: handlers.clearReplies },
    '/_llm/calls': { GET: handlers.listCalls, DELETE: handlers.clearCalls },
  };

  function route(req: IncomingMessage, res: ServerResponse) {
    // The raw path, not new URL(): a malformed request target must not throw outside the handler.
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const methods = routes[path];
    if (!methods) throw new LlmError(404, 'invalid_request_error', `Invalid URL (${req.method} ${path})`);
    const handler = methods[req.method ?? ''];
    if (!handler)
      throw new LlmError(405, 'invalid_request_error', `${req.method} is not allowed on ${path}`, null, null, {
        allow: Object.keys(methods).join(', '),
      });
    return handler(req, res);
  }

  const server = createServer((req, res) => {
    Promise.resolve()
      .then(() => route(req, res))
      .catch((err: unknown) => {
        const error = err instanceof LlmError ? err : new LlmError(500, 'server_error', 'The LLM stand-in failed');
        if (!(err instanceof LlmError)) logger?.error({ err }, 'LLM stand-in failed');
        else logger?.debug({ url: req.url, status: error.status, message: error.message }, 'LLM stand-in answered an error');
        if (res.headersSent) return res.destroy();
        sendJson(res, error.status, error.body(), error.headers);
      });
  });

  const url = await listen(server, opts.port, host);

  return {
    url,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Nothing to drain: in-flight (slow) answers are cut rather than waited for.
        server.closeAllConnections();
      }),
  };
}
