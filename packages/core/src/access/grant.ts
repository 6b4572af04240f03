import { sameResource, type Scope, type ScopeAction } from './scope.js';

/** True when `granted` holds `action` on the resource of `needed` (`*` grants every action). */
export function allowsAction(granted: readonly Scope[], needed: Scope, action: ScopeAction): boolean {
  return granted.some(
    (scope) => sameResource(scope, needed) && (scope.actions.includes('*') || scope.actions.includes(action)),
  );
}

/** True when every action of `needed` is granted. */
export function covers(granted: readonly Scope[], needed: Scope): boolean {
  return needed.actions.every((action) => allowsAction(granted, needed, action));
}

/** The scopes of `needed` that `granted` does not cover (whole scopes, as a challenge names them). */
export function missingScopes(granted: readonly Scope[], needed: readonly Scope[]): Scope[] {
  return needed.filter((scope) => !covers(granted, scope));
}

/**
 * `requested` narrowed to what `granted` allows: each requested scope keeps only its granted actions,
 * and goes when none is left. What a token service issues, and what an access check returns.
 */
export function intersectScopes(requested: readonly Scope[], granted: readonly Scope[]): Scope[] {
  const result: Scope[] = [];
  for (const scope of requested) {
    const actions = grantedActions(granted, scope);
    if (actions.length > 0) result.push({ ...scope, actions });
  }
  return result;
}

/** The actions of `scope` that `granted` allows; `*` asked but not wholly granted yields the single actions that are. */
function grantedActions(granted: readonly Scope[], scope: Scope): ScopeAction[] {
  if (scope.actions.includes('*')) {
    if (allowsAction(granted, scope, '*')) return ['*'];
    return SINGLE_ACTIONS.filter((action) => allowsAction(granted, scope, action));
  }
  return scope.actions.filter((action) => allowsAction(granted, scope, action));
}

const SINGLE_ACTIONS: ScopeAction[] = ['pull', 'push', 'delete'];
