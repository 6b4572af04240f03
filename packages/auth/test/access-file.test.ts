import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANONYMOUS, userPrincipal } from '@berth/core';
import { compileAccessRules } from '@berth/core/internal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadAccessFile, parseAccessRules } from '../src/access-file.js';
import { AuthConfigError } from '../src/config-error.js';

const EXAMPLE = `- repositories: ["public/**"]
  users: ["anonymous", "*"]
  actions: [pull]
- repositories: ["\${user}/**"]
  users: ["*"]
  actions: [pull, push, delete]
- repositories: ["**"]
  users: [admin]
  actions: ["*"]
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-access-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The AuthConfigError message parsing `text` raises. */
function problems(text: string): string {
  try {
    parseAccessRules(text, 'access.yml');
  } catch (error) {
    expect(error).toBeInstanceOf(AuthConfigError);
    return (error as Error).message;
  }
  throw new Error('expected an AuthConfigError');
}

describe('loadAccessFile', () => {
  it('reads the example rules, which core compiles as intended', async () => {
    const path = join(dir, 'access.yml');
    await writeFile(path, EXAMPLE);
    const rules = await loadAccessFile(path);
    expect(rules).toEqual([
      { repositories: ['public/**'], users: ['anonymous', '*'], actions: ['pull'] },
      { repositories: ['${user}/**'], users: ['*'], actions: ['pull', 'push', 'delete'] },
      { repositories: ['**'], users: ['admin'], actions: ['*'] },
    ]);
    const policy = compileAccessRules(rules);
    expect([...policy.actionsOn(ANONYMOUS, 'public/tools')]).toEqual(['pull']);
    expect([...policy.actionsOn(ANONYMOUS, 'alice/app')]).toEqual([]);
    expect([...policy.actionsOn(userPrincipal('alice'), 'alice/app')].sort()).toEqual(['delete', 'pull', 'push']);
    expect([...policy.actionsOn(userPrincipal('alice'), 'bob/app')]).toEqual([]);
    expect([...policy.actionsOn(userPrincipal('admin'), 'bob/app')].sort()).toEqual(['delete', 'pull', 'push']);
  });

  it('reads JSON', async () => {
    const path = join(dir, 'access.json');
    await writeFile(path, JSON.stringify([{ repositories: ['team-1/app_x.y/*', '*-${user}'], users: ['bob'], actions: ['push'] }], null, 2));
    expect(await loadAccessFile(path)).toEqual([{ repositories: ['team-1/app_x.y/*', '*-${user}'], users: ['bob'], actions: ['push'] }]);
  });

  it('accepts an empty list (nobody may do anything)', () => {
    expect(parseAccessRules('[]', 'access.yml')).toEqual([]);
  });

  it('refuses a missing file, naming it', async () => {
    const path = join(dir, 'missing.yml');
    await expect(loadAccessFile(path)).rejects.toThrow(new AuthConfigError(`${path}: cannot read the file (ENOENT)`));
  });

  it('names the file it read in errors', async () => {
    const path = join(dir, 'access.yml');
    await writeFile(path, '- repositories: [a]\n  users: [b]\n  actions: [pul]\n');
    await expect(loadAccessFile(path)).rejects.toThrow(`${path} line 3 ([0].actions[0]): invalid action "pul"`);
  });
});

describe('parseAccessRules errors', () => {
  it('names the line and path of an invalid action', () => {
    const text = EXAMPLE.replace('actions: ["*"]', 'actions: ["*", pul]');
    expect(problems(text)).toBe('access.yml line 9 ([2].actions[1]): invalid action "pul" (expected pull, push, delete or *)');
  });

  it('names the line of an unknown key', () => {
    const text = EXAMPLE.replace('  users: [admin]\n', '  users: [admin]\n  repository: [x]\n');
    expect(problems(text)).toMatch(/^access\.yml line 9 \(\[2\]\.repository\): unknown key/);
  });

  it('refuses empty and missing lists', () => {
    const message = problems('- repositories: []\n  actions: [pull]\n  users: []\n- repositories: [a]\n\n  users: [b]\n');
    expect(message.split('\n')).toEqual([
      'access.yml line 1 ([0].repositories): must name at least one of the repository patterns',
      'access.yml line 3 ([0].users): must name at least one of the users',
      'access.yml line 4 ([1].actions): missing (a rule needs repositories, users and actions)',
    ]);
  });

  it('refuses wrong types', () => {
    expect(problems('repositories: [a]')).toBe('access.yml line 1: expected a list of rules');
    expect(problems('')).toBe('access.yml line 1: expected a list of rules');
    expect(problems('- 3\n')).toBe('access.yml line 1 ([0]): expected a rule with repositories, users and actions');
    expect(problems('- repositories: a\n  users: [7]\n  actions: [pull]\n').split('\n')).toEqual([
      'access.yml line 1 ([0].repositories): expected a list of repository patterns',
      'access.yml line 2 ([0].users[0]): expected a user name (a string)',
    ]);
  });

  it.each([
    ['uppercase', 'Team/*', 'segment "Team" may only hold a-z, 0-9, ".", "_", "-", "*" and "${user}"'],
    ['an empty segment', 'team//app', 'empty path segment'],
    ['a leading slash', '/team', 'empty path segment'],
    ['***', 'team/***', '"**" must be a whole segment'],
    ['** inside a segment', 'team/app**', '"**" must be a whole segment'],
    ['an unknown variable', '${group}/**', 'segment "${group}" may only hold'],
    ['a colon', 'team:app', 'segment "team:app" may only hold'],
  ])('refuses a repository pattern with %s, naming its line', (_what, pattern, problem) => {
    const text = EXAMPLE.replace('["**"]', `\n    - "**"\n    - ${JSON.stringify(pattern)}`); // on line 9
    const message = problems(text);
    expect(message).toContain(`access.yml line 9 ([2].repositories[1]): invalid repository pattern ${JSON.stringify(pattern)}: ${problem}`);
    expect(message.split('\n')).toHaveLength(1);
  });

  it('names the line of a YAML syntax error', () => {
    expect(problems('- repositories: [a]\n  users: [b]\n  actions: [pull\n- x: y\n')).toMatch(/^access\.yml line \d: /);
    expect(problems('- repositories: [a]\n  users: [b]\n  users: [c]\n  actions: [pull]\n')).toMatch(/^access\.yml line 3: Map keys must be unique/);
    expect(problems('- repositories: [a]\n  users: [b]\n  actions: [*]\n')).toMatch(/^access\.yml line 3: /);
  });
});
