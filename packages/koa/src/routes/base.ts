import type Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import { RegistryError } from '@berth/core';
import type { RouteDeps } from '../context.js';
import { renderError } from '../errors.js';

export function registerBaseRoutes(router: Router, { access }: RouteDeps): void {
  // The version check every client starts with; with sign-in on, it is where clients learn the challenge.
  router.get('/v2', async (ctx) => {
    await access.operation(ctx, { kind: 'version-check' });
    ctx.type = 'application/json';
    ctx.body = '{}';
  });
}

/**
 * Runs after the routes: the registry owns `/v2/`, so a path there that no route knows is answered in
 * the registry's format. A known path with another method is left to `allowedMethods()` (405).
 */
export async function unknownEndpoint(ctx: Context, next: Next): Promise<void> {
  const matched = (ctx as Context & { matched?: Array<{ methods: string[] }> }).matched ?? [];
  if (matched.some((layer) => layer.methods.length > 0)) return next();
  renderError(ctx, new RegistryError('UNSUPPORTED', 'unknown registry endpoint', { status: 404 }));
}

/**
 * `allowedMethods()` in the registry's format: a known path asked with another method is a 405, and a
 * method the router does not know at all a 501, each with the `Allow` header and the spec's JSON error
 * body (UNSUPPORTED); @koa/router's own answer is its status text as a text body.
 */
export function registryAllowedMethods(router: Router): Middleware {
  // The router's refusals, told apart from the errors of the middleware downstream of it.
  const refusals = new WeakSet<object>();
  const refusal = (status: number) => () => {
    const error = new RegistryError('UNSUPPORTED', undefined, { status });
    refusals.add(error);
    return error;
  };
  const allowedMethods = router.allowedMethods({ throw: true, methodNotAllowed: refusal(405), notImplemented: refusal(501) }) as unknown as Middleware;
  return async (ctx, next) => {
    try {
      await allowedMethods(ctx, next);
    } catch (error) {
      if (!refusals.has(error as object)) throw error;
      const allow = allowedOn(ctx);
      const status = (error as RegistryError).status;
      const message = status === 501 ? `the registry does not implement ${ctx.method}` : `${ctx.method} is not allowed here (allowed: ${allow})`;
      renderError(ctx, new RegistryError('UNSUPPORTED', message, { status, headers: { Allow: allow } }));
    }
  };
}

/** The methods of the routes the request's path matched, as @koa/router lists them in `Allow`. */
function allowedOn(ctx: Context): string {
  const matched = (ctx as Context & { matched?: Array<{ methods: string[] }> }).matched ?? [];
  return [...new Set(matched.flatMap((layer) => layer.methods))].join(', ');
}
