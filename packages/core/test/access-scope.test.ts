import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CATALOG_SCOPE,
  formatScope,
  parseScope,
  parseScopes,
  repositoryScope,
  SCOPE_ACTIONS,
  type Scope,
  type ScopeAction,
} from '../src/access/index.js';

/** A scope as a plain object, so `class: undefined` and a missing `class` compare alike. */
function plain(scope: Scope | undefined): unknown {
  if (scope === undefined) return undefined;
  return { type: scope.type, class: scope.class, name: scope.name, actions: [...scope.actions] };
}

describe('parseScope', () => {
  it.each<[string, { type: string; class?: string; name: string; actions: ScopeAction[] }]>([
    ['repository:team/app:pull,push', { type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
    ['repository:team/app:pull', { type: 'repository', name: 'team/app', actions: ['pull'] }],
    ['repository:app:delete', { type: 'repository', name: 'app', actions: ['delete'] }],
    ['repository:app:push,pull', { type: 'repository', name: 'app', actions: ['push', 'pull'] }],
    ['repository(plugin):name:*', { type: 'repository', class: 'plugin', name: 'name', actions: ['*'] }],
    ['registry:catalog:*', { type: 'registry', name: 'catalog', actions: ['*'] }],
    // The name sits between the first and the last colon.
    ['repository:localhost:5000/app:pull', { type: 'repository', name: 'localhost:5000/app', actions: ['pull'] }],
    ['repository:a:b:c:push', { type: 'repository', name: 'a:b:c', actions: ['push'] }],
    // Unknown actions are dropped.
    ['repository:app:pull,frobnicate', { type: 'repository', name: 'app', actions: ['pull'] }],
    ['repository:app:frobnicate,push', { type: 'repository', name: 'app', actions: ['push'] }],
    ['repository:app:PULL,pull', { type: 'repository', name: 'app', actions: ['pull'] }],
    ['repository:app:frobnicate', { type: 'repository', name: 'app', actions: [] }],
    ['repository:app:', { type: 'repository', name: 'app', actions: [] }],
    // Duplicates collapse.
    ['repository:app:pull,pull', { type: 'repository', name: 'app', actions: ['pull'] }],
    ['repository:app:pull,push,pull,push', { type: 'repository', name: 'app', actions: ['pull', 'push'] }],
    ['repository:app:*,*', { type: 'repository', name: 'app', actions: ['*'] }],
    // A type berth never grants still parses.
    ['frob:thing:pull', { type: 'frob', name: 'thing', actions: ['pull'] }],
  ])('parses %j', (text, expected) => {
    expect(plain(parseScope(text))).toEqual({ class: undefined, ...expected });
  });

  it.each([
    ['empty string', ''],
    ['no colons', 'repository'],
    ['no colons with actions', 'repository-app-pull'],
    ['a single colon', 'repository:app'],
    ['empty name', 'repository::pull'],
    ['empty type', ':app:pull'],
    ['type with a space', 'repo sitory:app:pull'],
    ['type with a slash', 'repo/x:app:pull'],
    ['unclosed class', 'repository(plugin:app:pull'],
    ['empty class', 'repository():app:pull'],
    ['class without type', '(plugin):app:pull'],
    ['text after class', 'repository(plugin)x:app:pull'],
    ['nested class', 'repository((plugin)):app:pull'],
  ])('rejects %s (%j)', (_label, text) => {
    expect(parseScope(text)).toBeUndefined();
  });
});

describe('parseScopes', () => {
  it.each<[string, string[], string[]]>([
    ['nothing', [], []],
    ['one value, one scope', ['repository:a:pull'], ['repository:a:pull']],
    ['several values', ['repository:a:pull', 'repository:b:push'], ['repository:a:pull', 'repository:b:push']],
    [
      'one value holding several scopes (OAuth2 form)',
      ['repository:a:pull repository:b:pull,push registry:catalog:*'],
      ['repository:a:pull', 'repository:b:pull,push', 'registry:catalog:*'],
    ],
    [
      'a mix of both forms',
      ['repository:a:pull repository:b:push', 'repository(plugin):c:*'],
      ['repository:a:pull', 'repository:b:push', 'repository(plugin):c:*'],
    ],
    [
      'malformed scopes skipped, the rest kept',
      ['garbage repository:a:pull', 'repository::pull', 'repository:b:push bad(:x:y'],
      ['repository:a:pull', 'repository:b:push'],
    ],
    ['only malformed', ['nope', 'also nope', ''], []],
    ['repeated spaces', ['repository:a:pull  repository:b:push'], ['repository:a:pull', 'repository:b:push']],
  ])('%s', (_label, values, expected) => {
    expect(parseScopes(values).map(formatScope)).toEqual(expected);
  });
});

describe('formatScope', () => {
  it.each([
    'repository:team/app:pull,push',
    'repository(plugin):name:*',
    'registry:catalog:*',
    'repository:localhost:5000/app:pull',
    'repository:a/b/c:delete',
  ])('round-trips %j', (text) => {
    const scope = parseScope(text);
    expect(scope).toBeDefined();
    expect(formatScope(scope!)).toBe(text);
  });

  it.each<[Scope, string]>([
    [repositoryScope('team/app', ['pull', 'push']), 'repository:team/app:pull,push'],
    [repositoryScope('app', ['delete']), 'repository:app:delete'],
    [CATALOG_SCOPE, 'registry:catalog:*'],
    [{ type: 'repository', class: 'plugin', name: 'x', actions: ['pull'] }, 'repository(plugin):x:pull'],
  ])('formats %j', (scope, text) => {
    expect(formatScope(scope)).toBe(text);
  });
});

const lowerAlnum = fc.stringMatching(/^[a-z0-9]{1,8}$/);
const scopeArbitrary: fc.Arbitrary<Scope> = fc.record(
  {
    type: lowerAlnum,
    class: lowerAlnum,
    name: fc.stringMatching(/^[a-z0-9._\/:-]{1,30}$/),
    actions: fc.subarray([...SCOPE_ACTIONS]).chain((actions) => fc.shuffledSubarray(actions, { minLength: actions.length })),
  },
  { requiredKeys: ['type', 'name', 'actions'] },
);

describe('scope properties', () => {
  it('parseScope(formatScope(scope)) gives the scope back', () => {
    fc.assert(
      fc.property(scopeArbitrary, (scope) => {
        expect(plain(parseScope(formatScope(scope)))).toEqual(plain(scope));
      }),
    );
  });

  it('parseScopes of the formatted scopes joined by spaces gives them all back, in order', () => {
    fc.assert(
      fc.property(fc.array(scopeArbitrary, { maxLength: 6 }), fc.integer({ min: 0, max: 6 }), (scopes, split) => {
        const texts = scopes.map(formatScope);
        const values = [texts.slice(0, split).join(' '), texts.slice(split).join(' ')];
        expect(parseScopes(values).map(plain)).toEqual(scopes.map(plain));
      }),
    );
  });

  it('parsed actions are known and distinct, whatever the action list', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(...SCOPE_ACTIONS), fc.stringMatching(/^[a-zA-Z*]{0,6}$/))), (actions) => {
        const scope = parseScope(`repository:app:${actions.join(',')}`);
        expect(scope).toBeDefined();
        const known = actions.filter((action): action is ScopeAction => (SCOPE_ACTIONS as readonly string[]).includes(action));
        expect(scope!.actions).toEqual([...new Set(known)]);
      }),
    );
  });
});
