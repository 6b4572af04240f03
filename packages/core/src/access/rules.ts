import { principalName, type Principal } from './principal.js';
import { intersectScopes } from './grant.js';
import { CATALOG_SCOPE, sameResource, type RepositoryAction, type Scope, type ScopeAction } from './scope.js';

/**
 * One entry of an access file: the users it applies to may do `actions` on the repositories whose
 * names match one of `repositories`. A request is allowed when the union of the matching rules grants
 * every action it needs.
 */
export interface AccessRule {
  /** Name patterns: `*` is one path segment (or part of one), `**` any number of segments (at least one), `${user}` the signed-in name in lower case. */
  repositories: readonly string[];
  /** User names, `*` (any signed-in user) or `anonymous` (no credentials). */
  users: readonly string[];
  /** What the matching users may do: `pull`, `push`, `delete`, or `*` for all three. */
  actions: readonly (RepositoryAction | '*')[];
}

/** Names a user may not have: they mean something else in `users`. */
export const RESERVED_USER_NAMES: readonly string[] = ['anonymous', '*'];

/** Without an access file: every signed-in user may do everything, anonymous callers nothing. */
export const DEFAULT_ACCESS_RULES: readonly AccessRule[] = Object.freeze([
  Object.freeze({ repositories: ['**'], users: ['*'], actions: ['*'] as const }),
]);

/** Compiled rules: answer grants for a principal without re-parsing patterns per request. */
export interface AccessPolicy {
  /**
   * `requested` narrowed to what the rules grant `principal`. Of the registry scopes, only the catalog
   * (`registry:catalog:*`), and only to a principal a `**` rule lets pull every repository.
   */
  grant(principal: Principal, requested: readonly Scope[]): Scope[];
  /** The actions the rules grant `principal` on one repository. */
  actionsOn(principal: Principal, repository: string): ReadonlySet<RepositoryAction>;
  /** True when a rule grants `principal` `action` on every repository (a `**` pattern): the whole catalog is theirs to see. */
  grantsEverywhere(principal: Principal, action: RepositoryAction): boolean;
}

export function compileAccessRules(rules: readonly AccessRule[]): AccessPolicy {
  const compiled = rules.map((rule) => ({
    users: new Set(rule.users),
    everywhere: rule.repositories.includes('**'),
    patterns: rule.repositories.map(compilePattern),
    actions: rule.actions.includes('*') ? ALL_ACTIONS : (rule.actions as RepositoryAction[]),
  }));
  // `anonymous` means no credentials: a signed-in user who happens to have that name does not match it.
  const appliesTo = (rule: (typeof compiled)[number], principal: Principal): boolean => {
    const name = principalName(principal);
    return principal.kind === 'user'
      ? rule.users.has('*') || (!RESERVED_USER_NAMES.includes(name) && rule.users.has(name))
      : rule.users.has(name);
  };
  const actionsOn = (principal: Principal, repository: string): Set<RepositoryAction> => {
    const user = principal.kind === 'user' ? principal.name.toLowerCase() : undefined;
    const granted = new Set<RepositoryAction>();
    for (const rule of compiled) {
      if (!appliesTo(rule, principal) || rule.actions.every((action) => granted.has(action))) continue;
      if (rule.patterns.some((pattern) => pattern(repository, user))) for (const action of rule.actions) granted.add(action);
    }
    return granted;
  };
  const grantsEverywhere = (principal: Principal, action: RepositoryAction): boolean =>
    compiled.some((rule) => rule.everywhere && rule.actions.includes(action) && appliesTo(rule, principal));
  return {
    actionsOn,
    grantsEverywhere,
    grant(principal, requested) {
      const granted: Scope[] = [];
      for (const scope of requested) {
        // The whole catalog to whoever may pull every repository; filtering it would show them everything anyway.
        if (sameResource(scope, CATALOG_SCOPE) && grantsEverywhere(principal, 'pull')) granted.push(CATALOG_SCOPE);
        if (scope.type !== 'repository' || scope.class !== undefined) continue;
        const actions = actionsOn(principal, scope.name);
        if (actions.size > 0) granted.push({ type: 'repository', name: scope.name, actions: asScopeActions(actions) });
      }
      return intersectScopes(requested, granted);
    },
  };
}

const ALL_ACTIONS: RepositoryAction[] = ['pull', 'push', 'delete'];

function asScopeActions(actions: ReadonlySet<RepositoryAction>): ScopeAction[] {
  return actions.size === ALL_ACTIONS.length ? ['*'] : [...actions];
}

type CompiledPattern = (repository: string, user: string | undefined) => boolean;

/**
 * `team/*` matches `team/app`; `public/**` matches `public/a` and `public/a/b` but not `public`;
 * `${user}/**` matches below the signed-in user's own name (never for anonymous callers).
 */
export function compilePattern(pattern: string): CompiledPattern {
  const usesUser = pattern.includes('${user}');
  const toRegExp = (user: string | undefined) =>
    new RegExp(
      `^${pattern
        .split('/')
        .map((segment) => (segment === '**' ? '[^/]+(?:/[^/]+)*' : segmentPattern(segment, user)))
        .join('/')}$`,
    );
  if (!usesUser) {
    const regexp = toRegExp(undefined);
    return (repository) => regexp.test(repository);
  }
  // Compiled once per user, not per request; bounded, since user names come and go.
  const perUser = new Map<string, RegExp>();
  return (repository, user) => {
    if (user === undefined) return false;
    let regexp = perUser.get(user);
    if (regexp === undefined) {
      if (perUser.size >= USER_PATTERN_CACHE) perUser.delete(perUser.keys().next().value!);
      regexp = toRegExp(user);
      perUser.set(user, regexp);
    }
    return regexp.test(repository);
  };
}

const USER_PATTERN_CACHE = 1000;

function segmentPattern(segment: string, user: string | undefined): string {
  return segment
    .split('${user}')
    .map((part) => part.split('*').map(escapeRegExp).join('[^/]*'))
    .join(escapeRegExp(user ?? ''));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

