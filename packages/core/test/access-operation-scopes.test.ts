import { describe, expect, it } from 'vitest';
import { formatScope, operationScopes, type RegistryOperation } from '../src/access/index.js';

describe('operationScopes', () => {
  it.each<[RegistryOperation, string[]]>([
    [{ kind: 'version-check' }, []],
    [{ kind: 'catalog' }, ['registry:catalog:*']],
    [{ kind: 'pull', repository: 'team/app' }, ['repository:team/app:pull']],
    [{ kind: 'push', repository: 'team/app' }, ['repository:team/app:pull,push']],
    [{ kind: 'delete', repository: 'team/app' }, ['repository:team/app:delete']],
    [{ kind: 'mount', repository: 'team/app', from: 'base/img' }, ['repository:team/app:pull,push', 'repository:base/img:pull']],
    [{ kind: 'mount', repository: 'team/app' }, ['repository:team/app:pull,push']],
    [{ kind: 'mount', repository: 'team/app', from: 'team/app' }, ['repository:team/app:pull,push']],
    [{ kind: 'pull', repository: 'localhost:5000/app' }, ['repository:localhost:5000/app:pull']],
  ])('%j -> %j', (operation, expected) => {
    expect(operationScopes(operation).map(formatScope)).toEqual(expected);
  });

  it('gives repository scopes with the repository type and no class', () => {
    for (const scope of operationScopes({ kind: 'mount', repository: 'a', from: 'b' })) {
      expect(scope.type).toBe('repository');
      expect(scope.class).toBeUndefined();
    }
    const [catalog] = operationScopes({ kind: 'catalog' });
    expect(catalog).toMatchObject({ type: 'registry', name: 'catalog', actions: ['*'] });
  });
});
