// The Chat Completions wire rules as the stand-in plays them: OpenAI's error shape
// `{error: {message, type, param, code}}`, and the validation of request bodies.
import type { IncomingMessage } from 'node:http';
import { readBody } from '../http.js';

const MAX_BODY_BYTES = 1024 * 1024;

/** An error answered in OpenAI's shape. */
export class LlmError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new LlmError(400, 'invalid_request_error', message, code, param);
// The connection is closed after a 413: the rest of an oversized body is not worth reading.
const tooLarge = (message: string) =>
  new LlmError(413, 'invalid_request_error', message, 'request_too_large', null, { connection: 'close' });

export type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The body as a JSON object; an empty body counts as `{}` (the control endpoints take optional fields only). */
export async function readJsonObject(req: IncomingMessage): Promise<Json> {
  const raw = await readBody(req, MAX_BODY_BYTES, tooLarge);
  let body: unknown;
  try {
    body = raw.trim() === '' ? {} : JSON.parse(raw);
  } catch {
    throw invalidRequest('We could not parse the JSON body of your request.');
  }
  if (!isRecord(body)) throw invalidRequest('The request body must be a JSON object.');
  return body;
}

/** An integer >= min, or `fallback` when absent. */
export function optionalInteger(body: Json, field: string, min: number, fallback?: number): number | undefined {
  const value = body[field];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    throw invalidRequest(`${field} must be an integer >= ${min}`, field);
  return value;
}

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  /** max_completion_tokens, or the legacy max_tokens. */
  maxTokens: number | undefined;
  /** response_format json_object (or json_schema): the answer is a JSON object. */
  json: boolean;
}

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'];

/** A message's text: a string, or the text parts of a content array (other parts carry no text to count). */
function messageContent(value: unknown, index: number): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((part) => isRecord(part) && part.type === 'text' && typeof part.text === 'string'))
    return value.map((part) => part.text).join('');
  throw invalidRequest(`messages[${index}].content must be a string or an array of text parts`, `messages[${index}].content`);
}

/** The fields the stand-in acts on; the others (temperature, ...) are accepted and ignored, as a provider would. */
export function parseChatRequest(body: Json): ChatRequest {
  if (typeof body.model !== 'string' || body.model === '') throw invalidRequest('you must provide a model parameter', 'model');
  if (body.stream === true)
    throw invalidRequest('stream: true is not supported by the LLM stand-in; call without streaming', 'stream', 'unsupported_value');
  const { messages } = body;
  if (!Array.isArray(messages) || messages.length === 0) throw invalidRequest('messages must be a non-empty array', 'messages');
  const parsed = messages.map((message: unknown, i) => {
    if (!isRecord(message) || typeof message.role !== 'string' || !ROLES.includes(message.role))
      throw invalidRequest(`messages[${i}].role must be one of ${ROLES.join(', ')}`, `messages[${i}].role`);
    return { role: message.role, content: messageContent(message.content, i) };
  });
  const maxTokens =
    body.max_completion_tokens !== undefined ? optionalInteger(body, 'max_completion_tokens', 1) : optionalInteger(body, 'max_tokens', 1);
  const format = isRecord(body.response_format) ? body.response_format.type : undefined;
  return { model: body.model, messages: parsed, maxTokens, json: format === 'json_object' || format === 'json_schema' };
}
