import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { digestOf } from '@berth/core';
import { createFsBlobStore } from '../src/index.js';
import { chunks, filesUnder, readAll, registryErrorOf, tmpRoot } from './helpers.js';

describe('FsBlobStore blobs', () => {
  it('round-trips a blob through an upload, stored under blobs/<alg>/<xx>/<hex>', async () => {
    const root = await tmpRoot();
    const store = await createFsBlobStore({ root });
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

  it('stores the empty blob', async () => {
    const store = await createFsBlobStore({ root: await tmpRoot() });
    const upload = await store.beginUpload();
    const digest = digestOf(new Uint8Array(0));
    expect(await store.commitUpload(upload.id, digest)).toEqual({ digest, size: 0 });
    expect(await readAll(await store.open(digest))).toEqual(Buffer.alloc(0));
  });

  it('reads inclusive ranges and clamps an end past the blob', async () => {
    const store = await createFsBlobStore({ root: await tmpRoot() });
    const content = Buffer.from('0123456789');
    const digest = digestOf(content);
    const upload = await store.beginUpload();
    await store.appendUpload(upload.id, chunks(content), 0);
    await store.commitUpload(upload.id, digest);

    expect((await readAll(await store.open(digest, { start: 2, end: 5 }))).toString()).toBe('2345');
    expect((await readAll(await store.open(digest, { start: 9, end: 9 }))).toString()).toBe('9');
    expect((await readAll(await store.open(digest, { start: 7, end: 100 }))).toString()).toBe('789');

    const unsatisfiable = await registryErrorOf(store.open(digest, { start: 10, end: 12 }));
    expect(unsatisfiable.status).toBe(416);
    expect(unsatisfiable.headers['Content-Range']).toBe('bytes */10');
    expect((await registryErrorOf(store.open(digest, { start: 5, end: 4 }))).status).toBe(416);
  });

  it('answers undefined for a missing blob and deletes once', async () => {
    const store = await createFsBlobStore({ root: await tmpRoot() });
    const content = Buffer.from('to be deleted');
    const digest = digestOf(content);
    expect(await store.stat(digest)).toBeUndefined();
    expect(await store.open(digest)).toBeUndefined();
    expect(await store.delete(digest)).toBe(false);

    const upload = await store.beginUpload();
    await store.appendUpload(upload.id, chunks(content), 0);
    await store.commitUpload(upload.id, digest);
    expect(await store.delete(digest)).toBe(true);
    expect(await store.delete(digest)).toBe(false);
    expect(await store.stat(digest)).toBeUndefined();
    expect(await store.open(digest)).toBeUndefined();
  });

  it('keeps serving an open stream after the blob is deleted', async () => {
    const store = await createFsBlobStore({ root: await tmpRoot() });
    const content = randomBytes(300_000);
    const digest = digestOf(content);
    const upload = await store.beginUpload();
    await store.appendUpload(upload.id, chunks(content), 0);
    await store.commitUpload(upload.id, digest);

    const stream = await store.open(digest);
    await store.delete(digest);
    expect(digestOf(await readAll(stream))).toBe(digestOf(content));
  });

  it('rejects malformed or unsupported digests with DIGEST_INVALID', async () => {
    const store = await createFsBlobStore({ root: await tmpRoot() });
    for (const bad of ['sha256:abc', 'md5:' + 'a'.repeat(32), 'sha256:../../etc', 'nonsense']) {
      expect((await registryErrorOf(store.stat(bad))).code).toBe('DIGEST_INVALID');
      expect((await registryErrorOf(store.open(bad))).code).toBe('DIGEST_INVALID');
      expect((await registryErrorOf(store.delete(bad))).code).toBe('DIGEST_INVALID');
    }
  });

  it('publishing content that already exists just drops the second upload', async () => {
    const root = await tmpRoot();
    const store = await createFsBlobStore({ root });
    const content = Buffer.from('same bytes twice');
    const digest = digestOf(content);
    for (let i = 0; i < 2; i++) {
      const upload = await store.beginUpload();
      await store.appendUpload(upload.id, chunks(content), 0);
      expect(await store.commitUpload(upload.id, digest)).toEqual({ digest, size: content.length });
      expect(await store.uploadState(upload.id)).toBeUndefined();
    }
    expect(digestOf(await readAll(await store.open(digest)))).toBe(digestOf(content));
    expect(await filesUnder(join(root, 'uploads'))).toEqual([]);
  });
});
