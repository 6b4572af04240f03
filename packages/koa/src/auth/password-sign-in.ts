import type { Context } from 'koa';
import type { Principal, Scope } from '@berth/core';
import type { AccessPolicy } from '@berth/core/internal';
import type { Htpasswd } from '@berth/auth';
import { signInWithPassword, type SignIn } from './credentials.js';

/**
 * Sign-in with a user name and password for the web UI's sessions, in one of the built-in modes
 * (`basicAuth`, `tokenService`): the same users, sign-in limiter and access rules as the mode itself.
 */
export interface PasswordSignIn {
  /** The user whose password this is; 401 UNAUTHORIZED otherwise, 429 TOOMANYREQUESTS after too many failures. */
  signIn(ctx: Context, user: string, password: string): Promise<Principal>;
  /** A value that changes when the user's password changes or the user is removed (then undefined): sessions end then. */
  credentialVersion(user: string): Promise<string | undefined>;
  /** What the mode's access rules grant the principal of `scopes`. */
  grant(principal: Principal, scopes: Scope[]): Scope[];
}

/** Why the web UI offers no sign-in (an external token service signs users in; a host's own hook decides). */
export interface SignInUnavailable {
  /** Shown to the user, for example "signed in by an external token service". */
  unavailable: string;
}

/** What a ready-made access hook tells the web UI about signing in: how, or why not. */
export type UiSignIn = PasswordSignIn | SignInUnavailable;

export function passwordSignIn(signIn: SignIn & { htpasswd: Htpasswd }, policy: AccessPolicy): PasswordSignIn {
  return {
    signIn: (ctx, user, password) => signInWithPassword(ctx, { user, password }, signIn),
    credentialVersion: (user) => signIn.htpasswd.credentialVersion(user),
    grant: (principal, scopes) => policy.grant(principal, scopes),
  };
}
