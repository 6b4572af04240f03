import type { Context } from 'koa';
import { ANONYMOUS, userPrincipal, type AccessRule, type Scope } from '@berth/core';
import { compileAccessRules, intersectScopes } from '@berth/core/internal';
import { TokenError, createTokenVerifier, type TrustedKeys } from '@berth/auth';
import type { Authorize } from '../access-control.js';
import { bearerChallenge, unauthorized } from './challenge.js';
import type { UiSignIn } from './password-sign-in.js';
import { AnonymousTokens } from './anonymous-tokens.js';
import { isUiRequest } from '../ui-api/ui-request.js';

/** Options of {@link tokenAuth}. */
export interface TokenAuthOptions {
  /** The token service's `iss`. */
  issuer: string;
  /** The service name: tokens must have it as `aud`; clients send it to the realm. */
  service: string;
  /** Keys tokens may be signed with (`loadTrustedKeys(file)`: certificates, public keys or a JWKS). */
  keys: TrustedKeys;
  /** Where clients get tokens (the challenge's realm): a URL, or one made per request. */
  realm: string | ((ctx: Context) => string);
  /** Rules that narrow what tokens grant (never widen). */
  access?: readonly AccessRule[];
  /** Clock skew allowed on `exp`, `nbf` and `iat`, in seconds. Default 60. */
  leewaySeconds?: number;
  /**
   * How the web UI signs users in: the built-in token service's `signIn` (its users and rules). Default:
   * no sign-in, "signed in by an external token service" (the UI is read-only for anonymous content).
   */
  signIn?: UiSignIn;
}

/**
 * Bearer tokens from a token service (the Docker token specification), checked as a resource server:
 * no token, 401 with the challenge; an invalid or expired one, 401 `error="invalid_token"`; one that
 * does not grant what the request needs, 401 `error="insufficient_scope"` naming every scope it needs
 * (clients fetch a new token only on a 401).
 */
export function tokenAuth(options: TokenAuthOptions): Authorize & { readonly signIn: UiSignIn } {
  const verifier = createTokenVerifier({
    issuer: options.issuer,
    service: options.service,
    keys: options.keys,
    ...(options.leewaySeconds !== undefined && { leewaySeconds: options.leewaySeconds }),
  });
  const policy = options.access && compileAccessRules(options.access);
  const anonymousTokens = new AnonymousTokens();
  const realmOf = typeof options.realm === 'string' ? () => options.realm as string : options.realm;
  const authorize: Authorize = async (ctx, request) => {
    const challenge = (scopes: readonly Scope[], error?: 'invalid_token' | 'insufficient_scope', message?: string) =>
      unauthorized(bearerChallenge(realmOf(ctx), options.service, scopes, error), message);
    // The web UI's visitors carry no token: they see what the token service gives anyone (an anonymous token).
    const token =
      /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('Authorization'))?.[1] ??
      (isUiRequest(ctx) && ctx.get('Authorization') === '' ? await anonymousTokens.token(realmOf(ctx), options.service, request.scopes) : undefined);
    if (token === undefined) throw challenge(request.scopes);
    let verified;
    try {
      verified = await verifier.verify(token);
    } catch (error) {
      // The reason (expired, wrong audience, untrusted key) is safe to show and saves an operator a guess.
      if (error instanceof TokenError) throw challenge(request.scopes, 'invalid_token', error.message);
      throw error;
    }
    const principal = verified.subject === '' ? ANONYMOUS : userPrincipal(verified.subject);
    let granted = intersectScopes(request.scopes, verified.access);
    if (policy) granted = intersectScopes(granted, policy.grant(principal, granted));
    return { principal, granted, refuse: (needed) => challenge(needed, 'insufficient_scope') };
  };
  return Object.assign(authorize, { signIn: options.signIn ?? { unavailable: 'signed in by an external token service' } });
}
