import type Router from '@koa/router';
import type { Context } from 'koa';
import { RegistryError } from '@berth/core';
import { readBoundedBody } from '@berth/registry/internal';
import { isRefusal } from '../access-control.js';
import type { UiRouteDeps } from './ui-context.js';

/** A sign-in form's JSON: a name and a password. */
const MAX_SIGN_IN_BYTES = 16 * 1024;

export function registerSessionRoutes(router: Router, { access, sessions }: UiRouteDeps): void {
  router.get('/session', async (ctx) => {
    const session = sessions.current(ctx);
    ctx.body = {
      user: session?.user ?? (await hostUser(ctx, access)),
      csrfToken: session?.csrfToken ?? null,
      signIn: sessions.signIn ? { available: true } : { available: false, reason: sessions.unavailableReason },
    };
  });

  router.post('/session', async (ctx) => {
    const { username, password } = await signInForm(ctx);
    ctx.body = await sessions.start(ctx, username, password);
  });

  router.delete('/session', (ctx) => {
    sessions.end(ctx);
    ctx.status = 204;
  });
}

/**
 * Who the request is without a session: credentials it carries, or the principal an embedding app's own
 * authentication hands the `authorize` hook. Null for anonymous callers (and when the hook refuses them).
 */
async function hostUser(ctx: Context, access: UiRouteDeps['access']): Promise<string | null> {
  try {
    const granted = await access.operation(ctx, { kind: 'version-check' });
    return granted.principal.kind === 'user' ? granted.principal.name : null;
  } catch (error) {
    if (isRefusal(error)) return null;
    throw error;
  }
}

/**
 * The sign-in body, JSON only: a cross-site form cannot send that Content-Type without the browser asking
 * first (which this API never allows), so nobody can sign a visitor in as someone else.
 */
async function signInForm(ctx: Context): Promise<{ username: string; password: string }> {
  if (!ctx.is('application/json')) throw new RegistryError('UNSUPPORTED', 'sign in with a JSON body { "username", "password" }', { status: 415 });
  let body: unknown = (ctx.request as { body?: unknown }).body;
  if (!ctx.req.readableEnded) {
    try {
      body = JSON.parse((await readBoundedBody(ctx.req, MAX_SIGN_IN_BYTES, 'sign-in request')).toString('utf8'));
    } catch (error) {
      if (error instanceof SyntaxError) body = undefined;
      else throw error;
    }
  }
  const { username, password } = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (typeof username !== 'string' || typeof password !== 'string') {
    throw new RegistryError('UNSUPPORTED', 'sign in with a JSON body { "username", "password" }', { status: 400 });
  }
  return { username, password };
}
