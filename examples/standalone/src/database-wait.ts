import type { Logger } from 'pino';
import { isConnectionFailure } from '@berth/storage-postgres';
import { formatDuration } from './config/duration.js';

const FIRST_DELAY_MS = 250;
const LONGEST_DELAY_MS = 5_000;

export interface DatabaseWaitOptions {
  /** How long to keep trying; 0 tries once. */
  waitMs: number;
  logger: Logger;
  /** `host:port/database`: never the URL, which may hold a password. */
  where: string;
}

/**
 * Opens the PostgreSQL store, retrying while the server cannot be reached (not started yet, restarting,
 * the network not up): waits that double from 250 ms up to 5 s, each logged at warn, until `waitMs` has
 * passed. Then one error that says what to do. Anything else (a wrong password, a missing permission)
 * fails at once: waiting would not fix it.
 */
export async function openWhenReachable<T>(open: () => Promise<T>, { waitMs, logger, where }: DatabaseWaitOptions): Promise<T> {
  const deadline = Date.now() + waitMs;
  let delay = FIRST_DELAY_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await open();
    } catch (error) {
      if (!isConnectionFailure(error)) throw error;
      const reason = describe(error);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `PostgreSQL at ${where} is unreachable (${reason}) after ${formatDuration(waitMs)} of retries: start it or check --database (BERTH_DATABASE), or wait longer with --database-wait`,
        );
      }
      const retryInMs = Math.min(delay, left);
      logger.warn({ database: where, attempt, reason, retryInMs }, 'PostgreSQL is unreachable; retrying');
      await new Promise((done) => setTimeout(done, retryInMs));
      delay = Math.min(delay * 2, LONGEST_DELAY_MS);
    }
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  const errors = (error as { errors?: unknown } | null)?.errors;
  if (Array.isArray(errors) && errors.length > 0) return describe(errors[0]);
  return error instanceof Error ? error.message : String(error);
}
