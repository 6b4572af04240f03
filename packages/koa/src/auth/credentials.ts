import type { Context } from 'koa';
import { ANONYMOUS, RegistryError, userPrincipal, type Principal } from '@berth/core';
import type { Htpasswd, SignInLimiter } from '@berth/auth';

/**
 * User name and password of an `Authorization: Basic` header; undefined when there is none, and
 * `malformed` when it says Basic but does not parse (wrong credentials, never anonymous).
 */
export function basicCredentials(ctx: Context): { user: string; password: string } | 'malformed' | undefined {
  const header = ctx.get('Authorization');
  if (!/^Basic(?:\s|$)/i.test(header)) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (!match) return 'malformed';
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  // skopeo and podman without credentials answer a Basic challenge with an empty name and password: nobody.
  if (decoded === ':') return undefined;
  const colon = decoded.indexOf(':');
  // A password may hold colons; a user name may not.
  return colon < 0 ? { user: decoded, password: '' } : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export interface SignIn {
  htpasswd: Htpasswd;
  limiter: SignInLimiter;
  /** The 401 for wrong credentials (with the challenge of the mode). */
  unauthorized: () => RegistryError;
}

/**
 * The principal of a request's Basic credentials: anonymous without them, the user when the password
 * is right. Wrong credentials are refused (never treated as anonymous: `docker login` with a wrong
 * password must fail), and an account that failed too often from this address is told to wait.
 */
export async function signInWithBasic(ctx: Context, signIn: SignIn): Promise<Principal> {
  const credentials = basicCredentials(ctx);
  if (credentials === undefined) return ANONYMOUS;
  if (credentials === 'malformed') throw signIn.unauthorized();
  return signInWithPassword(ctx, credentials, signIn);
}

/** The user whose password this is; anything else is refused, and counted against the account and address. */
export async function signInWithPassword(
  ctx: Context,
  { user, password }: { user: string; password: string },
  { htpasswd, limiter, unauthorized }: SignIn,
): Promise<Principal> {
  const address = ctx.ip;
  const wait = limiter.retryAfter(user, address);
  if (wait !== undefined) {
    throw new RegistryError('TOOMANYREQUESTS', 'too many failed sign-ins: try again later', {
      headers: { 'Retry-After': String(wait) },
    });
  }
  if (user === '' || !(await htpasswd.verify(user, password))) {
    limiter.failed(user, address);
    throw unauthorized();
  }
  limiter.succeeded(user, address);
  return userPrincipal(user);
}
