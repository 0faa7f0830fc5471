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

const config = configFromProcess();
const logger = createLogger(config, 'worker');

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
    // Prometheus metrics of the SDK (task latencies, slots, polls) for this worker process.
    metrics: { prometheus: { bindAddress: `127.0.0.1:${config.WORKER_METRICS_PORT}` } },
  },
});

const areas = config.WORKER_TASK_QUEUES ?? ALL_AREAS;
// One connection per activity slot (see ACTIVITY_SLOTS); only a send batch's parallel per-fan writes may queue for one.
const { db, close: closeDb } = createDb(config.DATABASE_URL, { max: workerDbPoolSize(areas) });
const connection = await untilConnected('Temporal', () => NativeConnection.connect({ address: config.TEMPORAL_ADDRESS }), logger);
const client = lazyTemporalClient(config);
// The process that serves the maintenance queue keeps its schedules in place.
if (areas.includes('maintenance')) await ensureMaintenanceSchedules(client, config);

const workers = await createWorkers(
  {
    connection,
    client,
    config,
    db,
    email: createSesEmailSender(config),
    stripe: createStripeClient(config),
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
logger.info('worker stopped');
