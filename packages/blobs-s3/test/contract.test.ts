// The whole blob store contract against the S3 store on a real Swift (its s3api), each test under a
// fresh prefix of the shared bucket; reopen and openSibling are new store objects, as other instances.
import { afterEach, beforeAll, beforeEach, describe, it, vi } from 'vitest';
import { blobStoreContract } from '@berth/storage-testing';
import { freshStore } from './support/bucket.js';
import { sharedSwift, type SwiftS3 } from './support/swift.js';

// Each contract step is many S3 round trips to a Swift on the same machine: under load (CI runs suites side by
// side) the listing group alone took 5.7 s, past vitest's default 5 s.
vi.setConfig({ testTimeout: 30_000 });

let swift: SwiftS3;
beforeAll(async () => {
  swift = await sharedSwift();
}, 120_000);

blobStoreContract(
  { describe, it, beforeEach, afterEach },
  async () => {
    const { store, view, open } = await freshStore(swift);
    const opened = [store];
    const another = async () => {
      const next = await open();
      opened.push(next);
      return next;
    };
    return {
      store,
      reopen: another,
      openSibling: another,
      inspect: view.inspector(),
      dispose: async () => {
        await view.empty();
        view.close();
        await Promise.all(opened.map((each) => each.close()));
      },
    };
  },
  { name: 'S3 (Swift s3api)' },
);
