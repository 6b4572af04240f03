// What the S3 store owes beyond the contract: uploads that hop between instances across part boundaries,
// nothing left in the bucket (objects or multipart uploads) after a failed commit, an abort or expiry,
// large blobs published by a multipart copy, and presigned redirects.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, RegistryError } from '@berth/core';
import { chunks, pseudoRandomBytes, readAll } from '@berth/storage-testing';
import type { S3BlobStore } from '../src/index.js';
import { freshStore, type BucketView } from './support/bucket.js';
import { sharedSwift, type SwiftS3 } from './support/swift.js';

const MIB = 1024 * 1024;
let swift: SwiftS3;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  swift = await sharedSwift();
}, 120_000);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function subject(options: Parameters<typeof freshStore>[1] = {}): Promise<{ store: S3BlobStore; sibling: S3BlobStore; view: BucketView }> {
  const { store, view, open } = await freshStore(swift, options);
  const sibling = await open();
  cleanups.push(async () => {
    await view.empty();
    view.close();
    await store.close();
    await sibling.close();
  });
  return { store, sibling, view };
}

/**
 * Commits the upload through `committer` and checks that the blob reads back whole (through `reader`) and is all
 * the bucket holds: no staged piece, no upload session, no multipart upload left.
 */
async function expectPublishedAlone(committer: S3BlobStore, reader: S3BlobStore, view: BucketView, id: string, content: Buffer): Promise<void> {
  const digest = digestOf(content);
  expect(await committer.commitUpload(id, digest)).toEqual({ digest, size: content.length });
  expect((await readAll(await reader.open(digest))).equals(content)).toBe(true);
  expect(await view.keys()).toEqual([`blobs/sha256/${digest.slice('sha256:'.length)}`]);
  expect(await view.multipartUploads()).toEqual([]);
}

async function errorOf(promise: Promise<unknown>): Promise<RegistryError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(RegistryError);
  return error as RegistryError;
}

describe('S3 uploads', () => {
  it('continues an upload through two instances alternately, with chunks below and above 5 MiB', async () => {
    const { store, sibling, view } = await subject();
    const sizes = [1 * MIB, 6 * MIB, 3 * MIB, 9 * MIB + 17, 100_000, 5 * MIB];
    const parts = sizes.map((size, index) => pseudoRandomBytes(size, index + 1));
    const content = Buffer.concat(parts);
    const upload = await store.beginUpload();
    let offset = 0;
    for (const [index, part] of parts.entries()) {
      const instance = index % 2 === 0 ? store : sibling;
      const state = await instance.appendUpload(upload.id, chunks(part.subarray(0, 1000), part.subarray(1000)), offset);
      offset += part.length;
      expect(state.size).toBe(offset);
      expect((await (index % 2 === 0 ? sibling : store).uploadState(upload.id))?.size).toBe(offset);
    }
    // Full parts went to a multipart upload; the rest waits as staged objects in the bucket, not in memory.
    expect(await view.multipartUploads()).toHaveLength(1);
    expect((await view.keys(`uploads/${upload.id}/staged/`)).length).toBeGreaterThan(0);

    await expectPublishedAlone(sibling, store, view, upload.id, content);
  }, 60_000);

  it('stores an append of many parts after the staged bytes, in order, and leaves the upload as it was when one fails', async () => {
    const { store, sibling, view } = await subject({ partSize: 5 * MIB });
    const head = pseudoRandomBytes(2 * MIB + 3, 7);
    const body = pseudoRandomBytes(23 * MIB + 11, 8);
    const upload = await store.beginUpload();
    await store.appendUpload(upload.id, chunks(head), 0);
    // Parts are stored while the body still arrives: three are under way when this one breaks off.
    async function* brokenOff(): AsyncIterable<Uint8Array> {
      yield body.subarray(0, 16 * MIB);
      throw new Error('the client went away');
    }
    await expect(sibling.appendUpload(upload.id, brokenOff(), head.length)).rejects.toThrow('the client went away');
    expect((await store.uploadState(upload.id))?.size).toBe(head.length);

    const state = await sibling.appendUpload(upload.id, chunks(body.subarray(0, 7 * MIB + 1), body.subarray(7 * MIB + 1)), head.length);
    expect(state.size).toBe(head.length + body.length);
    await expectPublishedAlone(store, store, view, upload.id, Buffer.concat([head, body]));
  }, 90_000);

  it('leaves no object and no multipart upload after a failed verification', async () => {
    const { store, view } = await subject();
    const upload = await store.beginUpload();
    await store.appendUpload(upload.id, chunks(pseudoRandomBytes(9 * MIB, 3)), 0);
    await store.appendUpload(upload.id, chunks('tail'), 9 * MIB);
    expect(await view.multipartUploads()).toHaveLength(1);

    expect((await errorOf(store.commitUpload(upload.id, digestOf('something else')))).code).toBe('DIGEST_INVALID');
    expect(await view.keys()).toEqual([]);
    expect(await view.multipartUploads()).toEqual([]);
    expect(await store.uploadState(upload.id)).toBeUndefined();
  }, 60_000);

  it('aborts with every part and staged object, and expiry purges old uploads and orphans only', async () => {
    const { store, sibling, view } = await subject();
    const aborted = await store.beginUpload();
    await store.appendUpload(aborted.id, chunks(pseudoRandomBytes(8 * MIB + 5, 4)), 0);
    expect(await view.multipartUploads()).toHaveLength(1);
    expect(await sibling.abortUpload(aborted.id)).toBe(true);
    expect(await view.keys()).toEqual([]);
    expect(await view.multipartUploads()).toEqual([]);

    const old = await store.beginUpload();
    await store.appendUpload(old.id, chunks(pseudoRandomBytes(8 * MIB + 5, 5)), 0);
    const cutoff = new Date(Date.now() + 1000);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const young = await store.beginUpload();
    await store.appendUpload(young.id, chunks('young'), 0);

    expect(await sibling.purgeUploads(cutoff)).toEqual([old.id]);
    expect(await store.uploadState(old.id)).toBeUndefined();
    expect((await store.uploadState(young.id))?.size).toBe(5);
    expect((await view.keys()).every((key) => key.startsWith(`uploads/${young.id}/`))).toBe(true);
    expect(await view.multipartUploads()).toEqual([]);
  }, 60_000);

  it('publishes a blob larger than CopyObject may copy with a multipart copy', async () => {
    const { store, view } = await subject({ copyObjectLimit: 6 * MIB });
    const content = pseudoRandomBytes(13 * MIB, 6);
    const upload = await store.beginUpload();
    await store.appendUpload(upload.id, chunks(content), 0);
    const digest = digestOf(content);
    expect(await store.commitUpload(upload.id, digest)).toEqual({ digest, size: content.length });
    expect((await readAll(await store.open(digest))).equals(content)).toBe(true);
    expect(await view.multipartUploads()).toEqual([]);
  }, 60_000);

  it('redirects to a presigned URL only when asked to', async () => {
    const plain = await subject();
    const published = await plain.store.beginUpload();
    await plain.store.appendUpload(published.id, chunks('presigned bytes'), 0);
    const digest = digestOf('presigned bytes');
    await plain.store.commitUpload(published.id, digest);
    expect(await plain.store.redirectUrl(digest)).toBeUndefined();

    const redirecting = await subject({ redirect: true, prefix: plain.view.prefix });
    const url = await redirecting.store.redirectUrl(digest);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.*X-Amz-Signature=/);
    const response = await fetch(url!);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('presigned bytes');
  }, 60_000);
});
