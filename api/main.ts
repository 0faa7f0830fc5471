// API process: wires dependencies, listens, and closes cleanly on SIGINT/SIGTERM.
import { createDb } from '../db/client.js';
import { configFromProcess } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { createStripeClient } from '../integrations/stripe.js';
import { lazyTemporalClient } from '../lib/temporal.js';
import { buildApp } from './app.js';

const config = configFromProcess();
const logger = createLogger(config, 'api');
const { db, close: closeDb } = createDb(config.DATABASE_URL);
// Lazy: the API serves what needs only Postgres while Temporal is down, and /ready says so.
const temporal = lazyTemporalClient(config);
const app = await buildApp({ config, db, temporal, stripe: createStripeClient(config), logger });

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (closing) return;
    closing = true;
    await app.close();
    await temporal.connection.close();
    await closeDb();
    process.exit(0);
  });
}

await app.listen({ host: config.API_HOST, port: config.API_PORT });
