// Entry point: runs the local SES v2 stand-in on SES_STANDIN_PORT, keeping its
// mailbox in DATA_DIR so captured mail survives restarts.
import path from 'node:path';
import { configFromProcess } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { startSesStandin } from './ses.js';
import { serveUntilSignalled } from './http.js';

const config = configFromProcess();
const logger = createLogger(config, 'ses-standin');

// startSesStandin creates the store file's directory (DATA_DIR) when missing.
const standin = await startSesStandin({
  port: config.SES_STANDIN_PORT,
  host: '127.0.0.1',
  storeFile: path.join(config.DATA_DIR, 'mailbox.jsonl'),
  logger,
});
serveUntilSignalled('SES stand-in', standin, logger);
