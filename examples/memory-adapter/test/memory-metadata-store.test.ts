// How an adapter proves itself: hand the contract suite the runner's functions and a factory that
// opens a fresh store. This store also offers what the optional groups need, so every group runs.
import { metadataStoreContract, type MetadataInspector } from '@berth/storage-testing';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { MemoryDatabase, MemoryMetadataStore } from '../src/index.js';
import { rowKey, splitRowKey } from '../src/memory-database.js';

/** Reads the database's rows directly, never through a store. */
function inspectorOf(db: MemoryDatabase): MetadataInspector {
  const ofRepository = <T>(table: Map<string, T>, repository: string) =>
    Object.fromEntries([...table].filter(([key]) => splitRowKey(key)[0] === repository).map(([key, value]) => [splitRowKey(key)[1], value]));
  return {
    manifest: async (repository, digest) => {
      const row = db.manifests.get(rowKey(repository, digest));
      return row === undefined ? undefined : { mediaType: row.mediaType, size: row.size, content: row.content };
    },
    references: async (repository, digest) =>
      [...(db.manifests.get(rowKey(repository, digest))?.references ?? [])].map(([referenced, kind]) => ({ digest: referenced, kind })),
    tags: async (repository) => ofRepository(db.tags, repository),
    blobLinks: async (repository) => ofRepository(db.blobLinks, repository),
    uploadSession: async (id) => {
      const row = db.uploadSessions.get(id);
      return row === undefined ? undefined : { repository: row.repository, startedAt: new Date(row.startedAt) };
    },
    convertedManifests: async (repository) =>
      Object.fromEntries([...db.convertedManifests.values()].filter((row) => row.repository === repository).map((row) => [row.digest, row.sourceDigest])),
    setting: async (key) => db.settings.get(key),
  };
}

metadataStoreContract(
  { describe, it, beforeEach, afterEach },
  async () => {
    const db = new MemoryDatabase();
    const store = new MemoryMetadataStore(db);
    return {
      store,
      // "Restarting" is a new store object on the same database; a sibling is one more beside it.
      reopen: async () => {
        await store.close();
        return new MemoryMetadataStore(db);
      },
      openSibling: async () => new MemoryMetadataStore(db),
      inspect: inspectorOf(db),
    };
  },
  // No mirrorCache: a registry on this store keeps the mirror's records in memory.
  { name: 'in-memory example', skip: ['mirror-cache'] },
);
