import { randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { markAsUntransferable } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { digestOf, handOverChunks } from '@berth/core';
import { openFsBlobStore } from '../src/index.js';
import { BatchedFileWriter } from '../src/batched-file-writer.js';
import { releaseChunk } from '../src/release-chunk.js';
import { WriteBufferPool } from '../src/write-buffer-pool.js';
import { readAll, tmpRoot } from './helpers.js';

const KiB = 1024;

/** Chunks that each own their memory, as Node's HTTP/1 parser hands them to a request. */
function ownChunks(bytes: Buffer, size: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) {
    const part = Buffer.allocUnsafeSlow(Math.min(size, bytes.length - offset));
    bytes.copy(part, 0, offset);
    parts.push(part);
  }
  return parts;
}

async function* asAsync(parts: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* parts;
}

describe('handed-over chunks', () => {
  it('releaseChunk frees a chunk that owns its memory, and leaves views, shared and untransferable memory alone', () => {
    const own = Buffer.allocUnsafeSlow(64 * KiB).fill(1);
    releaseChunk(own);
    expect(own.byteLength).toBe(0);

    const whole = Buffer.allocUnsafeSlow(64 * KiB).fill(2);
    const view = whole.subarray(KiB, 2 * KiB);
    releaseChunk(view);
    expect([view.byteLength, whole.byteLength, view[0]]).toEqual([KiB, 64 * KiB, 2]);

    const small = Buffer.from('from the shared 8 KiB pool');
    releaseChunk(small);
    expect(small.toString()).toBe('from the shared 8 KiB pool');

    const shared = new Uint8Array(new SharedArrayBuffer(KiB)).fill(3);
    releaseChunk(shared);
    expect([shared.byteLength, shared[0]]).toEqual([KiB, 3]);

    const pinned = Buffer.allocUnsafeSlow(KiB).fill(4);
    markAsUntransferable(pinned.buffer);
    releaseChunk(pinned);
    expect([pinned.byteLength, pinned[0]]).toEqual([KiB, 4]);
  });

  it('BatchedFileWriter releases each chunk once copied (crowded) or written (alone), and only when told to', async () => {
    for (const { crowded, releaseChunks } of [
      { crowded: true, releaseChunks: true },
      { crowded: false, releaseChunks: true },
      { crowded: true, releaseChunks: false },
      { crowded: false, releaseChunks: false },
    ]) {
      const path = join(await tmpRoot(), 'data');
      const handle = await open(path, 'w+');
      try {
        const body = randomBytes(300 * KiB + 17);
        const parts = ownChunks(body, 64 * KiB);
        // A zero budget makes every writer copy into small buffers; a roomy one lets it gather chunks for writev.
        const pool = crowded
          ? new WriteBufferPool({ budgetBytes: 0, largestBytes: 16 * KiB, smallestBytes: 16 * KiB })
          : new WriteBufferPool({ budgetBytes: 4 * 1024 * KiB, largestBytes: 128 * KiB });
        const writer = new BatchedFileWriter(handle, 0, { pool, releaseChunks });
        for (const part of parts) await writer.write(part);
        expect(await writer.end()).toBe(body.length);
        expect(Buffer.compare(await readFile(path), body)).toBe(0);
        if (releaseChunks) expect(parts.every((part) => part.byteLength === 0)).toBe(true);
        else expect(Buffer.compare(Buffer.concat(parts), body)).toBe(0);
      } finally {
        await handle.close();
      }
    }
  });

  it('FsBlobStore stores a handed-over body byte for byte and frees its chunks; any other body is left as it was', async () => {
    const store = await openFsBlobStore({ root: await tmpRoot() });
    const content = randomBytes(2 * 1024 * KiB + 5);
    const digest = digestOf(content);

    const handedOver = ownChunks(content, 64 * KiB);
    const first = await store.beginUpload();
    await store.appendUpload(first.id, handOverChunks(asAsync(handedOver)), 0);
    expect(handedOver.every((part) => part.byteLength === 0)).toBe(true);
    expect(await store.commitUpload(first.id, digest)).toEqual({ digest, size: content.length });
    expect(Buffer.compare(await readAll(await store.open(digest)), content)).toBe(0);

    const kept = ownChunks(content, 64 * KiB);
    const second = await store.beginUpload();
    await store.appendUpload(second.id, asAsync(kept), 0);
    expect(Buffer.compare(Buffer.concat(kept), content)).toBe(0);
    expect(await store.commitUpload(second.id, digest)).toEqual({ digest, size: content.length });
  });
});
