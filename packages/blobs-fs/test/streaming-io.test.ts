import { randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { digestOf } from '@berth/core';
import { openFsBlobStore } from '../src/index.js';
import { BatchedFileWriter } from '../src/batched-file-writer.js';
import { WriteBufferPool } from '../src/write-buffer-pool.js';
import { chunks, readAll, registryErrorOf, tmpRoot } from './helpers.js';

const MiB = 1024 * 1024;

/** Splits bytes into pieces of the given sizes, cycling through them. */
function* pieces(bytes: Buffer, sizes: number[]): Generator<Buffer> {
  let offset = 0;
  for (let i = 0; offset < bytes.length; i++) {
    const size = sizes[i % sizes.length]!;
    yield bytes.subarray(offset, offset + size);
    offset += size;
  }
}

async function* asAsync(parts: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* parts;
}

describe('FsBlobStore streaming writes', () => {
  it('stores an upload sent as thousands of tiny chunks and a few large ones, byte for byte', async () => {
    const store = await openFsBlobStore({ root: await tmpRoot() });
    // Tiny chunks exceed the per-batch buffer count; large ones exceed the batch size.
    const content = Buffer.concat([randomBytes(20_000), randomBytes(9 * MiB + 7), randomBytes(3_000)]);
    const parts = [
      ...pieces(content.subarray(0, 20_000), [1, 3, 7]),
      ...pieces(content.subarray(20_000, 20_000 + 9 * MiB + 7), [5 * MiB, 4 * MiB + 7]),
      ...pieces(content.subarray(20_000 + 9 * MiB + 7), [1000]),
    ];
    const upload = await store.beginUpload();
    expect((await store.appendUpload(upload.id, asAsync(parts), 0)).size).toBe(content.length);
    const digest = digestOf(content);
    expect(await store.commitUpload(upload.id, digest)).toEqual({ digest, size: content.length });
    expect(Buffer.compare(await readAll(await store.open(digest)), content)).toBe(0);
  });

  it('keeps an upload as it was when its body fails after several batches, and accepts the chunk again', async () => {
    const store = await openFsBlobStore({ root: await tmpRoot() });
    const first = randomBytes(MiB);
    const second = randomBytes(10 * MiB);
    const upload = await store.beginUpload();
    await store.appendUpload(upload.id, chunks(first), 0);

    async function* failingBody(): AsyncGenerator<Uint8Array> {
      yield* pieces(second.subarray(0, 9 * MiB), [MiB]);
      throw new Error('client went away');
    }
    await expect(store.appendUpload(upload.id, failingBody(), first.length)).rejects.toThrow('client went away');
    expect((await store.uploadState(upload.id))?.size).toBe(first.length);

    await store.appendUpload(upload.id, asAsync(pieces(second, [64 * 1024])), first.length);
    const content = Buffer.concat([first, second]);
    const digest = digestOf(content);
    expect(await store.commitUpload(upload.id, digest)).toEqual({ digest, size: content.length });
    expect(Buffer.compare(await readAll(await store.open(digest)), content)).toBe(0);
  });

  it('BatchedFileWriter writes from its start position, flushing in the background as it goes', async () => {
    const path = join(await tmpRoot(), 'data');
    const handle = await open(path, 'w+');
    try {
      await handle.write(Buffer.from('head:'), 0, 5, 0);
      const pool = new WriteBufferPool({ largestBytes: 1000 });
      const writer = new BatchedFileWriter(handle, 5, { pool, flushEveryBytes: 2000 });
      const body = randomBytes(50_000);
      for (const part of pieces(body, [1, 999, 1500, 300])) await writer.write(part);
      expect(await writer.end()).toBe(5 + body.length);
      expect(Buffer.compare(await readFile(path), Buffer.concat([Buffer.from('head:'), body]))).toBe(0);
    } finally {
      await handle.close();
    }
  });

  it('BatchedFileWriter reports a failed write to the caller', async () => {
    const path = join(await tmpRoot(), 'data');
    const handle = await open(path, 'w');
    const pool = new WriteBufferPool({ largestBytes: 10, budgetBytes: 100 });
    const writer = new BatchedFileWriter(handle, 0, { pool });
    await handle.close(); // every write now fails with EBADF
    await writer.write(randomBytes(10));
    await expect(
      (async () => {
        await writer.write(randomBytes(10));
        await writer.end();
      })(),
    ).rejects.toThrow();
    // The failed writer gave its buffers and its reservation back: a new writer gets the full size again.
    expect(pool.lease().size).toBe(10);
  });

  it('BatchedFileWriter in a crowded pool copies each chunk, so the caller may reuse it as soon as write returns', async () => {
    const path = join(await tmpRoot(), 'data');
    const handle = await open(path, 'w+');
    try {
      const body = randomBytes(10_000);
      // No budget: every writer is one too many, and copies into 1 KiB buffers.
      const pool = new WriteBufferPool({ budgetBytes: 0, largestBytes: 4096, smallestBytes: 1024 });
      const writer = new BatchedFileWriter(handle, 0, { pool });
      // One scratch buffer refilled for every piece, as a socket reader reusing its buffer would.
      const scratch = Buffer.alloc(700);
      for (let offset = 0; offset < body.length; offset += scratch.length) {
        const length = body.copy(scratch, 0, offset, offset + scratch.length);
        await writer.write(scratch.subarray(0, length));
        scratch.fill(0);
      }
      expect(await writer.end()).toBe(body.length);
      expect(Buffer.compare(await readFile(path), body)).toBe(0);
    } finally {
      await handle.close();
    }
  });

  it('WriteBufferPool gives a lone writer the largest batches without copies and many writers at once the smallest, copied', () => {
    const pool = new WriteBufferPool({ budgetBytes: 8 * MiB, largestBytes: MiB, smallestBytes: 64 * 1024 });
    const first = Array.from({ length: 4 }, () => pool.lease());
    expect(first.map((lease) => [lease.size, lease.copies])).toEqual(Array(4).fill([MiB, false]));
    const crowd = Array.from({ length: 100 }, () => pool.lease());
    expect(new Set(crowd.map((lease) => `${lease.size} ${lease.copies}`))).toEqual(new Set([`${64 * 1024} true`]));
    for (const lease of [...first, ...crowd]) lease.release();
    expect(pool.lease().size).toBe(MiB);
  });

  it('WriteBufferPool hands the same buffers out again once they are given back', () => {
    const pool = new WriteBufferPool({ budgetBytes: 4 * MiB, largestBytes: MiB });
    const lease = pool.lease();
    const taken = [lease.take(), lease.take()];
    expect(lease.overBudget()).toBe(false);
    for (const buffer of taken) lease.give(buffer);
    lease.release();
    const again = pool.lease();
    expect(new Set([again.take(), again.take()])).toEqual(new Set(taken));
  });

  it('WriteBufferPool says it is over budget while more buffers are out than the budget allows', () => {
    const pool = new WriteBufferPool({ budgetBytes: 2 * MiB, largestBytes: MiB });
    const lease = pool.lease();
    const taken = [lease.take(), lease.take()];
    expect(lease.overBudget()).toBe(false);
    const third = lease.take();
    expect(lease.overBudget()).toBe(true);
    lease.give(third);
    expect(lease.overBudget()).toBe(false);
    for (const buffer of taken) lease.give(buffer);
  });
});

describe('FsBlobStore concurrent uploads', () => {
  it('stores many uploads streamed at once, byte for byte, whichever buffer size each was given', async () => {
    const store = await openFsBlobStore({ root: await tmpRoot() });
    // More uploads than the default budget has large batches for: some gather 1 MiB batches, the rest copy into 64 KiB.
    const contents = Array.from({ length: 24 }, (_, index) => randomBytes(2 * MiB + index * 4099));
    const uploads = await Promise.all(contents.map(() => store.beginUpload()));
    async function* trickle(content: Buffer): AsyncGenerator<Uint8Array> {
      for (const piece of pieces(content, [64 * 1024, 13, 200_000])) {
        yield piece;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    const appended = await Promise.all(uploads.map((upload, index) => store.appendUpload(upload.id, trickle(contents[index]!), 0)));
    expect(appended.map((state) => state.size)).toEqual(contents.map((content) => content.length));
    for (const [index, content] of contents.entries()) {
      const digest = digestOf(content);
      expect(await store.commitUpload(uploads[index]!.id, digest)).toEqual({ digest, size: content.length });
      expect(Buffer.compare(await readAll(await store.open(digest)), content)).toBe(0);
    }
  });
});

describe('FsBlobStore positional reads', () => {
  async function storedBlob(content: Buffer) {
    const store = await openFsBlobStore({ root: await tmpRoot() });
    const upload = await store.beginUpload();
    await store.appendUpload(upload.id, chunks(content), 0);
    const digest = digestOf(content);
    await store.commitUpload(upload.id, digest);
    return { store, digest };
  }

  async function readThrough(reader: { size: number; read(b: Uint8Array, o: number): Promise<number> }, bufferSize: number) {
    const buffer = Buffer.alloc(bufferSize);
    const parts: Buffer[] = [];
    for (let offset = 0; ; ) {
      const read = await reader.read(buffer, offset);
      if (read === 0) break;
      parts.push(Buffer.from(buffer.subarray(0, read)));
      offset += read;
    }
    return Buffer.concat(parts);
  }

  it('reads a whole blob and an inclusive range into a reused buffer', async () => {
    const content = randomBytes(100_003);
    const { store, digest } = await storedBlob(content);

    const whole = await store.openReader(digest);
    expect(whole?.size).toBe(content.length);
    expect(Buffer.compare(await readThrough(whole!, 4096), content)).toBe(0);
    await whole!.close();
    await whole!.close(); // closing twice is harmless

    const range = await store.openReader(digest, { start: 4000, end: 70_000 });
    expect(range?.size).toBe(66_001);
    expect(Buffer.compare(await readThrough(range!, 10_000), content.subarray(4000, 70_001))).toBe(0);
    await range!.close();

    const clamped = await store.openReader(digest, { start: 100_000, end: 200_000 });
    expect(Buffer.compare(await readThrough(clamped!, 2), content.subarray(100_000))).toBe(0);
    await clamped!.close();
  });

  it('answers undefined for a missing blob and 416 for a range outside the blob', async () => {
    const { store, digest } = await storedBlob(Buffer.from('0123456789'));
    expect(await store.openReader(digestOf('missing'))).toBeUndefined();
    const error = await registryErrorOf(store.openReader(digest, { start: 10, end: 20 }));
    expect(error.status).toBe(416);
    expect(error.headers['Content-Range']).toBe('bytes */10');
  });

  it('reads the empty blob as zero bytes', async () => {
    const { store, digest } = await storedBlob(Buffer.alloc(0));
    const reader = await store.openReader(digest);
    expect(reader?.size).toBe(0);
    expect(await reader!.read(Buffer.alloc(16), 0)).toBe(0);
    await reader!.close();
  });
});
