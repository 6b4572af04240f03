import type Router from '@koa/router';
import type { Context, Next } from 'koa';
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
