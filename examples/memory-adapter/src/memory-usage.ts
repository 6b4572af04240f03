import type { RepositoryUsage, UsageTotals } from '@berth/core';
import { splitRowKey, type MemoryDatabase } from './memory-database.js';

const zero = (): UsageTotals => ({ blobBytes: 0, blobCount: 0, manifestBytes: 0, manifestCount: 0 });

/**
 * Usage counted from the rows on every call: an example may scan where a real backend keeps counters
 * in the transactions that change them (see @berth/storage-sql).
 */
export function usageByRepository(db: MemoryDatabase): Map<string, RepositoryUsage> {
  const usage = new Map<string, RepositoryUsage>();
  const of = (repository: string) => {
    let entry = usage.get(repository);
    if (entry === undefined) usage.set(repository, (entry = { repository, ...zero() }));
    return entry;
  };
  for (const [key, size] of db.blobLinks) {
    const entry = of(splitRowKey(key)[0]);
    entry.blobBytes += size;
    entry.blobCount += 1;
  }
  for (const row of db.manifests.values()) {
    const entry = of(row.repository);
    entry.manifestBytes += row.size;
    entry.manifestCount += 1;
  }
  return usage;
}

export function repositoryUsageOf(db: MemoryDatabase, repository: string): RepositoryUsage {
  return usageByRepository(db).get(repository) ?? { repository, ...zero() };
}

export function registryUsageOf(db: MemoryDatabase): UsageTotals {
  const totals = zero();
  for (const blob of db.blobs.values()) {
    totals.blobBytes += blob.size;
    totals.blobCount += 1;
  }
  for (const row of db.manifests.values()) {
    totals.manifestBytes += row.size;
    totals.manifestCount += 1;
  }
  return totals;
}
