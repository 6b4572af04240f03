import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { covers, formatScope, intersectScopes, missingScopes, parseScope, type Scope } from '../src/access/index.js';

function s(text: string): Scope {
  const scope = parseScope(text);
  if (scope === undefined) throw new Error(`bad scope in test: ${text}`);
  return scope;
}
const list = (...texts: string[]): Scope[] => texts.map(s);

describe('covers', () => {
  it.each<[string, string[], string, boolean]>([
    ['the same scope', ['repository:a:pull'], 'repository:a:pull', true],
    ['a subset of actions', ['repository:a:pull,push'], 'repository:a:pull', true],
    ['a missing action', ['repository:a:pull'], 'repository:a:pull,push', false],
    ['an action spread over two grants', ['repository:a:pull', 'repository:a:push'], 'repository:a:pull,push', true],
    ['* granted covers pull', ['repository:a:*'], 'repository:a:pull', true],
    ['* granted covers every action', ['repository:a:*'], 'repository:a:pull,push,delete', true],
    ['* granted covers *', ['repository:a:*'], 'repository:a:*', true],
    ['* needed, pull granted', ['repository:a:pull'], 'repository:a:*', false],
    ['another repository', ['repository:b:pull'], 'repository:a:pull', false],
    ['a name prefix', ['repository:team:*'], 'repository:team/app:pull', false],
    ['another type', ['registry:a:*'], 'repository:a:pull', false],
    ['another class', ['repository(plugin):a:*'], 'repository:a:pull', false],
    ['a class needed, none granted', ['repository:a:*'], 'repository(plugin):a:pull', false],
    ['the same class', ['repository(plugin):a:pull'], 'repository(plugin):a:pull', true],
    ['nothing granted', [], 'repository:a:pull', false],
    ['the catalog', ['registry:catalog:*'], 'registry:catalog:*', true],
    ['a delete needed, pull and push granted', ['repository:a:pull,push'], 'repository:a:delete', false],
  ])('%s', (_label, granted, needed, expected) => {
    expect(covers(list(...granted), s(needed))).toBe(expected);
  });
});

describe('missingScopes', () => {
  it.each<[string, string[], string[], string[]]>([
    ['nothing needed', ['repository:a:pull'], [], []],
    ['everything covered', ['repository:a:*', 'registry:catalog:*'], ['repository:a:pull,push', 'registry:catalog:*'], []],
    ['nothing granted', [], ['repository:a:pull', 'repository:b:push'], ['repository:a:pull', 'repository:b:push']],
    ['one of two missing', ['repository:a:pull'], ['repository:a:pull', 'repository:b:pull'], ['repository:b:pull']],
    ['first of two missing', ['repository:b:pull'], ['repository:a:pull', 'repository:b:pull'], ['repository:a:pull']],
    ['another class', ['repository:a:*'], ['repository(plugin):a:pull'], ['repository(plugin):a:pull']],
  ])('%s', (_label, granted, needed, expected) => {
    expect(missingScopes(list(...granted), list(...needed)).map(formatScope)).toEqual(expected);
  });

  it('reports a partly covered scope as missing', () => {
    const missing = missingScopes(list('repository:a:pull'), list('repository:a:pull,push', 'repository:b:pull'));
    expect(missing.map((scope) => scope.name)).toEqual(['a', 'b']);
    expect(covers(missing, s('repository:a:push'))).toBe(true);
  });
});

describe('intersectScopes', () => {
  it.each<[string, string[], string[], string[]]>([
    ['same actions', ['repository:a:pull'], ['repository:a:pull'], ['repository:a:pull']],
    ['keeps only the granted actions', ['repository:a:pull,push'], ['repository:a:pull'], ['repository:a:pull']],
    ['keeps the requested order of actions', ['repository:a:push,pull'], ['repository:a:pull,push'], ['repository:a:push,pull']],
    ['drops a scope with nothing granted', ['repository:a:push'], ['repository:a:pull'], []],
    ['drops an ungranted scope among others', ['repository:a:pull', 'repository:b:pull'], ['repository:b:*'], ['repository:b:pull']],
    ['* granted covers every action', ['repository:a:pull,push,delete'], ['repository:a:*'], ['repository:a:pull,push,delete']],
    ['* granted and requested', ['repository:a:*'], ['repository:a:*'], ['repository:a:*']],
    ['* requested, some granted', ['repository:a:*'], ['repository:a:pull'], ['repository:a:pull']],
    ['* requested, two granted', ['repository:a:*'], ['repository:a:pull,push'], ['repository:a:pull,push']],
    ['union of two grants', ['repository:a:pull,push'], ['repository:a:pull', 'repository:a:push'], ['repository:a:pull,push']],
    ['different name', ['repository:a:pull'], ['repository:b:*'], []],
    ['different type', ['repository:catalog:*'], ['registry:catalog:*'], []],
    ['different class', ['repository(plugin):a:pull'], ['repository:a:*'], []],
    ['class requested and granted', ['repository(plugin):a:pull,push'], ['repository(plugin):a:push'], ['repository(plugin):a:push']],
    ['no class requested, class granted', ['repository:a:pull'], ['repository(plugin):a:*'], []],
    ['catalog', ['registry:catalog:*'], ['registry:catalog:*'], ['registry:catalog:*']],
    ['nothing granted', ['repository:a:pull', 'registry:catalog:*'], [], []],
    ['nothing requested', [], ['repository:a:*'], []],
    [
      'several scopes, in requested order',
      ['repository:b:pull,push', 'repository:a:delete', 'repository:c:pull'],
      ['repository:a:*', 'repository:b:pull', 'repository:c:push'],
      ['repository:b:pull', 'repository:a:delete'],
    ],
  ])('%s', (_label, requested, granted, expected) => {
    expect(intersectScopes(list(...requested), list(...granted)).map(formatScope)).toEqual(expected);
  });

  it('requested * with all three actions granted separately covers each of them', () => {
    const result = intersectScopes(list('repository:a:*'), list('repository:a:pull', 'repository:a:push', 'repository:a:delete'));
    for (const action of ['pull', 'push', 'delete']) expect(covers(result, s(`repository:a:${action}`))).toBe(true);
  });
});

// A small universe, so that requested and granted scopes often name the same resource.
const smallScope: fc.Arbitrary<Scope> = fc.record(
  {
    type: fc.constantFrom('repository', 'registry'),
    class: fc.constantFrom('plugin', 'other'),
    name: fc.constantFrom('a', 'b', 'catalog', 'team/app'),
    actions: fc.subarray(['pull', 'push', 'delete', '*'] as const),
  },
  { requiredKeys: ['type', 'name', 'actions'] },
);
const singleActions = ['pull', 'push', 'delete'] as const;

describe('grant properties', () => {
  it('intersectScopes gives only what is both requested and granted, and all of it', () => {
    fc.assert(
      fc.property(fc.array(smallScope, { maxLength: 5 }), fc.array(smallScope, { maxLength: 5 }), (requested, granted) => {
        const result = intersectScopes(requested, granted);
        for (const scope of result) {
          expect(scope.actions.length).toBeGreaterThan(0);
          expect(covers(granted, scope)).toBe(true);
          expect(covers(requested, scope)).toBe(true);
        }
        for (const scope of requested) {
          for (const action of singleActions) {
            const one: Scope = { ...scope, actions: [action] };
            if (covers([scope], one) && covers(granted, one)) expect(covers(result, one)).toBe(true);
          }
        }
      }),
    );
  });

  it('missingScopes is empty exactly when every needed scope is covered, and lists the uncovered ones', () => {
    fc.assert(
      fc.property(fc.array(smallScope, { maxLength: 5 }), fc.array(smallScope, { maxLength: 5 }), (granted, needed) => {
        const missing = missingScopes(granted, needed);
        expect(missing.length === 0).toBe(needed.every((scope) => covers(granted, scope)));
        expect(missing.length).toBe(needed.filter((scope) => !covers(granted, scope)).length);
      }),
    );
  });

  it('a scope covers itself', () => {
    fc.assert(
      fc.property(smallScope, (scope) => {
        expect(covers([scope], scope)).toBe(true);
      }),
    );
  });
});
