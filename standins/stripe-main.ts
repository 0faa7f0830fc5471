// Entry point: runs the local Stripe Connect stand-in on STRIPE_STANDIN_PORT, keeping
// its state in DATA_DIR so accounts survive restarts, and sending signed webhooks to
// the API's Stripe webhook route.
import path from 'node:path';
import { configFromProcess } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { startStripeStandin } from './stripe/index.js';
import { serveUntilSignalled } from './http.js';

const config = configFromProcess();
const logger = createLogger(config, 'stripe-standin');

// startStripeStandin creates the state file's directory (DATA_DIR) when missing.
const standin = await startStripeStandin({
  port: config.STRIPE_STANDIN_PORT,
  host: '127.0.0.1',
  stateFile: path.join(config.DATA_DIR, 'stripe-standin.json'),
  webhookUrl: `${config.PUBLIC_API_URL.replace(/\/+$/, '')}/api/v1/webhooks/stripe`,
  webhookSecret: config.STRIPE_WEBHOOK_SECRET,
  logger,
});
serveUntilSignalled('Stripe stand-in', standin, logger);
