import type { Context } from 'koa';
import {
  ANONYMOUS,
  RegistryError,
  isRegistryError,
  userPrincipal,
  type Principal,
  type RegistryOperation,
  type RepositoryAction,
  type Scope,
} from '@berth/core';
import { covers, missingScopes, operationScopes } from '@berth/core/internal';

/** What a request asks of the `authorize` hook. */
export interface AccessRequest {
  /**
   * Every scope the request needs or may use, as a challenge names them: empty for `GET /v2/` (who is
   * calling?), several for a mount (push on the target, pull on `from`) or a catalog page.
   */
  scopes: Scope[];
  /** The first scope's repository and actions, for hooks written against the single-repository shape. */
  repository?: string;
  /** The first scope's actions (empty when the request names no repository). */
  actions: RepositoryAction[];
}

/** A hook's full answer: who is calling, what of the request's scopes they may do, and how to refuse the rest. */
export interface AccessDecision {
  /** Who is calling (a signed-in user, or anonymous), remembered on `ctx.state.principal`. */
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
  allows(scope: Scope): boolean;
  /** Throws the hook's refusal unless the operation's first scope (the one it cannot do without) is granted. */
  require(): void;
}

/** The access seam as routes use it. */
export interface AccessGate {
  /** Asks the hook about an operation, and remembers the principal on `ctx.state.principal`. */
  operation(ctx: Context, operation: RegistryOperation): Promise<RequestAccess>;
  /** The same, refusing the request unless the operation's first scope is granted. */
  required(ctx: Context, operation: RegistryOperation): Promise<RequestAccess>;
  /**
   * Which of `scopes` the caller has, when none of them is needed for the request to go on (candidates
   * for an automatic mount, a page of the catalog): a refusal withholds the scopes it was about, never
   * the request.
   */
  granted(ctx: Context, scopes: Scope[]): Promise<Scope[]>;
}

export function accessGate(authorize: Authorize): AccessGate {
  /**
   * The hook's answer about `scopes`. `judgedFirstOnly` marks a hook that allowed by returning nothing:
   * written for one repository at a time, it judged the first scope's repository and actions alone.
   */
  const decide = async (ctx: Context, scopes: Scope[]): Promise<AccessDecision & { judgedFirstOnly: boolean }> => {
    const answer = await authorize(ctx, accessRequest(scopes));
    const principal = principalFromState(ctx);
    if (answer === undefined) return { principal, granted: scopes.slice(0, 1), judgedFirstOnly: scopes.length > 1 };
    if (Array.isArray(answer)) return { principal, granted: answer, judgedFirstOnly: false };
    return { ...answer, judgedFirstOnly: false };
  };
  /** Asks about each scope on its own; a refusal withholds only that scope. */
  const decideEach = async (ctx: Context, scopes: Scope[]): Promise<Scope[]> => {
    const granted: Scope[] = [];
    for (const scope of scopes) {
      const answer = await decide(ctx, [scope]).catch((error: unknown) => {
        if (isRefusal(error)) return undefined;
        throw error;
      });
      if (answer) granted.push(...answer.granted);
    }
    return granted;
  };

  const gate: AccessGate = {
    async operation(ctx, operation) {
      const scopes = operationScopes(operation);
      const decision = await decide(ctx, scopes);
      const granted = decision.judgedFirstOnly
        ? [...decision.granted, ...(await decideEach(ctx, scopes.slice(1)))]
        : decision.granted;
      ctx.state['principal'] = decision.principal;
      const refuse = decision.refuse ?? defaultRefusal(decision.principal);
      const first = scopes[0];
      return {
        principal: decision.principal,
        allows: (scope) => covers(granted, scope),
        require: () => {
          if (first !== undefined && missingScopes(granted, [first]).length > 0) throw refuse(scopes);
        },
      };
    },
    async required(ctx, operation) {
      const access = await gate.operation(ctx, operation);
      access.require();
      return access;
    },
    async granted(ctx, scopes) {
      if (scopes.length === 0) return [];
      const decision = await decide(ctx, scopes).catch((error: unknown) => {
        if (isRefusal(error)) return undefined;
        throw error;
      });
      // Refused as a whole by a hook that judges one repository at a time: ask about each on its own.
      if (decision === undefined) return decideEach(ctx, scopes);
      if (decision.judgedFirstOnly) return [...decision.granted, ...(await decideEach(ctx, scopes.slice(1)))];
      return decision.granted;
    },
  };
  return gate;
}

function accessRequest(scopes: Scope[]): AccessRequest {
  const first = scopes[0];
  return {
    scopes,
    ...(first?.type === 'repository' && { repository: first.name }),
    actions: first?.type === 'repository' ? (first.actions.filter((action) => action !== '*') as RepositoryAction[]) : [],
  };
}

/** A refusal, as opposed to a fault: a RegistryError or an http-errors style 4xx. */
export function isRefusal(error: unknown): boolean {
  const status = (error as { status?: unknown } | null)?.status;
  return isRegistryError(error) || (typeof status === 'number' && status >= 400 && status < 500);
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
