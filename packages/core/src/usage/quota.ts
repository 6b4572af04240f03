import { compilePattern } from '../access/rules.js';
import { RegistryError } from '../errors.js';
import { formatByteSize } from './byte-size.js';

/** At most `limit` bytes (blobs linked plus manifests, see RepositoryUsage) in each repository matching `repository`. */
export interface RepositoryQuota {
  /** A name pattern as in access rules: `*` one path segment (or part of one), `**` one or more segments. */
  repository: string;
  /** Most bytes a matching repository may hold. */
  limit: number;
}

/** Compiled quotas: the one that applies to a repository is the first that matches its name. */
export interface QuotaPolicy {
  /** The quotas as given, in order. */
  readonly quotas: readonly RepositoryQuota[];
  /** The first quota whose pattern matches the repository's name, or undefined when none does. */
  quotaFor(repository: string): RepositoryQuota | undefined;
}

/** Checks and compiles quotas; throws on a limit that is not a whole number of bytes or a pattern using `${user}`. */
export function compileQuotas(quotas: readonly RepositoryQuota[]): QuotaPolicy {
  const compiled = quotas.map((quota) => {
    if (!Number.isSafeInteger(quota.limit) || quota.limit < 0) {
      throw new Error(`quota for "${quota.repository}": the limit must be a whole number of bytes, 0 or more (got ${String(quota.limit)})`);
    }
    // Quotas hold for a repository whoever pushes: a pattern naming the user would be a different quota per caller.
    if (quota.repository.includes('${user}')) throw new Error(`quota for "${quota.repository}": \${user} has no meaning in a quota`);
    return { quota: { ...quota }, matches: compilePattern(quota.repository) };
  });
  return {
    quotas: compiled.map(({ quota }) => quota),
    quotaFor: (repository) => compiled.find(({ matches }) => matches(repository, undefined))?.quota,
  };
}

/** True when a repository using `usedBytes` may not take `addedBytes` more under `quota`. Adding nothing is always allowed. */
export function exceedsQuota(quota: RepositoryQuota, usedBytes: number, addedBytes: number): boolean {
  return addedBytes > 0 && usedBytes + addedBytes > quota.limit;
}

/** The 403 DENIED a push past its repository's quota gets: it names the quota, its limit and the usage. */
export function quotaExceededError(quota: RepositoryQuota, repository: string, usedBytes: number, addedBytes: number): RegistryError {
  return new RegistryError(
    'DENIED',
    `quota exceeded: repository ${repository} may hold ${formatByteSize(quota.limit)} (quota "${quota.repository}"); ` +
      `it holds ${formatByteSize(usedBytes)} and this push adds ${formatByteSize(addedBytes)}`,
    { detail: { quota: quota.repository, limit: quota.limit, used: usedBytes, adding: addedBytes } },
  );
}
