import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process; the API serves it at /metrics, a worker process beside the SDK's metrics. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return { registry, httpDuration, domain: createDomainMetrics(registry) };
}

/** The business's own counters (SPEC §8, prefix `ofm_`), with bounded labels only: never a user id. */
export function createDomainMetrics(registry: Registry) {
  const registers = [registry];
  return {
    llmCostCents: new Counter({
      name: 'ofm_llm_cost_cents_total',
      help: 'LLM spend in cents (the provider’s reported usage at the configured prices), by feature and model',
      labelNames: ['feature', 'model'] as const,
      registers,
    }),
    llmTokens: new Counter({
      name: 'ofm_llm_tokens_total',
      help: 'LLM tokens billed, by feature, model and kind (prompt or completion)',
      labelNames: ['feature', 'model', 'kind'] as const,
      registers,
    }),
    llmBudgetRefusals: new Counter({
      name: 'ofm_llm_budget_refusals_total',
      help: 'LLM calls refused because they would pass a creator’s daily or monthly cap, by feature and model',
      labelNames: ['feature', 'model'] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
export type DomainMetrics = ReturnType<typeof createDomainMetrics>;
