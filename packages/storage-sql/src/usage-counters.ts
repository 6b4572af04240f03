import { exceedsQuota, quotaExceededError, type RepositoryQuota, type RepositoryUsage, type UsageTotals } from '@berth/core';
import type { Knex } from 'knex';
import { TABLES } from './tables.js';

/** How one write changes the usage: signed bytes and rows of blobs and manifests. */
export type UsageChange = Partial<UsageTotals>;

/** Rows of the registry's totals; a write adds to one of them at random, a read sums them. */
export const REGISTRY_USAGE_SLOTS = 8;

const COLUMNS = { blobBytes: 'blob_bytes', blobCount: 'blob_count', manifestBytes: 'manifest_bytes', manifestCount: 'manifest_count' } as const;

export interface UsageRow {
  blob_bytes: number | string;
  blob_count: number | string;
  manifest_bytes: number | string;
  manifest_count: number | string;
}

export function totalsFromRow(row: UsageRow | undefined): UsageTotals {
  return {
    blobBytes: Number(row?.blob_bytes ?? 0),
    blobCount: Number(row?.blob_count ?? 0),
    manifestBytes: Number(row?.manifest_bytes ?? 0),
    manifestCount: Number(row?.manifest_count ?? 0),
  };
}

function isEmpty(change: UsageChange): boolean {
  return Object.values(change).every((value) => value === undefined || value === 0);
}

/** The change as an upsert: inserted as it is, or added to the row already there. */
async function addToRow(trx: Knex.Transaction, table: string, key: Record<string, string | number>, change: UsageChange): Promise<UsageTotals> {
  const values: Record<string, number> = {};
  const added: Record<string, Knex.Raw> = {};
  for (const [name, column] of Object.entries(COLUMNS)) {
    values[column] = change[name as keyof UsageTotals] ?? 0;
    added[column] = trx.raw('??.?? + excluded.??', [table, column, column]);
  }
  const [row] = (await trx(table)
    .insert({ ...key, ...values })
    .onConflict(Object.keys(key))
    .merge(added)
    .returning(Object.values(COLUMNS))) as UsageRow[];
  return totalsFromRow(row);
}

/**
 * Applies a write's changes to the counters, in the write's transaction and as its last statements:
 * the repository's row, then one slot of the registry's. Taking these locks last, always in this order,
 * keeps them from deadlocking with the row locks a push or a collector takes before. With a quota, a
 * change that adds bytes and leaves the repository above it throws 403 DENIED, rolling the write back:
 * the row lock makes concurrent pushes to one repository check one after the other.
 */
export async function applyUsageChange(
  trx: Knex.Transaction,
  repository: string | undefined,
  change: { repository?: UsageChange; registry?: UsageChange },
  quota?: RepositoryQuota,
): Promise<void> {
  if (repository !== undefined && change.repository !== undefined && !isEmpty(change.repository)) {
    const after = await addToRow(trx, TABLES.repositoryUsage, { repository }, change.repository);
    const added = (change.repository.blobBytes ?? 0) + (change.repository.manifestBytes ?? 0);
    const used = after.blobBytes + after.manifestBytes;
    if (quota !== undefined && exceedsQuota(quota, used - added, added)) throw quotaExceededError(quota, repository, used - added, added);
    if (after.blobCount === 0 && after.manifestCount === 0) {
      await trx(TABLES.repositoryUsage).where({ repository, blob_count: 0, manifest_count: 0 }).del();
    }
  }
  if (change.registry !== undefined && !isEmpty(change.registry)) {
    await addToRow(trx, TABLES.registryUsage, { slot: Math.floor(Math.random() * REGISTRY_USAGE_SLOTS) }, change.registry);
  }
}

export async function readRepositoryUsage(db: Knex, repository: string): Promise<RepositoryUsage> {
  const row: UsageRow | undefined = await db(TABLES.repositoryUsage).first('*').where({ repository });
  return { repository, ...totalsFromRow(row) };
}

export async function readRegistryUsage(db: Knex): Promise<UsageTotals> {
  const [row] = (await db(TABLES.registryUsage).select(
    db.raw('coalesce(sum(blob_bytes), 0) as blob_bytes'),
    db.raw('coalesce(sum(blob_count), 0) as blob_count'),
    db.raw('coalesce(sum(manifest_bytes), 0) as manifest_bytes'),
    db.raw('coalesce(sum(manifest_count), 0) as manifest_count'),
  )) as UsageRow[];
  return totalsFromRow(row);
}

export async function listRepositoryUsage(db: Knex, last: string | undefined, limit: number): Promise<RepositoryUsage[]> {
  if (limit <= 0) return [];
  const query = db(TABLES.repositoryUsage).select('*').orderBy('repository').limit(limit);
  if (last !== undefined) query.where('repository', '>', last);
  const rows: Array<UsageRow & { repository: string }> = await query;
  return rows.map((row) => ({ repository: row.repository, ...totalsFromRow(row) }));
}
