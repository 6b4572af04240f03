import type { Context } from 'koa';

/** Where `registry.callback()` reports the errors of its requests. A pino or bunyan logger fits as it is. */
export interface ErrorLog {
  /** Logs one failing request: `{ err, method, url }` and a message. */
  error(fields: object, message: string): void;
}

/** Options of `registry.callback()`. */
export interface CallbackOptions {
  /** Gets one line per failing request (`{ err, method, url }`). Default: `consoleErrorLog`, on stderr. */
  log?: ErrorLog;
}

/** The default ErrorLog: the message, the request and the error's stack on stderr. */
export const consoleErrorLog: ErrorLog = {
  error(fields, message) {
    const { err, ...request } = fields as { err?: unknown };
    console.error(`berth: ${message}`, request, err);
  },
};

/**
 * A Koa 'error' listener that hands every reported error to `log`, except a client that went away
 * (its socket's errors are no fault of the registry's). Koa's own default prints to stderr without a
 * way to route it; `registry.callback()` uses this instead, and a host app can too.
 */
export function logRequestErrors(log: ErrorLog): (error: unknown, ctx?: Context) => void {
  return (error, ctx) => {
    if (ctx !== undefined && isClientDisconnect(error, ctx)) return;
    log.error({ err: error, ...(ctx && { method: ctx.method, url: ctx.url }) }, 'registry request failed');
  };
}

/** Socket errors that mean the peer went away. */
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * Koa reports the errors of a request's socket too: the HTTP parser's when the client closed it halfway
 * through a request (HPE_INVALID_EOF_STATE, or any HPE_ code: what the client sent), a reset, a broken pipe.
 */
export function isClientDisconnect(error: unknown, ctx: Context): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  if (code.startsWith('HPE_')) return true;
  const socketClosed = ctx.req.socket?.destroyed === true || ctx.req.destroyed || ctx.res.destroyed;
  return CONNECTION_LOST.has(code) && !ctx.res.writableFinished && socketClosed;
}
