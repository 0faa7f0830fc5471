// A worker process's metrics endpoint serves the SDK's metrics and its own, and the LLM gateway
// counts cost, tokens and budget refusals there (SPEC §8 names, bounded labels).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setBudget } from '../../domain/llm-budget.js';
import { createLlmGateway, LlmRefusal } from '../../integrations/llm/gateway.js';
import { createDomainMetrics } from '../../lib/metrics.js';
import { freeLoopbackPort, serveWorkerMetrics } from '../../workers/metrics-endpoint.js';
import { type Harness, register, startHarness } from '../support/harness.js';

const listening = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
};
const scrape = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

describe('worker metrics endpoint', () => {
  it('serves the SDK exporter’s text followed by the process registry, and its own when the SDK’s is down', async () => {
    const sdk = createServer((_req, res) => res.end('# TYPE temporal_workflow_completed counter\ntemporal_workflow_completed 3\n'));
    const sdkPort = await listening(sdk);
    const registry = new Registry();
    createDomainMetrics(registry).llmBudgetRefusals.inc({ feature: 'reply_suggestion', model: 'm' });
    const port = await freeLoopbackPort();
    const server = await serveWorkerMetrics({ port, registry, sdkMetricsPort: sdkPort });
    try {
      const text = await scrape(port);
      expect(text).toMatch(/^temporal_workflow_completed 3$/m);
      expect(text).toMatch(/^ofm_llm_budget_refusals_total\{feature="reply_suggestion",model="m"\} 1$/m);
      await new Promise((resolve) => sdk.close(resolve));
      expect(await scrape(port)).toMatch(/^ofm_llm_budget_refusals_total/m);
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      server.close();
    }
  });
});

describe('LLM gateway metrics', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ workers: false });
  });
  afterAll(() => h?.close());

  it('counts cost in cents and tokens per feature and model on settle, and budget refusals', async () => {
    const registry = new Registry();
    const gateway = createLlmGateway({ db: h.db, config: h.config, metrics: createDomainMetrics(registry) });
    const { userId } = await register(h);
    const answer = await gateway.complete({
      creatorId: userId,
      stepKey: 'metrics-test:1',
      feature: 'reply_suggestion',
      messages: [{ role: 'user', content: 'hello there' }],
      maxTokens: 50,
    });
    const value = async (name: string, labels: Record<string, string>) =>
      (await registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
    const labels = { feature: 'reply_suggestion', model: h.config.LLM_MODEL };
    expect(await value('ofm_llm_cost_cents_total', labels)).toBeCloseTo(answer.costMicrocents / 1_000_000, 9);
    expect(await value('ofm_llm_tokens_total', { ...labels, kind: 'prompt' })).toBeGreaterThan(0);
    expect(await value('ofm_llm_tokens_total', { ...labels, kind: 'completion' })).toBeGreaterThan(0);
    // A stored answer is not counted again.
    await gateway.complete({ creatorId: userId, stepKey: 'metrics-test:1', feature: 'reply_suggestion', messages: [], maxTokens: 50 });
    expect(await value('ofm_llm_cost_cents_total', labels)).toBeCloseTo(answer.costMicrocents / 1_000_000, 9);

    await setBudget(h.db, userId, { dailyCapCents: 0, monthlyCapCents: 0 });
    await expect(
      gateway.complete({ creatorId: userId, stepKey: 'metrics-test:2', feature: 'reply_suggestion', messages: [], maxTokens: 50 }),
    ).rejects.toBeInstanceOf(LlmRefusal);
    expect(await value('ofm_llm_budget_refusals_total', labels)).toBe(1);
  });
});
