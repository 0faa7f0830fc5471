// SPEC §6 operations: liveness, readiness (database and Temporal) and Prometheus metrics.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'drizzle-orm';
import type { Registry } from 'prom-client';
import { Type } from 'typebox';
import type { RouteDeps } from '../app.js';

const READY_TIMEOUT_MS = 2000;

async function probe(check: () => Promise<unknown>): Promise<'ok' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'ok';
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

/** Registered at the root and under /api/v1; `registry` (root only) adds /metrics. */
export const healthRoutes: FastifyPluginAsyncTypebox<RouteDeps & { registry: Registry | null }> = async (
  app,
  { db, temporal, registry },
) => {
  app.get('/health', { schema: { tags: ['operations'], summary: 'The process is up' } }, async () => ({ status: 'ok' }));

  app.get(
    '/ready',
    {
      schema: {
        tags: ['operations'],
        summary: 'Database and Temporal are reachable (503 otherwise)',
        response: {
          '2xx': Type.Object({ status: Type.String(), checks: Type.Object({ database: Type.String(), temporal: Type.String() }) }),
          503: Type.Object({ status: Type.String(), checks: Type.Object({ database: Type.String(), temporal: Type.String() }) }),
        },
      },
    },
    async (_request, reply) => {
      const [database, temporalState] = await Promise.all([
        probe(() => db.execute(sql`select 1`)),
        probe(() => temporal.workflowService.getSystemInfo({})),
      ]);
      const ready = database === 'ok' && temporalState === 'ok';
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: { database, temporal: temporalState } });
    },
  );

  if (registry) {
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      return reply.type(registry.contentType).send(await registry.metrics());
    });
  }
};
