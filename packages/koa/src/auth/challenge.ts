import type { Context } from 'koa';
import { RegistryError, type Scope } from '@berth/core';
import { formatScope } from '@berth/core/internal';

/** `realm="…"`-style parameter; quotes and backslashes escaped as RFC 9110 quoted-strings require. */
function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

export function basicChallenge(realm: string): string {
  return `Basic realm=${quoted(realm)}`;
}

/**
 * The Docker token specification's challenge: where to get a token, for which service, and every
 * scope the request needs in one `scope` parameter (space-separated), as distribution sends it.
 */
export function bearerChallenge(
  realm: string,
  service: string,
  scopes: readonly Scope[],
  error?: 'invalid_token' | 'insufficient_scope',
): string {
  const parts = [`realm=${quoted(realm)}`, `service=${quoted(service)}`];
  if (scopes.length > 0) parts.push(`scope=${quoted(scopes.map(formatScope).join(' '))}`);
  if (error !== undefined) parts.push(`error=${quoted(error)}`);
  return `Bearer ${parts.join(',')}`;
}

export function unauthorized(challenge: string, message?: string): RegistryError {
  return new RegistryError('UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': challenge } });
}

/**
 * The registry's outside address: the configured public URL, else the request's own scheme and host
 * (which honour `X-Forwarded-Proto`/`-Host` only when the app trusts its proxy, `app.proxy`).
 */
export function externalUrl(ctx: Context, publicUrl?: string): string {
  return (publicUrl ?? `${ctx.protocol}://${ctx.host}`).replace(/\/+$/, '');
}
