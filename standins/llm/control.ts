// Dev/test control under /_llm/ (no auth): queued faults, scripted replies and the calls log.
// Faults and replies are FIFO queues; an entry with `times: n` serves the next n requests.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../http.js';
import { invalidRequest, type Json, optionalInteger, readJsonObject } from './protocol.js';

export type LlmFault =
  | { kind: 'rate_limit'; retryAfterSeconds: number }
  | { kind: 'server_error' }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'drop_after_answer' };

export interface LlmCall {
  id: string;
  model: string | null;
  at: string;
  /** `dropped`: the connection closed without an answer (after one was produced, for drop_after_answer). */
  outcome: 'answered' | 'rate_limited' | 'server_error' | 'dropped' | 'rejected';
  promptTokens: number;
  completionTokens: number;
  lastUserMessage: string | null;
}

const MAX_CALLS = 10_000;

/** A FIFO of entries each good for `times` takes. */
function queue<T>() {
  const entries: { value: T; remaining: number }[] = [];
  return {
    push: (value: T, times: number) => void entries.push({ value, remaining: times }),
    take(): T | undefined {
      const head = entries[0];
      if (!head) return undefined;
      if (--head.remaining === 0) entries.shift();
      return head.value;
    },
    clear: () => void entries.splice(0),
  };
}

function parseFault(body: Json): LlmFault {
  switch (body.kind) {
    case 'rate_limit': {
      const seconds = body.retryAfterSeconds ?? 1;
      if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0)
        throw invalidRequest('retryAfterSeconds must be a number >= 0', 'retryAfterSeconds');
      return { kind: 'rate_limit', retryAfterSeconds: seconds };
    }
    case 'slow': {
      const delayMs = optionalInteger(body, 'delayMs', 0);
      if (delayMs === undefined) throw invalidRequest('delayMs is required for a slow fault', 'delayMs');
      return { kind: 'slow', delayMs };
    }
    case 'server_error':
    case 'drop_after_answer':
      return { kind: body.kind };
    default:
      throw invalidRequest('kind must be one of rate_limit, server_error, slow, drop_after_answer', 'kind');
  }
}

const noContent = (res: ServerResponse) => res.writeHead(204).end();

export function createControl() {
  const faults = queue<LlmFault>();
  const replies = queue<string>();
  const calls: LlmCall[] = [];

  const handlers = {
    async addFault(req: IncomingMessage, res: ServerResponse) {
      const body = await readJsonObject(req);
      faults.push(parseFault(body), optionalInteger(body, 'times', 1, 1)!);
      noContent(res);
    },
    clearFaults(_req: IncomingMessage, res: ServerResponse) {
      faults.clear();
      noContent(res);
    },
    async addReply(req: IncomingMessage, res: ServerResponse) {
      const body = await readJsonObject(req);
      if (typeof body.content !== 'string') throw invalidRequest('content must be a string', 'content');
      replies.push(body.content, optionalInteger(body, 'times', 1, 1)!);
      noContent(res);
    },
    clearReplies(_req: IncomingMessage, res: ServerResponse) {
      replies.clear();
      noContent(res);
    },
    listCalls(_req: IncomingMessage, res: ServerResponse) {
      sendJson(res, 200, { calls });
    },
    clearCalls(_req: IncomingMessage, res: ServerResponse) {
      calls.splice(0);
      noContent(res);
    },
  };

  return {
    handlers,
    nextFault: faults.take,
    nextReply: replies.take,
    record(call: LlmCall) {
      calls.push(call);
      if (calls.length > MAX_CALLS) calls.splice(0, calls.length - MAX_CALLS);
    },
  };
}
