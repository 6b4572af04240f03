import { timingSafeEqual, createHash } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import {
  RegistryError,
  principalFromState,
  type AccessDecision,
  type Authorize,
} from '@berth/koa';

/**
 * The host app's own sign-in: API keys it issued to its users. Registry clients send them as the
 * password of Basic credentials (`docker login -u alice` with the key as password); the app's JSON API
 * takes them the same way. Whoever it recognises lands on `ctx.state.user`, as koa-passport would put it;
 * a wrong key is remembered, for each part of the app to refuse in its own format.
 */
export function apiKeySignIn(keys: Readonly<Record<string, string>>): Middleware {
  const hashed = new Map(Object.entries(keys).map(([user, key]) => [user, sha256(key)]));
  return async (ctx, next) => {
    const credentials = basic(ctx);
    if (credentials) {
      const expected = hashed.get(credentials.user);
      if (expected && timingSafeEqual(expected, sha256(credentials.password))) ctx.state['user'] = { name: credentials.user };
      else ctx.state['signInFailed'] = true;
    }
    await next();
  };
}

/**
 * The app's own rules, handed to berth through the `authorize` seam: everyone may pull `shared/…`,
 * each user may do anything in their own namespace. Anonymous callers are asked to sign in (401 with
 * the challenge docker understands); signed-in users asking too much get 403.
 */
export const appRules: Authorize = (ctx, request): AccessDecision => {
  // Thrown the Koa way: berth answers it as the spec's UNAUTHORIZED, header kept.
  if (ctx.state['signInFailed']) ctx.throw(401, 'unknown API key', { headers: { 'WWW-Authenticate': CHALLENGE } });
  const principal = principalFromState(ctx);
  const own = principal.kind === 'user' ? `${principal.name.toLowerCase()}/` : undefined;
  if (principal.kind === 'anonymous' && request.scopes.length === 0) throw signInFirst();
  const granted = request.scopes.flatMap((scope) => {
    if (scope.type !== 'repository') return [];
    if (own !== undefined && scope.name.startsWith(own)) return [scope];
    if (scope.name.startsWith('shared/')) return [{ ...scope, actions: scope.actions.filter((action) => action === 'pull') }];
    return [];
  });
  return {
    principal,
    granted,
    refuse: () => (principal.kind === 'anonymous' ? signInFirst() : new RegistryError('DENIED')),
  };
};

const CHALLENGE = 'Basic realm="example"';

function signInFirst(): RegistryError {
  return new RegistryError('UNAUTHORIZED', undefined, { headers: { 'WWW-Authenticate': CHALLENGE } });
}

function basic(ctx: Context): { user: string; password: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(ctx.get('Authorization'));
  if (!match) return undefined;
  const text = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
