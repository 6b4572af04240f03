// S3 gone (Swift's proxy killed): every operation is a 503 UNAVAILABLE, an upload in progress keeps what it
// had, and once the proxy is back the same store objects carry on. A Swift of this file's own, since the
// proxy is killed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, RegistryError } from '@berth/core';
import { chunks, readAll } from '@berth/storage-testing';
import { freshStore, type BucketView } from './support/bucket.js';
import { startSwift, type SwiftServer } from './support/swift.js';
import type { S3BlobStore } from '../src/index.js';

let swift: SwiftServer;
let store: S3BlobStore;
let view: BucketView;

beforeAll(async () => {
  swift = await startSwift();
  // One attempt per request: the SDK's retries only make the outage slower to report.
  ({ store, view } = await freshStore(swift, { maxAttempts: 1 }));
}, 120_000);

afterAll(async () => {
  await store?.close();
  view?.close();
  await swift?.stop();
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(RegistryError);
  expect((error as RegistryError).status).toBe(503);
  return (error as RegistryError).code;
}

describe('S3 unreachable', () => {
  it('answers 503 UNAVAILABLE while Swift is down and works again once it is back', async () => {
    const kept = await store.beginUpload();
    await store.appendUpload(kept.id, chunks('before the outage|'), 0);
    const digest = digestOf('before the outage|');
    const published = await store.beginUpload();
    await store.appendUpload(published.id, chunks('before the outage|'), 0);
    await store.commitUpload(published.id, digest);

    await swift.killProxy();
    expect(await codeOf(store.ping())).toBe('UNAVAILABLE');
    expect(await codeOf(store.stat(digest))).toBe('UNAVAILABLE');
    expect(await codeOf(store.open(digest))).toBe('UNAVAILABLE');
    expect(await codeOf(store.beginUpload())).toBe('UNAVAILABLE');
    expect(await codeOf(store.uploadState(kept.id))).toBe('UNAVAILABLE');
    expect(await codeOf(store.appendUpload(kept.id, chunks('lost'), 18))).toBe('UNAVAILABLE');
    expect(await codeOf(store.commitUpload(kept.id, digestOf('before the outage|lost')))).toBe('UNAVAILABLE');
    expect(await codeOf(store.delete(digest))).toBe('UNAVAILABLE');

    await swift.startProxy();
    await store.ping();
    // The failed append changed nothing: the upload goes on from where it was.
    expect((await store.uploadState(kept.id))?.size).toBe(18);
    await store.appendUpload(kept.id, chunks('after'), 18);
    const whole = digestOf('before the outage|after');
    expect(await store.commitUpload(kept.id, whole)).toEqual({ digest: whole, size: 23 });
    expect((await readAll(await store.open(whole))).toString()).toBe('before the outage|after');
    expect(await store.stat(digest)).toEqual({ digest, size: 18 });
  }, 60_000);
});
