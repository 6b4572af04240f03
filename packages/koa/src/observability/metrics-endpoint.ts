import type { Context, Middleware, Next } from 'koa';
import type { Registry } from 'prom-client';

/** Options of `registry.metricsMiddleware()`. */
export interface MetricsEndpointOptions {
  /** Default `/metrics`. */
  path?: string;
}

/** `GET /metrics` (and HEAD) in the Prometheus text format; everything else goes on to the app. */
export function metricsEndpoint(register: Registry, options: MetricsEndpointOptions = {}): Middleware {
  const path = options.path ?? '/metrics';
  return async (ctx: Context, next: Next) => {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || ctx.path !== path) return next();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = register.contentType;
    ctx.body = await register.metrics();
  };
}
