import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger };

/** Structured JSON logs; every line names the process (`api`, `worker`, ...). */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, name: string): Logger {
  return pino({
    name,
    level: config.LOG_LEVEL,
    redact: {
      paths: ['req.headers.authorization', '*.password', '*.token', '*.refreshToken', '*.accessToken'],
      censor: '[redacted]',
    },
  });
}
