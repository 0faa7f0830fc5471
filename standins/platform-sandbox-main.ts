// Entry point: runs the local fan-platform sandbox on PLATFORM_SANDBOX_PORT for `npm run dev`.
// Fans reply and buy now and then, so the inbox and revenue views have something to show.
// State is in memory only: a restart forgets accounts, deliveries and blocks.
import { configFromProcess } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { startPlatformSandbox } from './platform-sandbox/index.js';
import { serveUntilSignalled } from './http.js';

const config = configFromProcess();
const logger = createLogger(config, 'platform-sandbox');

const sandbox = await startPlatformSandbox({
  port: config.PLATFORM_SANDBOX_PORT,
  host: '127.0.0.1',
  replyProbability: 0.3,
  purchaseProbability: 0.2,
  logger,
});
serveUntilSignalled('platform sandbox', sandbox, logger);
