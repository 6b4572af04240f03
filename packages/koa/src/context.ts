import type { Context } from 'koa';
import type { RegistryService } from '@berth/registry';
import type { AccessGate } from './access-control.js';

/** What every route handler needs. */
export interface RouteDeps {
  service: RegistryService;
  access: AccessGate;
}

/**
 * Answers with no body at all, as distribution does for 201 and 202: left alone, Koa sends the status
 * text ("Created", "Accepted") as a text/plain body.
 */
export function emptyBody(ctx: Context): void {
  ctx.body = '';
  ctx.remove('Content-Type');
}

/** The repository name from the route: `*name` captures the slashes of `library/team/app`. */
export function repositoryParam(ctx: Context): string {
  const params = (ctx as Context & { params: Record<string, string | string[]> }).params;
  const name = params['name'];
  return Array.isArray(name) ? name.join('/') : (name ?? '');
}

export function param(ctx: Context, key: string): string {
  const params = (ctx as Context & { params: Record<string, string> }).params;
  return params[key] ?? '';
}

/** A single query parameter (the first, when repeated). */
export function queryParam(ctx: Context, key: string): string | undefined {
  const value = ctx.query[key];
  return Array.isArray(value) ? value[0] : value;
}
