import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { digestOf } from '@berth/core';
import { openFsBlobStore } from '../src/index.js';
import { chunks, tmpRoot } from './helpers.js';

describe('FsBlobStore uploads', () => {
  // The upload behaviour every BlobStore owes (offsets, 416, verification, restarts, concurrency, rollback,
  // abort) is proven by @berth/storage-testing's contract against FsBlobStore; here only this store's own.
  it('does not trust its own running hash once another store appended to the upload', async () => {
    const root = await tmpRoot();
    const a = await openFsBlobStore({ root });
    const b = await openFsBlobStore({ root });
    const upload = await a.beginUpload();
    await a.appendUpload(upload.id, chunks('from a; '), 0);
    await b.appendUpload(upload.id, chunks('from b'), 8);
    // a's in-memory hash covers only its own 8 bytes; the commit must hash what is on disk.
    const digest = digestOf('from a; from b');
    expect(await a.commitUpload(upload.id, digest)).toEqual({ digest, size: 14 });
  });

  it('lists and purges uploads begun before a date', async () => {
    const root = await tmpRoot();
    const store = await openFsBlobStore({ root });
    const old = await store.beginUpload();
    const cutoff = new Date(old.startedAt.getTime() + 1);
    // A second upload stamped after the cutoff, whatever the clock resolution.
    let young = await store.beginUpload();
    while (young.startedAt < cutoff) {
      await store.abortUpload(young.id);
      young = await store.beginUpload();
    }

    expect((await store.uploadsOlderThan(cutoff)).map((state) => state.id)).toEqual([old.id]);
    expect(await store.purgeUploads(cutoff)).toEqual([old.id]);
    expect(await store.uploadState(old.id)).toBeUndefined();
    expect(await store.uploadState(young.id)).toMatchObject({ id: young.id, size: 0 });
    expect(await readdir(join(root, 'uploads'))).toEqual([young.id]);
  });
});
