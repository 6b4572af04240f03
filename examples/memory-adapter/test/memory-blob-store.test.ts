// The blob store example proves itself the same way: the blob contract, every group, with an
// inspector that reads the shared space directly.
import { blobStoreContract } from '@berth/storage-testing';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { MemoryBlobSpace, MemoryBlobStore } from '../src/index.js';

blobStoreContract(
  { describe, it, beforeEach, afterEach },
  async () => {
    const space = new MemoryBlobSpace();
    return {
      store: new MemoryBlobStore(space),
      // "Restarting" is a new store object on the same space; a sibling is one more beside it.
      reopen: async () => new MemoryBlobStore(space),
      openSibling: async () => new MemoryBlobStore(space),
      inspect: {
        publishedDigests: async () => [...space.blobs.keys()],
        read: async (digest) => space.blobs.get(digest)?.bytes,
        pendingUploads: async () => space.uploads.size,
      },
    };
  },
  { name: 'in-memory example' },
);
