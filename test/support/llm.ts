// The LLM stand-in's control endpoints as tests use them: queue faults, script replies, read the calls log.
import type { LlmCall, LlmFault } from '../../standins/llm/index.js';
import type { Harness } from './harness.js';

/** A fault as POST /_llm/faults takes it: rate_limit's retryAfterSeconds defaults to 1, times to 1. */
export type FaultRequest = ({ kind: 'rate_limit'; retryAfterSeconds?: number } | Exclude<LlmFault, { kind: 'rate_limit' }>) & {
  times?: number;
};

export function llmControl(url: string) {
  async function control(method: string, path: string, body?: object) {
    const res = await fetch(`${url}/_llm${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new Error(`${method} /_llm${path}: ${res.status} ${await res.text()}`);
    return res.status === 204 ? null : res.json();
  }
  return {
    fault: async (fault: FaultRequest) => void (await control('POST', '/faults', fault)),
    clearFaults: async () => void (await control('DELETE', '/faults')),
    reply: async (content: string, times = 1) => void (await control('POST', '/replies', { content, times })),
    clearReplies: async () => void (await control('DELETE', '/replies')),
    calls: async () => ((await control('GET', '/calls')) as { calls: LlmCall[] }).calls,
    clearCalls: async () => void (await control('DELETE', '/calls')),
  };
}

export const llmOf = (h: Harness) => llmControl(h.llmStandin.url);
