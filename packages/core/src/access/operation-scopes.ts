import { CATALOG_SCOPE, repositoryScope, type Scope } from './scope.js';

/**
 * What each endpoint of the registry does, as far as access is concerned. One table decides the
 * scopes every request needs, so the HTTP layer, a token service and a challenge all agree.
 */
export type RegistryOperation =
  /** `GET /v2/`: asks only who the caller is. */
  | { kind: 'version-check' }
  /** `GET /v2/_catalog`. */
  | { kind: 'catalog' }
  /** GET/HEAD of manifests, blobs, tags and referrers. */
  | { kind: 'pull'; repository: string }
  /** Uploads (start, chunk, status, finish, cancel) and manifest PUT. */
  | { kind: 'push'; repository: string }
  /** DELETE of a manifest, tag or blob. */
  | { kind: 'delete'; repository: string }
  /** `POST …/blobs/uploads/?mount=<digest>[&from=<repository>]`. */
  | { kind: 'mount'; repository: string; from?: string };

/**
 * Every scope the operation may use, required or not, in the order a challenge names them. The first
 * scope is always required; a mount's `from` scope is optional (without it the mount falls back to a
 * plain upload), and the catalog's scope may be replaced by filtering per repository.
 */
export function operationScopes(operation: RegistryOperation): Scope[] {
  switch (operation.kind) {
    case 'version-check':
      return [];
    case 'catalog':
      return [CATALOG_SCOPE];
    case 'pull':
      return [repositoryScope(operation.repository, ['pull'])];
    case 'push':
      return [repositoryScope(operation.repository, ['pull', 'push'])];
    case 'delete':
      return [repositoryScope(operation.repository, ['delete'])];
    case 'mount':
      return operation.from === undefined || operation.from === operation.repository
        ? [repositoryScope(operation.repository, ['pull', 'push'])]
        : [repositoryScope(operation.repository, ['pull', 'push']), repositoryScope(operation.from, ['pull'])];
  }
}
