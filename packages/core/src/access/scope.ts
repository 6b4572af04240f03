/**
 * The Docker token specification's scopes: `type[(class)]:name:action[,action]`, for example
 * `repository:team/app:pull,push`, `repository(plugin):name:*` or `registry:catalog:*`.
 */
export interface Scope {
  /** `repository`, `registry`, or another resource type (kept, never granted by berth's rules). */
  readonly type: string;
  /** The optional resource class, as in `repository(plugin)`. */
  readonly class?: string;
  /** The resource's name: a repository name, or `catalog` for `registry:catalog`. */
  readonly name: string;
  /** Known actions only (`pull`, `push`, `delete`, `*`), without duplicates. */
  readonly actions: readonly ScopeAction[];
}

/** The actions a scope may name, `*` for all. */
export const SCOPE_ACTIONS = ['pull', 'push', 'delete', '*'] as const;
/** An action a scope may name (one of {@link SCOPE_ACTIONS}). */
export type ScopeAction = (typeof SCOPE_ACTIONS)[number];
/** The actions a repository operation can need (`*` stands for all of them). */
export type RepositoryAction = Exclude<ScopeAction, '*'>;

const TYPE_PATTERN = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/;

/**
 * Parses one scope. The name sits between the first and the last colon, so a name that holds a colon
 * still parses; unknown actions are dropped, as the specification says. Undefined when malformed.
 */
export function parseScope(text: string): Scope | undefined {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = TYPE_PATTERN.exec(text.slice(0, first));
  const name = text.slice(first + 1, last);
  if (!type || name === '') return undefined;
  const actions = knownActions(text.slice(last + 1).split(','));
  return { type: type[1]!, ...(type[2] !== undefined && { class: type[2] }), name, actions };
}

/** Every scope of a list of `scope` values, each of which may hold several separated by spaces (the OAuth2 form). */
export function parseScopes(values: readonly string[]): Scope[] {
  return values
    .flatMap((value) => value.split(' '))
    .filter((text) => text !== '')
    .map(parseScope)
    .filter((scope): scope is Scope => scope !== undefined);
}

export function formatScope(scope: Scope): string {
  const type = scope.class === undefined ? scope.type : `${scope.type}(${scope.class})`;
  return `${type}:${scope.name}:${scope.actions.join(',')}`;
}

export function repositoryScope(name: string, actions: readonly RepositoryAction[]): Scope {
  return { type: 'repository', name, actions: [...actions] };
}

/** `registry:catalog:*`: the whole repository list. */
export const CATALOG_SCOPE: Scope = Object.freeze({ type: 'registry', name: 'catalog', actions: Object.freeze(['*'] as const) });

export function knownActions(actions: readonly string[]): ScopeAction[] {
  const known = new Set<ScopeAction>();
  for (const action of actions) if ((SCOPE_ACTIONS as readonly string[]).includes(action)) known.add(action as ScopeAction);
  return [...known];
}

/** Same resource (type, class and name), whatever the actions. */
export function sameResource(a: Scope, b: Scope): boolean {
  return a.type === b.type && a.class === b.class && a.name === b.name;
}
