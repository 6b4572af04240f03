import type { Context, Middleware } from 'koa';
import type { Logger } from 'pino';
import { isRegistryError, principalName, type Principal } from '@berth/core';
import { MissingBlobError, countReceivedBytes, isClientDisconnect, principalFromState, setRequestId } from '@berth/koa';

/** The status logged for a request whose client went away before it was answered (nginx's "client closed request"). */
const CLIENT_CLOSED_REQUEST = 499;

/** The stable message of the one error-level line per request refused because storage is full (alert on it). */
export const STORAGE_FULL_LOG_MESSAGE = 'registry storage is full';

/**
 * One structured line per request, written when the response has been sent (or the client went away):
 * method, url, status, bytes sent and `received` (body bytes that arrived), ms, the client's address
 * (`X-Forwarded-For` when the proxy is trusted), user agent, who (`user`: a name or `anonymous`), the
 * request id (also the `X-Request-Id` header) and the manifest negotiation's outcome when there was one.
 * A client that closed the connection before it was answered is logged here once, at info, with status
 * 499 and what it had sent: that is not a fault.
 */
export function requestLog(logger: Logger): Middleware {
  // The line's fields are the ones listed below, none of them a secret, so it skips the logger's redaction,
  // whose wildcard paths walk every field of every line (a quarter of a manifest GET's allocations).
  const lines = logger.child({}, { redact: [] });
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    // Every request gets the registry's id rules (a proxy's acceptable X-Request-Id kept), the token and health routes too.
    setRequestId(ctx);
    // Read now: once the client has gone, the socket no longer knows its address.
    const remote = ctx.ip;
    // Counted from here, before any body byte is parsed: the middleware runs when the headers are in.
    const received = countReceivedBytes(ctx.req);
    const finished = new Promise<void>((done) => ctx.res.once('close', done));
    try {
      await next();
    } finally {
      void finished.then(() => {
        const aborted = !ctx.res.writableFinished;
        // A client gone before any answer was sent: nothing of the registry's status ever reached it.
        const clientLeft = aborted && !ctx.res.headersSent;
        const declared = ctx.get('Content-Length');
        const line = {
          method: ctx.method,
          url: ctx.url,
          status: clientLeft ? CLIENT_CLOSED_REQUEST : ctx.status,
          bytes: ctx.res.getHeader('content-length') ?? null,
          received: received(),
          ...(clientLeft && declared !== '' && { expected: Number(declared) }),
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          aborted,
          remote,
          userAgent: ctx.get('User-Agent') || null,
          // Who, never how: no Authorization header, password or token is logged.
          user: principalName((ctx.state['principal'] as Principal | undefined) ?? principalFromState(ctx)),
          requestId: ctx.state['requestId'],
          ...(typeof ctx.state['negotiation'] === 'string' && { negotiation: ctx.state['negotiation'] }),
        };
        if (clientLeft) lines.info(line, 'client closed the connection before the response');
        else lines.info(line);
      });
    }
  };
}

/**
 * The listener for the Koa app's 'error' event: one error-level line per failing request, never one per
 * layer. A full storage gets a message of its own to alert on; a client that went away is no error
 * at all (its request line says so).
 */
export function logAppErrors(logger: Logger, dataDir: string): (error: unknown, ctx?: Context) => void {
  return (error, ctx) => {
    if (ctx !== undefined && isClientDisconnect(error, ctx)) return;
    const request = ctx === undefined ? {} : { method: ctx.method, url: ctx.url };
    if (isRegistryError(error) && error.status === 507) {
      // The cause says which store and why (ENOSPC, EDQUOT, SQLITE_FULL); the client saw only the message.
      logger.error({ err: error.cause ?? error, status: 507, dataDir, ...request }, STORAGE_FULL_LOG_MESSAGE);
      return;
    }
    if (error instanceof MissingBlobError) {
      // Not the client's doing: the metadata names a blob the blob store lost (a deleted file, a bad restore).
      logger.error({ err: error, dataDir, ...request }, 'a blob the metadata links is missing from the blob store; push the image again or restore the blob');
      return;
    }
    logger.error({ err: error, ...request }, 'request failed');
  };
}
