import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { digestOf } from '@berth/core';
import { createFsBlobStore } from '../src/index.js';
import { chunks, filesUnder, readAll, registryErrorOf, tmpRoot } from './helpers.js';

describe('FsBlobStore uploads', () => {
  it('accepts chunked appends, each starting where the last ended', async () => {
    const store = await createFsBlobStore({ root: await tmpRoot() });
    const parts = [randomBytes(1000), randomBytes(1), randomBytes(70_000)];
    const content = Buffer.concat(parts);
    const upload = await store.beginUpload();

    let offset = 0;
    for (const part of parts) {
      // Each append's body is itself several small chunks.
      const state = await store.appendUpload(upload.id, chunks(part.subarray(0, 1), part.subarray(1)), offset);
      offset += part.length;
      expect(state).toEqual({ id: upload.id, size: offset, startedAt: upload.startedAt });
      expect(await store.uploadState(upload.id)).toEqual(state);
    }
    const digest = digestOf(content);
    expect(await store.commitUpload(upload.id, digest)).toEqual({ digest, size: content.length });
    expect(digestOf(await readAll(await store.open(digest)))).toBe(digestOf(content));
  });

  it('answers a wrong offset with 416 and the inclusive Range held', async () => {
    const store = await createFsBlobStore({ root: await tmpRoot() });
    const upload = await store.beginUpload();

    const empty = await registryErrorOf(store.appendUpload(upload.id, chunks('x'), 3));
    expect(empty).toMatchObject({ code: 'BLOB_UPLOAD_INVALID', status: 416, headers: { Range: '0-0' } });

    await store.appendUpload(upload.id, chunks('hello'), 0);
    for (const offset of [0, 4, 6]) {
      const error = await registryErrorOf(store.appendUpload(upload.id, chunks('!'), offset));
      expect(error).toMatchObject({ code: 'BLOB_UPLOAD_INVALID', status: 416, headers: { Range: '0-4' } });
    }
    // The rejected appends changed nothing.
    expect((await store.uploadState(upload.id))?.size).toBe(5);
    expect(await store.commitUpload(upload.id, digestOf('hello'))).toEqual({ digest: digestOf('hello'), size: 5 });
  });

  it('treats unknown, finished and malformed upload ids as unknown', async () => {
    const store = await createFsBlobStore({ root: await tmpRoot() });
    const committed = await store.beginUpload();
    await store.commitUpload(committed.id, digestOf(''));
    const aborted = await store.beginUpload();
    expect(await store.abortUpload(aborted.id)).toBe(true);

    for (const id of [committed.id, aborted.id, '00000000-0000-4000-8000-000000000000', '../blobs', '']) {
      expect(await store.uploadState(id)).toBeUndefined();
      expect((await registryErrorOf(store.appendUpload(id, chunks('x'), 0))).code).toBe('BLOB_UPLOAD_UNKNOWN');
      expect((await registryErrorOf(store.commitUpload(id, digestOf('')))).code).toBe('BLOB_UPLOAD_UNKNOWN');
      expect(await store.abortUpload(id)).toBe(false);
    }
  });

  it('on a digest mismatch removes the upload and publishes nothing', async () => {
    const root = await tmpRoot();
    const store = await createFsBlobStore({ root });
    const upload = await store.beginUpload();
    await store.appendUpload(upload.id, chunks('actual bytes'), 0);
    const claimed = digestOf('other bytes');

    const error = await registryErrorOf(store.commitUpload(upload.id, claimed));
    expect(error.code).toBe('DIGEST_INVALID');
    expect(await store.uploadState(upload.id)).toBeUndefined();
    expect(await store.stat(claimed)).toBeUndefined();
    expect(await store.stat(digestOf('actual bytes'))).toBeUndefined();
    expect(await filesUnder(root)).toEqual([]);
  });

  it('rejects an invalid digest string with DIGEST_INVALID and keeps the upload', async () => {
    const store = await createFsBlobStore({ root: await tmpRoot() });
    const upload = await store.beginUpload();
    await store.appendUpload(upload.id, chunks('abc'), 0);
    expect((await registryErrorOf(store.commitUpload(upload.id, 'sha256:nothex'))).code).toBe('DIGEST_INVALID');
    expect((await store.uploadState(upload.id))?.size).toBe(3);
  });

  it('verifies and publishes under a sha512 digest', async () => {
    const store = await createFsBlobStore({ root: await tmpRoot() });
    const content = randomBytes(50_000);
    const upload = await store.beginUpload();
    await store.appendUpload(upload.id, chunks(content.subarray(0, 10)), 0);
    await store.appendUpload(upload.id, chunks(content.subarray(10)), 10);
    const digest = digestOf(content, 'sha512');
    expect(await store.commitUpload(upload.id, digest)).toEqual({ digest, size: content.length });
    expect(await store.stat(digest)).toEqual({ digest, size: content.length });
    expect(await store.stat(digestOf(content))).toBeUndefined();
    expect(digestOf(await readAll(await store.open(digest)))).toBe(digestOf(content));

    const wrong = await store.beginUpload();
    await store.appendUpload(wrong.id, chunks(content), 0);
    const mismatch = digestOf(Buffer.concat([content, Buffer.from('!')]), 'sha512');
    expect((await registryErrorOf(store.commitUpload(wrong.id, mismatch))).code).toBe('DIGEST_INVALID');
  });

  it('continues an upload after a restart (a new store on the same root)', async () => {
    const root = await tmpRoot();
    const first = await createFsBlobStore({ root });
    const upload = await first.beginUpload();
    await first.appendUpload(upload.id, chunks('before restart, '), 0);

    const second = await createFsBlobStore({ root });
    const state = await second.uploadState(upload.id);
    expect(state).toEqual({ id: upload.id, size: 16, startedAt: upload.startedAt });
    await second.appendUpload(upload.id, chunks('after restart'), 16);
    const digest = digestOf('before restart, after restart');
    expect(await second.commitUpload(upload.id, digest)).toEqual({ digest, size: 29 });
    expect((await readAll(await first.open(digest))).toString()).toBe('before restart, after restart');
  });

  it('does not trust its own running hash once another store appended to the upload', async () => {
    const root = await tmpRoot();
    const a = await createFsBlobStore({ root });
    const b = await createFsBlobStore({ root });
    const upload = await a.beginUpload();
    await a.appendUpload(upload.id, chunks('from a; '), 0);
    await b.appendUpload(upload.id, chunks('from b'), 8);
    // a's in-memory hash covers only its own 8 bytes; the commit must hash what is on disk.
    const digest = digestOf('from a; from b');
    expect(await a.commitUpload(upload.id, digest)).toEqual({ digest, size: 14 });
  });

  it('runs concurrent appends to one upload one after another, in call order', async () => {
    const store = await createFsBlobStore({ root: await tmpRoot() });
    const parts = Array.from({ length: 8 }, () => randomBytes(40_000));
    const upload = await store.beginUpload();

    // Started together, each at the offset the previous one will leave: all must succeed, in order.
    const offsets = parts.map((_, i) => i * 40_000);
    const states = await Promise.all(parts.map((part, i) => store.appendUpload(upload.id, slowly(part), offsets[i]!)));
    expect(states.map((state) => state.size)).toEqual(offsets.map((offset) => offset + 40_000));

    const content = Buffer.concat(parts);
    const digest = digestOf(content);
    expect(await store.commitUpload(upload.id, digest)).toEqual({ digest, size: content.length });
    expect(digestOf(await readAll(await store.open(digest)))).toBe(digestOf(content));
  });

  it('lets exactly one of two concurrent appends at the same offset win', async () => {
    const store = await createFsBlobStore({ root: await tmpRoot() });
    const upload = await store.beginUpload();
    const results = await Promise.allSettled([
      store.appendUpload(upload.id, slowly(Buffer.from('first writer')), 0),
      store.appendUpload(upload.id, slowly(Buffer.from('second writer')), 0),
    ]);
    expect(results[0]).toMatchObject({ status: 'fulfilled', value: { size: 12 } });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { status: 416, headers: { Range: '0-11' } } });
    expect(await store.commitUpload(upload.id, digestOf('first writer'))).toMatchObject({ size: 12 });
  });

  it('rolls a chunk whose body errors midway back to the old offset, and rethrows', async () => {
    const store = await createFsBlobStore({ root: await tmpRoot() });
    const upload = await store.beginUpload();
    await store.appendUpload(upload.id, chunks('kept|'), 0);

    const disconnect = new Error('client disconnected');
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('partial bytes that were written ');
      yield randomBytes(100_000);
      throw disconnect;
    }
    await expect(store.appendUpload(upload.id, failing(), 5)).rejects.toBe(disconnect);
    expect((await store.uploadState(upload.id))?.size).toBe(5);

    // The client resends the chunk at the same offset; the failed bytes are in neither file nor hash.
    await store.appendUpload(upload.id, chunks('resent'), 5);
    const digest = digestOf('kept|resent');
    expect(await store.commitUpload(upload.id, digest)).toEqual({ digest, size: 11 });
  });

  it('aborts an upload, leaving nothing behind', async () => {
    const root = await tmpRoot();
    const store = await createFsBlobStore({ root });
    const upload = await store.beginUpload();
    await store.appendUpload(upload.id, chunks('discard me'), 0);
    expect(await store.abortUpload(upload.id)).toBe(true);
    expect(await store.abortUpload(upload.id)).toBe(false);
    expect(await store.uploadState(upload.id)).toBeUndefined();
    expect(await filesUnder(root)).toEqual([]);
  });

  it('lists and purges uploads begun before a date', async () => {
    const root = await tmpRoot();
    const store = await createFsBlobStore({ root });
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

/** A body that yields to the event loop between small pieces, so concurrent appends really overlap. */
async function* slowly(bytes: Buffer): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += 4096) {
    await new Promise((resolve) => setImmediate(resolve));
    yield bytes.subarray(offset, offset + 4096);
  }
}
