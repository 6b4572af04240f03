import assert from 'node:assert/strict';
import type { MetadataStore, RepositoryUsage, UsageTotals } from '@berth/core';
import { blobDigest, manifestWrite } from '@berth/storage-testing';
import type { Knex } from 'knex';
import { metadataMigrationSource, MIGRATIONS_TABLE, TABLES, type Dialect } from '../../src/index.js';

/** Usage recounted from the tables themselves with SUM queries, past the store and its counters. */
export async function recountUsage(db: Knex): Promise<{ repositories: RepositoryUsage[]; registry: UsageTotals }> {
  const rows: Array<{ repository: string; blob_bytes: string | number; blob_count: string | number; manifest_bytes: string | number; manifest_count: string | number }> =
    await db.raw(
      `select repository, sum(blob_bytes) as blob_bytes, sum(blob_count) as blob_count, sum(manifest_bytes) as manifest_bytes, sum(manifest_count) as manifest_count from (
         select repository, size as blob_bytes, 1 as blob_count, 0 as manifest_bytes, 0 as manifest_count from ${TABLES.blobLinks}
         union all select repository, 0, 0, size, 1 from ${TABLES.manifests}
       ) as usage group by repository order by repository`,
    ).then((result: unknown) => (Array.isArray(result) ? result : (result as { rows: never[] }).rows));
  const [blobs] = (await db(TABLES.blobs).select(db.raw('coalesce(sum(size), 0) as bytes'), db.raw('count(*) as count'))) as Array<{ bytes: string; count: string }>;
  const [manifests] = (await db(TABLES.manifests).select(db.raw('coalesce(sum(size), 0) as bytes'), db.raw('count(*) as count'))) as Array<{ bytes: string; count: string }>;
  return {
    repositories: rows.map((row) => ({
      repository: row.repository,
      blobBytes: Number(row.blob_bytes),
      blobCount: Number(row.blob_count),
      manifestBytes: Number(row.manifest_bytes),
      manifestCount: Number(row.manifest_count),
    })),
    registry: { blobBytes: Number(blobs!.bytes), blobCount: Number(blobs!.count), manifestBytes: Number(manifests!.bytes), manifestCount: Number(manifests!.count) },
  };
}

/** Applies the schema steps that come before `name`, as a database made by an older berth has them. */
export async function migrateUpTo(db: Knex, dialect: Dialect, name: string): Promise<void> {
  const source = metadataMigrationSource(dialect);
  await db.migrate.latest({
    tableName: MIGRATIONS_TABLE,
    migrationSource: { ...source, getMigrations: async (loaders) => (await source.getMigrations(loaders)).filter((step) => source.getMigrationName(step) < name) },
  });
}

/** Rows as an older berth wrote them: links (one blob in two repositories), manifests and blobs. */
export async function writeOldRows(db: Knex): Promise<void> {
  const now = Date.now();
  const shared = blobDigest('old shared');
  await db(TABLES.blobs).insert([
    { digest: shared, size: 1000, touched_at: now },
    { digest: blobDigest('old a'), size: 20, touched_at: now },
    { digest: blobDigest('unlinked'), size: 5, touched_at: now },
  ]);
  await db(TABLES.blobLinks).insert([
    { repository: 'old/a', digest: shared, size: 1000, touched_at: now },
    { repository: 'old/a', digest: blobDigest('old a'), size: 20, touched_at: now },
    { repository: 'old/b', digest: shared, size: 1000, touched_at: now },
  ]);
  const { manifest } = manifestWrite('old/a');
  await db(TABLES.manifests).insert({
    repository: 'old/a',
    digest: manifest.digest,
    media_type: manifest.mediaType,
    size: manifest.size,
    content: Buffer.from(manifest.content),
    created_at: now,
    touched_at: now,
  });
}

/** What the store's counters say, in the shape of `recountUsage`. */
export async function countedUsage(store: MetadataStore): Promise<{ repositories: RepositoryUsage[]; registry: UsageTotals }> {
  return { repositories: await store.listRepositoryUsage({ limit: 1000 }), registry: await store.registryUsage() };
}

/** Pushes, deletes and a collection through the store, then the counters must equal a recount. */
export async function assertCountersAfterWrites(store: MetadataStore, db: Knex): Promise<void> {
  const later = new Date(Date.now() + 60_000);
  await store.linkBlob('old/b', blobDigest('old a'), 20);
  await store.putManifest({ ...manifestWrite('old/b', { blobReferences: [blobDigest('old shared')] }), tag: 'latest' });
  await store.unlinkBlob('old/a', blobDigest('old a'));
  await store.markReachableManifests();
  await store.sweepManifests({ touchedBefore: later, limit: 100 });
  await store.sweepBlobLinks({ touchedBefore: later, limit: 100, keepWithConversions: [] });
  await store.sweepBlobs({ touchedBefore: later, limit: 100 }, async () => undefined);
  assert.deepEqual(await countedUsage(store), await recountUsage(db));
}
