// The blob store contract against the filesystem store, with an inspector that reads the store's
// directory itself (the layout is FsBlobStore's: blobs/<algorithm>/<xx>/<hex>, uploads/<id>/).
import { readdir, readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFsBlobStore } from '@berth/blobs-fs';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { blobStoreContract, type BlobInspector } from '../src/index.js';

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

function fsInspector(root: string): BlobInspector {
  const blobs = join(root, 'blobs');
  return {
    async publishedDigests() {
      const digests: string[] = [];
      for (const algorithm of await entries(blobs)) {
        for (const prefix of await entries(join(blobs, algorithm))) {
          for (const hex of await entries(join(blobs, algorithm, prefix))) digests.push(`${algorithm}:${hex}`);
        }
      }
      return digests;
    },
    async read(digest) {
      const [algorithm = '', hex = ''] = digest.split(':');
      try {
        return await readFile(join(blobs, algorithm, hex.slice(0, 2), hex));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    pendingUploads: async () => (await entries(join(root, 'uploads'))).length,
  };
}

blobStoreContract(
  { describe, it, beforeEach, afterEach },
  async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-blob-contract-'));
    return {
      store: await openFsBlobStore({ root }),
      reopen: () => openFsBlobStore({ root }),
      openSibling: () => openFsBlobStore({ root }),
      inspect: fsInspector(root),
      dispose: () => rm(root, { recursive: true, force: true }),
    };
  },
  { name: 'filesystem' },
);
