import { pino, type Logger } from 'pino';
import { prettyLogStream } from './pretty-log.js';

/** Field names whose values never reach a log line, wherever a caller puts them. */
const SECRET_FIELDS = ['authorization', 'password', 'token', 'access_token', 'refresh_token'];

/**
 * The one logger of the process: JSON lines on stdout (start-up, requests, shutdown), or a short
 * human form when `format` is pretty (or auto and stdout is a terminal).
 */
export function createLogger(level: string, format: 'json' | 'pretty' | 'auto'): Logger {
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  const options = {
    level,
    redact: { paths: [...SECRET_FIELDS, ...SECRET_FIELDS.map((field) => `*.${field}`)], censor: '[redacted]' },
  };
  return pretty ? pino(options, prettyLogStream(process.stdout)) : pino(options);
}
