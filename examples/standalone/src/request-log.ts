import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import type { Principal } from '@berth/core';

/** One structured line per request, written when the response has been sent (or the client went away). */
export function requestLog(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const finished = new Promise<void>((done) => ctx.res.once('close', done));
    try {
      await next();
    } finally {
      void finished.then(() => {
        logger.info({
          method: ctx.method,
          url: ctx.url,
          status: ctx.status,
          bytes: ctx.res.getHeader('content-length') ?? null,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          aborted: !ctx.res.writableFinished,
          // Who, never how: no Authorization header, password or token is logged.
          user: principalName(ctx.state['principal']),
        });
      });
    }
  };
}

function principalName(principal: Principal | undefined): string | null {
  return principal?.kind === 'user' ? principal.name : null;
}
