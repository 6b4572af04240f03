import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { digestOf } from '@berth/core';
import { openFsBlobStore } from '../src/index.js';
import { chunks, filesUnder, readAll, tmpRoot } from './helpers.js';

describe('FsBlobStore blobs', () => {
  // Behaviour every BlobStore owes is proven by @berth/storage-testing's contract, which runs against
  // FsBlobStore (packages/storage-testing/test/fs-blob-store.test.ts); here only what is this store's own.
  it('round-trips a blob through an upload, stored under blobs/<alg>/<xx>/<hex>', async () => {
    const root = await tmpRoot();
    const store = await openFsBlobStore({ root });
    const content = randomBytes(100_000);
    const digest = digestOf(content);

    const upload = await store.beginUpload();
    expect(upload.size).toBe(0);
    expect(upload.id).toMatch(/^[0-9a-f-]{36}$/);
    const appended = await store.appendUpload(upload.id, chunks(content), 0);
    expect(appended.size).toBe(content.length);

    expect(await store.commitUpload(upload.id, digest)).toEqual({ digest, size: content.length });
    expect(await store.stat(digest)).toEqual({ digest, size: content.length });
    expect(digestOf(await readAll(await store.open(digest)))).toBe(digestOf(content));

    const hex = digest.slice('sha256:'.length);
    expect(await filesUnder(root)).toEqual([join('blobs', 'sha256', hex.slice(0, 2), hex)]);
    expect(await store.uploadState(upload.id)).toBeUndefined();
  });
});
