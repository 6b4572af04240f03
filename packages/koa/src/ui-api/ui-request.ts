import type { Context } from 'koa';

/** Requests of the web UI's API, so an access hook can tell them from registry clients' (see tokenAuth). */
const uiRequests = new WeakSet<Context>();

export function markUiRequest(ctx: Context): void {
  uiRequests.add(ctx);
}

export function isUiRequest(ctx: Context): boolean {
  return uiRequests.has(ctx);
}
