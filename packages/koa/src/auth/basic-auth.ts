import { RegistryError, type AccessRule } from '@berth/core';
import { DEFAULT_ACCESS_RULES, compileAccessRules } from '@berth/core/internal';
import { createSignInLimiter, type Htpasswd, type SignInLimiter } from '@berth/auth';
import type { Authorize } from '../access-control.js';
import { basicChallenge, unauthorized } from './challenge.js';
import { signInWithBasic } from './credentials.js';
import { passwordSignIn, type PasswordSignIn } from './password-sign-in.js';

/** Options of {@link basicAuth}. */
export interface BasicAuthOptions {
  /** The users (`openHtpasswd(path)` from `@berth/auth`; re-read when the file changes). */
  htpasswd: Htpasswd;
  /** Who may do what; default: every signed-in user everything, anonymous callers nothing. */
  access?: readonly AccessRule[];
  /** The realm of the `WWW-Authenticate: Basic` challenge. Default `berth`. */
  realm?: string;
  /** Failed sign-ins per account and address (share one with `tokenService` so both count). */
  limiter?: SignInLimiter;
}

/**
 * Sign-in with Basic credentials from an htpasswd file, and access rules. Anonymous callers who need
 * more than the rules give them get 401 with the Basic challenge (also at `GET /v2/`, where clients
 * learn it); signed-in users who may not do something get 403 DENIED.
 */
export function basicAuth(options: BasicAuthOptions): Authorize & { readonly signIn: PasswordSignIn } {
  const policy = compileAccessRules(options.access ?? DEFAULT_ACCESS_RULES);
  const challenge = basicChallenge(options.realm ?? 'berth');
  const signIn = {
    htpasswd: options.htpasswd,
    limiter: options.limiter ?? createSignInLimiter(),
    unauthorized: () => unauthorized(challenge),
  };
  const authorize: Authorize = async (ctx, request) => {
    const principal = await signInWithBasic(ctx, signIn);
    if (principal.kind === 'anonymous' && request.scopes.length === 0) throw signIn.unauthorized();
    return {
      principal,
      granted: policy.grant(principal, request.scopes),
      refuse: () => (principal.kind === 'anonymous' ? signIn.unauthorized() : new RegistryError('DENIED')),
    };
  };
  // The web UI's sign-in form (registry.ui()) uses the same users, limiter and rules.
  return Object.assign(authorize, { signIn: passwordSignIn(signIn, policy) });
}
