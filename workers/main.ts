// Worker process: wires dependencies and runs a Worker per task queue it serves (WORKER_TASK_QUEUES,
// default all) until SIGINT/SIGTERM.
import { NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { createDb } from '../db/client.js';
import { configFromProcess } from '../lib/config.js';
import { createSesEmailSender } from '../integrations/email/sender.js';
import { createLogger } from '../lib/logger.js';
import { createStripeClient } from '../integrations/stripe.js';
import { lazyTemporalClient, untilConnected } from '../lib/temporal.js';
import { ALL_AREAS, createWorkers, workerDbPoolSize } from './create-workers.js';
import { ensureMaintenanceSchedules } from '../processes/maintenance.js';
import { createPayoutProcess } from '../processes/payouts.js';
import { createMetrics } from '../lib/metrics.js';
import { freeLoopbackPort, serveWorkerMetrics } from './metrics-endpoint.js';

const config = configFromProcess();
const logger = createLogger(config, 'worker');

const sdkMetricsPort = await freeLoopbackPort();
Runtime.install({
  logger: {
    log: (level, message, meta) =>
      logger[level === 'TRACE' ? 'trace' : (level.toLowerCase() as 'debug' | 'info' | 'warn' | 'error')]({ ...meta }, message),
    trace: (m, meta) => logger.trace({ ...meta }, m),
    debug: (m, meta) => logger.debug({ ...meta }, m),
    info: (m, meta) => logger.info({ ...meta }, m),
    warn: (m, meta) => logger.warn({ ...meta }, m),
    error: (m, meta) => logger.error({ ...meta }, m),
  },
  telemetryOptions: {
    logging: { filter: makeTelemetryFilterString({ core: 'WARN' }) },
    // The SDK's own metrics, served on WORKER_METRICS_PORT with this process's (workers/metrics-endpoint.ts).
    metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkMetricsPort}` } },
  },
});
const metrics = createMetrics();
const metricsServer = await serveWorkerMetrics({
  port: config.WORKER_METRICS_PORT,
  host: config.WORKER_METRICS_HOST,
  registry: metrics.registry,
  sdkMetricsPort,
});

const areas = config.WORKER_TASK_QUEUES ?? ALL_AREAS;
// One connection per activity slot (see ACTIVITY_SLOTS); only a send batch's parallel per-fan writes may queue for one.
const { db, close: closeDb } = createDb(config.DATABASE_URL, { max: workerDbPoolSize(areas) });
const connection = await untilConnected('Temporal', () => NativeConnection.connect({ address: config.TEMPORAL_ADDRESS }), logger);
const client = lazyTemporalClient(config);
// The process that serves the maintenance queue keeps its schedules in place.
if (areas.includes('maintenance')) await ensureMaintenanceSchedules(client, config);
if (areas.includes('money')) await createPayoutProcess(client, config).ensureSchedule();

const workers = await createWorkers(
  {
    connection,
    client,
    config,
    db,
    email: createSesEmailSender(config),
    stripe: createStripeClient(config),
    metrics: metrics.domain,
    workflowBundle: config.WORKFLOW_BUNDLE_PATH ? { codePath: config.WORKFLOW_BUNDLE_PATH } : undefined,
  },
  areas,
);
logger.info(
  { taskQueues: workers.map((w) => w.options.taskQueue), metrics: `http://127.0.0.1:${config.WORKER_METRICS_PORT}/metrics` },
  'worker started',
);

// Worker.run resolves after the SDK's default shutdown signals (SIGINT, SIGTERM) drain in-flight tasks.
await Promise.all(workers.map((w) => w.run()));
await client.connection.close();
await connection.close();
await closeDb();
metricsServer.close();
logger.info('worker stopped');
