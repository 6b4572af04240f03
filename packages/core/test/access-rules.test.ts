import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ANONYMOUS,
  CATALOG_SCOPE,
  compileAccessRules,
  covers,
  DEFAULT_ACCESS_RULES,
  formatScope,
  parseScope,
  repositoryScope,
  userPrincipal,
  type AccessRule,
  type Principal,
  type RepositoryAction,
  type Scope,
} from '../src/access/index.js';

function s(text: string): Scope {
  const scope = parseScope(text);
  if (scope === undefined) throw new Error(`bad scope in test: ${text}`);
  return scope;
}
const ALL: RepositoryAction[] = ['pull', 'push', 'delete'];
const sorted = (actions: ReadonlySet<RepositoryAction>): RepositoryAction[] => ALL.filter((action) => actions.has(action));
const alice = userPrincipal('alice');
const bob = userPrincipal('bob');

/** One rule letting everyone concerned pull and push on `pattern`. */
function patternPolicy(pattern: string) {
  return compileAccessRules([{ repositories: [pattern], users: ['*', 'anonymous'], actions: ['pull', 'push'] }]);
}

describe('repository patterns', () => {
  it.each<[string, string, boolean]>([
    // Literal names.
    ['team/app', 'team/app', true],
    ['team/app', 'team/ap', false],
    ['team/app', 'team/app2', false],
    ['team/app', 'team/app/x', false],
    ['team/app', 'x/team/app', false],
    // `*`: one segment, or part of one.
    ['team/*', 'team/app', true],
    ['team/*', 'team/other', true],
    ['team/*', 'team/a/b', false],
    ['team/*', 'team', false],
    ['team/*', 'teamx/app', false],
    ['*', 'app', true],
    ['*', 'team/app', false],
    ['*/app', 'team/app', true],
    ['*/app', 'a/b/app', false],
    ['*/app', 'app', false],
    ['team/app-*', 'team/app-web', true],
    ['team/app-*', 'team/app-web/x', false],
    ['team/app-*', 'team/web', false],
    ['team/*-web', 'team/app-web', true],
    ['team/*-web', 'team/app-api', false],
    ['t*/app', 'team/app', true],
    ['t*/app', 'x/team/app', false],
    // `**`: one or more segments.
    ['public/**', 'public/a', true],
    ['public/**', 'public/a/b', true],
    ['public/**', 'public/a/b/c', true],
    ['public/**', 'public', false],
    ['public/**', 'publicx/a', false],
    ['public/**', 'x/public/a', false],
    ['**', 'app', true],
    ['**', 'a/b/c', true],
    ['**/app', 'x/app', true],
    ['**/app', 'x/y/app', true],
    ['**/app', 'app', false],
    ['**/app', 'x/app2', false],
    ['a/**/z', 'a/b/z', true],
    ['a/**/z', 'a/b/c/z', true],
    ['a/**/z', 'a/z', false],
    ['a/**/z', 'a/b/z/y', false],
    // Regex metacharacters are literal.
    ['a.b/app', 'a.b/app', true],
    ['a.b/app', 'axb/app', false],
    ['team/app.v1', 'team/appxv1', false],
    ['team/(x)', 'team/x', false],
    ['team/a+', 'team/aa', false],
    ['team/a?', 'team/a', false],
    ['team/[ab]', 'team/a', false],
    ['team/a|b', 'team/b', false],
    ['^team/app$', 'team/app', false],
    ['team/a{2}', 'team/aa', false],
    ['team\\/app', 'team/app', false],
  ])('%j on %j -> %s', (pattern, repository, matches) => {
    const policy = patternPolicy(pattern);
    const expected = matches ? ['pull', 'push'] : [];
    expect(sorted(policy.actionsOn(alice, repository))).toEqual(expected);
    expect(sorted(policy.actionsOn(ANONYMOUS, repository))).toEqual(expected);
    const granted = policy.grant(alice, [repositoryScope(repository, ['pull', 'push'])]).map(formatScope);
    expect(granted).toEqual(matches ? [`repository:${repository}:pull,push`] : []);
  });

  it('matches a repository when any of a rule’s patterns matches', () => {
    const policy = compileAccessRules([{ repositories: ['a/*', 'b/**', 'c'], users: ['*'], actions: ['pull'] }]);
    expect(['a/x', 'b/x/y', 'c', 'd', 'a/x/y'].map((name) => sorted(policy.actionsOn(alice, name)))).toEqual([
      ['pull'],
      ['pull'],
      ['pull'],
      [],
      [],
    ]);
  });
});

describe('${user}', () => {
  const policy = compileAccessRules([
    { repositories: ['${user}/**'], users: ['*'], actions: ['*'] },
    { repositories: ['${user}'], users: ['*'], actions: ['pull'] },
    { repositories: ['${user}/**', '${user}'], users: ['anonymous'], actions: ['*'] },
  ]);

  it.each<[string, Principal, string, RepositoryAction[]]>([
    ['alice in her namespace', alice, 'alice/app', ALL],
    ['alice deeper in her namespace', alice, 'alice/a/b', ALL],
    ['alice on the bare name', alice, 'alice', ['pull']],
    ['alice in bob’s namespace', alice, 'bob/app', []],
    ['alice on a prefix of her name', alice, 'ali/app', []],
    ['alice on a longer name', alice, 'alicex/app', []],
    ['alice not at the start', alice, 'x/alice/app', []],
    ['Alice, lower-cased', userPrincipal('Alice'), 'alice/app', ALL],
    ['ALICE, lower-cased', userPrincipal('ALICE'), 'alice/app', ALL],
    ['Alice in bob’s namespace', userPrincipal('Alice'), 'bob/app', []],
    ['a.b in its namespace', userPrincipal('a.b'), 'a.b/app', ALL],
    ['a.b not on axb', userPrincipal('a.b'), 'axb/app', []],
    ['a-b in its namespace', userPrincipal('a-b'), 'a-b/app', ALL],
    ['a dotted name does not become a regex wildcard', userPrincipal('.*'), 'anything/app', []],
    ['anonymous never matches its own name', ANONYMOUS, 'anonymous/app', []],
    ['anonymous never matches the bare name', ANONYMOUS, 'anonymous', []],
    ['anonymous never matches anything', ANONYMOUS, 'alice/app', []],
    ['a user named anonymous is signed in, not anonymous', userPrincipal('anonymous'), 'anonymous/app', ALL],
  ])('%s', (_label, principal, repository, expected) => {
    expect(sorted(policy.actionsOn(principal, repository))).toEqual(expected);
  });

  it('expands inside a segment', () => {
    const inside = compileAccessRules([{ repositories: ['home/${user}-*'], users: ['*'], actions: ['push'] }]);
    expect(sorted(inside.actionsOn(userPrincipal('Bob'), 'home/bob-tools'))).toEqual(['push']);
    expect(sorted(inside.actionsOn(userPrincipal('Bob'), 'home/alice-tools'))).toEqual([]);
  });
});

describe('users', () => {
  const rules: AccessRule[] = [
    { repositories: ['named/*'], users: ['alice'], actions: ['pull'] },
    { repositories: ['signed/*'], users: ['*'], actions: ['pull'] },
    { repositories: ['anon/*'], users: ['anonymous'], actions: ['pull'] },
    { repositories: ['pair/*'], users: ['alice', 'bob'], actions: ['pull'] },
    { repositories: ['dotted/*'], users: ['a.b'], actions: ['pull'] },
    { repositories: ['either/*'], users: ['*', 'anonymous'], actions: ['pull'] },
  ];
  const policy = compileAccessRules(rules);

  it.each<[string, Principal, string, boolean]>([
    ['named user', alice, 'named/x', true],
    ['other user on a named rule', bob, 'named/x', false],
    ['anonymous on a named rule', ANONYMOUS, 'named/x', false],
    ['user names are not prefixes', userPrincipal('alicex'), 'named/x', false],
    ['user names are not suffixes', userPrincipal('xalice'), 'named/x', false],
    ['any signed-in user', bob, 'signed/x', true],
    ['anonymous is not signed in', ANONYMOUS, 'signed/x', false],
    ['anonymous rule', ANONYMOUS, 'anon/x', true],
    ['anonymous rule skips signed-in users', alice, 'anon/x', false],
    ['one of several users', bob, 'pair/x', true],
    ['not among several users', userPrincipal('carol'), 'pair/x', false],
    ['dotted name', userPrincipal('a.b'), 'dotted/x', true],
    ['dot is literal in user names', userPrincipal('axb'), 'dotted/x', false],
    ['both signed-in and anonymous: user', alice, 'either/x', true],
    ['both signed-in and anonymous: anonymous', ANONYMOUS, 'either/x', true],
    // `anonymous` means no credentials: a signed-in user who happens to be called so is not anonymous.
    ['signed-in user named anonymous on an anonymous rule', userPrincipal('anonymous'), 'anon/x', false],
    ['signed-in user named anonymous is still signed in', userPrincipal('anonymous'), 'signed/x', true],
  ])('%s', (_label, principal, repository, allowed) => {
    expect(sorted(policy.actionsOn(principal, repository))).toEqual(allowed ? ['pull'] : []);
  });
});

describe('grant', () => {
  const policy = compileAccessRules([
    { repositories: ['team/**'], users: ['*'], actions: ['pull'] },
    { repositories: ['team/app'], users: ['alice'], actions: ['push'] },
    { repositories: ['team/app'], users: ['admin'], actions: ['*'] },
    { repositories: ['public/**'], users: ['anonymous', '*'], actions: ['pull'] },
    { repositories: ['**'], users: ['auditor'], actions: ['pull'] },
  ]);

  it.each<[string, Principal, string[], string[]]>([
    ['union of two rules grants pull and push', alice, ['repository:team/app:pull,push'], ['repository:team/app:pull,push']],
    ['one rule alone is not enough for bob', bob, ['repository:team/app:pull,push'], ['repository:team/app:pull']],
    ['push elsewhere in the team is not granted', alice, ['repository:team/other:pull,push'], ['repository:team/other:pull']],
    ['nothing granted drops the scope', bob, ['repository:team/app:push'], []],
    ['actions * means pull, push, delete', userPrincipal('admin'), ['repository:team/app:pull,push,delete'], ['repository:team/app:pull,push,delete']],
    ['delete not granted', alice, ['repository:team/app:delete'], []],
    ['* requested, some granted', alice, ['repository:team/app:*'], ['repository:team/app:pull,push']],
    ['anonymous pull on public', ANONYMOUS, ['repository:public/x:pull,push'], ['repository:public/x:pull']],
    ['anonymous nothing on team', ANONYMOUS, ['repository:team/app:pull'], []],
    ['the catalog to whoever may pull every repository', userPrincipal('auditor'), ['registry:catalog:*'], ['registry:catalog:*']],
    ['no catalog with narrower rules', alice, ['registry:catalog:*'], []],
    ['the catalog only as asked', userPrincipal('auditor'), ['registry(plugin):catalog:*', 'registry:catalog:pull'], ['registry:catalog:pull']],
    ['other types never granted', alice, ['frob:team/app:pull'], []],
    ['a resource class is another resource', alice, ['repository(plugin):team/app:pull'], []],
    [
      'several scopes keep the requested order',
      alice,
      ['repository:public/x:pull', 'registry:catalog:*', 'repository:nope:pull', 'repository:team/app:push'],
      ['repository:public/x:pull', 'repository:team/app:push'],
    ],
    ['nothing requested', alice, [], []],
  ])('%s', (_label, principal, requested, expected) => {
    expect(policy.grant(principal, requested.map(s)).map(formatScope)).toEqual(expected);
  });

  it('with * requested and every action granted, covers each action', () => {
    const granted = policy.grant(userPrincipal('admin'), [s('repository:team/app:*')]);
    for (const action of ALL) expect(covers(granted, repositoryScope('team/app', [action]))).toBe(true);
  });

  it('actionsOn reports the union of matching rules', () => {
    expect(sorted(policy.actionsOn(alice, 'team/app'))).toEqual(['pull', 'push']);
    expect(sorted(policy.actionsOn(bob, 'team/app'))).toEqual(['pull']);
    expect(sorted(policy.actionsOn(userPrincipal('admin'), 'team/app'))).toEqual(ALL);
    expect(sorted(policy.actionsOn(ANONYMOUS, 'team/app'))).toEqual([]);
  });

  it('no rules grant nothing', () => {
    const empty = compileAccessRules([]);
    expect(sorted(empty.actionsOn(alice, 'x'))).toEqual([]);
    expect(empty.grant(alice, [s('repository:x:pull')])).toEqual([]);
  });
});

describe('DEFAULT_ACCESS_RULES', () => {
  const policy = compileAccessRules(DEFAULT_ACCESS_RULES);

  it.each(['app', 'team/app', 'a/b/c/d', 'anonymous/x'])('lets any signed-in user do everything on %j', (repository) => {
    expect(sorted(policy.actionsOn(alice, repository))).toEqual(ALL);
    expect(sorted(policy.actionsOn(userPrincipal('Someone.Else'), repository))).toEqual(ALL);
    expect(policy.grant(bob, [repositoryScope(repository, ALL)]).map(formatScope)).toEqual([`repository:${repository}:pull,push,delete`]);
  });

  it.each(['app', 'team/app', 'a/b/c/d'])('lets anonymous do nothing on %j', (repository) => {
    expect(sorted(policy.actionsOn(ANONYMOUS, repository))).toEqual([]);
    expect(policy.grant(ANONYMOUS, [repositoryScope(repository, ['pull'])])).toEqual([]);
  });

  it('grants the catalog to signed-in users (they may pull everything), not to anonymous callers', () => {
    expect(policy.grant(alice, [CATALOG_SCOPE])).toEqual([CATALOG_SCOPE]);
    expect(policy.grant(ANONYMOUS, [CATALOG_SCOPE])).toEqual([]);
  });
});

describe('rules properties', () => {
  const segment = fc.constantFrom('a', 'b', 'alice', 'team', 'x.y', 'xzy');
  const repository = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
  const patternPart = fc.constantFrom('a', 'b', 'alice', 'team', '*', '**', '${user}', 'x.y', 'x*');
  const pattern = fc.array(patternPart, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
  const rule: fc.Arbitrary<AccessRule> = fc.record({
    repositories: fc.array(pattern, { minLength: 1, maxLength: 2 }),
    users: fc.subarray(['*', 'anonymous', 'alice', 'bob', 'x.y']),
    actions: fc.subarray(['pull', 'push', 'delete', '*'] as const),
  });
  const principal = fc.constantFrom<Principal>(ANONYMOUS, alice, bob, userPrincipal('Alice'), userPrincipal('x.y'), userPrincipal('xzy'));

  it('grant and actionsOn agree, and the union of rules is the union of each rule', () => {
    fc.assert(
      fc.property(fc.array(rule, { maxLength: 4 }), principal, repository, (rules, who, name) => {
        const policy = compileAccessRules(rules);
        const actions = policy.actionsOn(who, name);
        const union = new Set(rules.flatMap((one) => [...compileAccessRules([one]).actionsOn(who, name)]));
        expect(sorted(actions)).toEqual(sorted(union));
        const granted = policy.grant(who, [repositoryScope(name, ALL)]);
        for (const action of ALL) expect(covers(granted, repositoryScope(name, [action]))).toBe(actions.has(action));
      }),
    );
  });

  it('anonymous gets nothing from rules that do not name anonymous', () => {
    fc.assert(
      fc.property(fc.array(rule, { maxLength: 4 }), repository, (rules, name) => {
        const signedIn = rules.map((one) => ({ ...one, users: one.users.filter((user) => user !== 'anonymous') }));
        expect(compileAccessRules(signedIn).actionsOn(ANONYMOUS, name).size).toBe(0);
      }),
    );
  });
});
