import type { Context } from 'koa';
import {
  ANONYMOUS,
  RegistryError,
  covers,
  missingScopes,
  operationScopes,
  userPrincipal,
  type Principal,
  type RegistryOperation,
  type RepositoryAction,
  type Scope,
} from '@berth/core';

/** What a request asks of the `authorize` hook. */
export interface AccessRequest {
  /**
   * Every scope the request needs or may use, as a challenge names them: empty for `GET /v2/` (who is
   * calling?), several for a mount (push on the target, pull on `from`) or a catalog page.
   */
  scopes: Scope[];
  /** The first scope's repository and actions, for hooks written against the single-repository shape. */
  repository?: string;
  actions: RepositoryAction[];
}

/** A hook's full answer: who is calling, what of the request's scopes they may do, and how to refuse the rest. */
export interface AccessDecision {
  principal: Principal;
  /** The request's scopes narrowed to the granted actions (what is missing is not granted). */
  granted: Scope[];
  /**
   * The error for a request that needs more than was granted; `needed` is every scope of the request,
   * so a challenge can name them all. Default: 401 UNAUTHORIZED for anonymous callers, else 403 DENIED.
   */
  refuse?: (needed: Scope[]) => Error;
}

/**
 * The one access seam. Runs before every operation with every scope the request needs, and returns
 * what is granted: an `AccessDecision`, the granted scopes, or nothing for "everything" (so hooks that
 * throw to refuse and return nothing to allow keep working). Throwing refuses the whole request (bad
 * credentials, too many attempts); errors thrown the Koa way (`ctx.throw(401, …, { headers })`) become
 * the spec's UNAUTHORIZED, DENIED or TOOMANYREQUESTS with their headers kept.
 */
export type Authorize = (
  ctx: Context,
  request: AccessRequest,
) => void | Scope[] | AccessDecision | Promise<void | Scope[] | AccessDecision>;

/** The access a request was given, as routes use it. */
export interface RequestAccess {
  readonly principal: Principal;
  /** Every scope the operation uses; the first is the one it cannot do without. */
  readonly scopes: readonly Scope[];
  allows(scope: Scope): boolean;
  /** Throws the hook's refusal unless `scope` (by default the operation's first scope) is granted. */
  require(scope?: Scope): void;
}

/** Asks the hook about an operation (or any list of scopes) and remembers the principal on `ctx.state`. */
export type AccessGate = (ctx: Context, operation: RegistryOperation | { scopes: Scope[] }) => Promise<RequestAccess>;

export function accessGate(authorize: Authorize): AccessGate {
  return async (ctx, operation) => {
    const scopes = 'scopes' in operation ? operation.scopes : operationScopes(operation);
    const first = scopes[0];
    const request: AccessRequest = {
      scopes,
      ...(first?.type === 'repository' && { repository: first.name }),
      actions: first?.type === 'repository' ? (first.actions.filter((action) => action !== '*') as RepositoryAction[]) : [],
    };
    const decision = normalise(ctx, scopes, await authorize(ctx, request));
    ctx.state['principal'] = decision.principal;
    const refuse = decision.refuse ?? defaultRefusal(decision.principal);
    return {
      principal: decision.principal,
      scopes,
      allows: (scope) => covers(decision.granted, scope),
      require: (scope = first) => {
        if (scope !== undefined && missingScopes(decision.granted, [scope]).length > 0) throw refuse(scopes);
      },
    };
  };
}

function normalise(ctx: Context, scopes: Scope[], answer: void | Scope[] | AccessDecision): AccessDecision {
  if (answer === undefined) return { principal: principalFromState(ctx), granted: scopes };
  if (Array.isArray(answer)) return { principal: principalFromState(ctx), granted: answer };
  return answer;
}

/**
 * The principal a host's own authentication left on `ctx.state.user` (koa-passport, koa-jwt): a string, or
 * an object with a `name`, `username` or `id`; anonymous otherwise.
 */
export function principalFromState(ctx: Context): Principal {
  const user: unknown = ctx.state['user'];
  if (typeof user === 'string' && user !== '') return userPrincipal(user);
  if (typeof user === 'object' && user !== null) {
    for (const key of ['name', 'username', 'id']) {
      const value = (user as Record<string, unknown>)[key];
      if ((typeof value === 'string' && value !== '') || typeof value === 'number') return userPrincipal(String(value));
    }
  }
  return ANONYMOUS;
}

function defaultRefusal(principal: Principal): (needed: Scope[]) => Error {
  return () =>
    principal.kind === 'anonymous'
      ? new RegistryError('UNAUTHORIZED')
      : new RegistryError('DENIED');
}
