// A worker process's one Prometheus endpoint (WORKER_METRICS_PORT, GET /metrics): the Temporal
// SDK's metrics (task latencies, slots, polls), exported by its runtime on a private loopback port,
// followed by this process's own prom-client registry (Node process metrics and the domain
// counters of lib/metrics.ts). The two never share a name: the SDK's all start with `temporal_`.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** A free loopback port for the SDK's exporter (the runtime wants a fixed address before it starts). */
export async function freeLoopbackPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export async function serveWorkerMetrics(options: {
  port: number;
  host?: string;
  registry: Registry;
  sdkMetricsPort: number;
}): Promise<Server> {
  const { registry, sdkMetricsPort } = options;
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?', 1)[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    Promise.all([
      fetch(`http://127.0.0.1:${sdkMetricsPort}/metrics`, { signal: AbortSignal.timeout(5_000) })
        .then((r) => r.text())
        // The endpoint still answers with this process's own metrics when the SDK's exporter does not.
        .catch(() => ''),
      registry.metrics(),
    ]).then(
      ([sdk, own]) => {
        res.writeHead(200, { 'content-type': registry.contentType }).end(`${sdk.trimEnd()}\n${own}`);
      },
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  return server;
}
