import Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import { ANONYMOUS, RegistryError } from '@berth/core';
import type { RegistryService } from '@berth/registry';
import { accessGate, type Authorize } from '../access-control.js';
import type { UiSignIn } from '../auth/password-sign-in.js';
import { registryErrors } from '../errors.js';
import { registerManifestRoutes } from './manifest-routes.js';
import { registerRepositoryRoutes } from './repository-routes.js';
import { registerSessionRoutes } from './session-routes.js';
import { registerTagRoutes } from './tag-routes.js';
import { UiSessions, type UiSessionOptions } from './ui-sessions.js';
import { markUiRequest } from './ui-request.js';

export interface UiApiOptions extends UiSessionOptions {
  service: RegistryService;
  /** The registry's access hook (undefined: everything is allowed). */
  authorize: Authorize | undefined;
  /** How users sign in, or why they cannot. */
  signIn: UiSignIn | undefined;
  /** Where the UI is mounted ('' or '/path'). */
  prefix: string;
}

/**
 * The web UI's JSON API under `{prefix}/api`: sessions, repositories, tags, manifests. Every read and delete
 * goes through the access seam /v2 uses; a request with a session is its user's, judged by the rules of the
 * sign-in mode, and any other request is judged by the hook itself (credentials it carries, an embedding
 * app's own principal, or anonymous).
 */
export function uiApi(options: UiApiOptions): Middleware {
  const { service, prefix } = options;
  const sessions = new UiSessions(options.signIn, service.options.metadata, `${prefix}/`, options);
  const hostAuthorize: Authorize = options.authorize ?? (() => undefined);
  const sessionAware: Authorize = (ctx, request) => {
    const { signIn } = sessions;
    if (!signIn) return hostAuthorize(ctx, request);
    const principal = sessions.principal(ctx);
    if (principal) return { principal, granted: signIn.grant(principal, request.scopes), refuse: () => new RegistryError('DENIED') };
    // Credentials on the request are the hook's to check; a visitor without any gets what the rules give anyone.
    if (ctx.get('Authorization') !== '') return hostAuthorize(ctx, request);
    return { principal: ANONYMOUS, granted: signIn.grant(ANONYMOUS, request.scopes), refuse: () => new RegistryError('UNAUTHORIZED') };
  };
  const deps = { service, access: accessGate(sessionAware), sessions };
  const router = new Router({ prefix: `${prefix}/api` });
  registerSessionRoutes(router, deps);
  registerRepositoryRoutes(router, deps);
  registerTagRoutes(router, deps);
  registerManifestRoutes(router, deps);
  const routes = router.routes() as unknown as Middleware;
  const apiPath = `${prefix}/api`;

  return async (ctx: Context, next: Next) => {
    if (ctx.path !== apiPath && !ctx.path.startsWith(`${apiPath}/`)) return next();
    markUiRequest(ctx);
    // Answers are per user and may hold a CSRF token: never cached.
    ctx.set('Cache-Control', 'no-store');
    await registryErrors(ctx, async () => {
      await sessions.load(ctx);
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') sessions.checkCsrf(ctx);
      await routes(ctx, async () => {
        // No route has this path and method: 405 when another method has the path, else 404.
        const matched = (ctx as Context & { matched?: Array<{ methods: string[] }> }).matched ?? [];
        const allow = [...new Set(matched.flatMap((layer) => layer.methods))];
        if (allow.length === 0) throw new RegistryError('UNSUPPORTED', 'unknown API endpoint', { status: 404 });
        throw new RegistryError('UNSUPPORTED', `${ctx.method} is not allowed here`, { status: 405, headers: { Allow: allow.join(', ') } });
      });
    });
    // A Basic challenge would make the browser open its own sign-in dialog over the page's form.
    ctx.remove('WWW-Authenticate');
    ctx.remove('Docker-Distribution-API-Version');
  };
}
