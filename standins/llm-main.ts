// Entry point: runs the local LLM stand-in (OpenAI Chat Completions) on LLM_STANDIN_PORT for
// `npm run dev`, serving every model the price table knows. State is in memory only.
import { configFromProcess } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { startLlmStandin } from './llm/index.js';
import { serveUntilSignalled } from './http.js';

const config = configFromProcess();
const logger = createLogger(config, 'llm-standin');

const standin = await startLlmStandin({
  port: config.LLM_STANDIN_PORT,
  host: '127.0.0.1',
  models: Object.keys(config.LLM_PRICES),
  logger,
});
serveUntilSignalled('LLM stand-in', standin, logger);
