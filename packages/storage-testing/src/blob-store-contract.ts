import assert from 'node:assert/strict';
import { digestOf, type BlobReader, type BlobStore, type ByteRange, type ListedBlob } from '@berth/core';
import { rejectsWithRegistryError } from './assertions.js';
import { asyncOnly } from './async-only.js';
import { chunks, pseudoRandomBytes, readAll, slowly } from './fixtures.js';
import { required, type TestApi } from './test-api.js';

/** Reads what a blob store persisted without going through the store (the files, the bucket). */
export interface BlobInspector {
  /** Digests of every published blob in the backing storage (any order). */
  publishedDigests(): Promise<string[]>;
  /** A published blob's bytes straight from the backing storage, undefined when absent. */
  read(digest: string): Promise<Uint8Array | undefined>;
  /** How many uploads (begun, neither committed nor aborted) the backing storage still holds. */
  pendingUploads(): Promise<number>;
}

/** A blob store under test and how to reopen it. */
export interface BlobStoreSubject {
  /** A fresh, empty store. */
  store: BlobStore;
  /** A new store object on the same storage, as after a restart (the 'persistence' group). */
  reopen?: () => Promise<BlobStore>;
  /** A second store object on the same storage, as in another process (the 'sharing' group). */
  openSibling?: () => Promise<BlobStore>;
  /** Reads persisted state past the store (the 'inspection' group). */
  inspect?: BlobInspector;
  /** Runs after each test: remove the folder, empty the bucket. */
  dispose?: () => Promise<void>;
}

/** Opens a fresh blob store for one test of {@link blobStoreContract}. */
export type BlobStoreFactory = () => Promise<BlobStoreSubject>;

/**
 * Groups a blob store may switch off because the BlobStore interface does not promise them:
 * - persistence: blobs and unfinished uploads outlive the store object;
 * - sharing: several store objects (processes) on one storage continue each other's uploads;
 * - inspection: the storage can be read without the store;
 * - ping: the optional `ping()` readiness check (without it, probes fall back to a read);
 * - listing: the optional `listBlobs()` the collector finds unknown bytes with (without it, they stay);
 * - reader: the optional `openReader()` blob downloads are served with when a store has it (without it,
 *   through `open`'s stream);
 * - close: the optional `close()` that releases what the store holds.
 */
export type BlobContractGroup = 'persistence' | 'sharing' | 'inspection' | 'ping' | 'listing' | 'reader' | 'close';

/** Options of {@link blobStoreContract}: groups to skip, the suite name. */
export interface BlobStoreContractOptions {
  /** Names the store in the test titles. Default: `store`. */
  name?: string;
  /** Groups the store does not promise, left out. Default: none (every group runs). */
  skip?: readonly BlobContractGroup[];
}

const MALFORMED_DIGESTS = ['sha256:abc', `md5:${'a'.repeat(32)}`, 'sha256:../../etc', 'nonsense'];

/** A blob larger than any one read or stream chunk (64 KiB), so ranges cross chunk boundaries. */
const LARGE_BLOB = 300_000;
/** Ranges of LARGE_BLOB: the first and last byte, ones across chunk boundaries, and one ending past the blob. */
const LARGE_BLOB_RANGES: readonly ByteRange[] = [
  { start: 0, end: 0 },
  { start: 5, end: 99_999 },
  { start: 65_535, end: 65_536 },
  { start: 123_456, end: 299_999 },
  { start: 299_999, end: 299_999 },
  { start: 200_000, end: 10_000_000 },
];

/**
 * Reads a BlobReader whole as the registry sends a blob: positional reads from offset 0 into a buffer of
 * `bufferSize` bytes until the reader's size, each read checked to stay within the buffer and the size.
 */
async function readWhole(reader: BlobReader, bufferSize: number): Promise<Buffer> {
  const buffer = new Uint8Array(bufferSize);
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset < reader.size) {
    const read = await reader.read(buffer, offset);
    assert.ok(Number.isInteger(read) && read > 0 && read <= bufferSize, `read at ${offset} of ${reader.size} returned ${read} (buffer of ${bufferSize})`);
    parts.push(Buffer.from(buffer.subarray(0, read)));
    offset += read;
  }
  assert.equal(offset, reader.size, 'the reads add up to the reader\'s size');
  assert.equal(await reader.read(buffer, offset), 0, 'a read at the end returns 0');
  return Buffer.concat(parts);
}

/** Registers the behaviour every BlobStore must have as tests of the given runner. */
export function blobStoreContract(test: TestApi, factory: BlobStoreFactory, options: BlobStoreContractOptions = {}): void {
  const { describe, it, beforeEach, afterEach } = test;
  const skipped = new Set(options.skip ?? []);
  const group = (name: BlobContractGroup, body: () => void) => {
    if (!skipped.has(name)) describe(name, body);
  };

  describe(`BlobStore contract: ${options.name ?? 'store'}`, () => {
    let subject: BlobStoreSubject;
    let store: BlobStore;

    beforeEach(async () => {
      subject = await factory();
      store = asyncOnly(subject.store, 'BlobStore');
    });

    afterEach(async () => {
      await store.close?.();
      await subject.dispose?.();
    });

    /** Uploads `content` in one append and commits it under its sha256. */
    async function publish(content: Uint8Array): Promise<string> {
      const digest = digestOf(content);
      const upload = await store.beginUpload();
      await store.appendUpload(upload.id, chunks(content), 0);
      await store.commitUpload(upload.id, digest);
      return digest;
    }

    describe('blobs', () => {
      it('round-trips a blob through an upload', async () => {
        const content = pseudoRandomBytes(100_000);
        const digest = digestOf(content);

        const upload = await store.beginUpload();
        assert.equal(upload.size, 0);
        assert.match(upload.id, /^[A-Za-z0-9._~-]+$/, 'the upload id is safe in a URL');
        assert.ok(upload.startedAt instanceof Date);
        const appended = await store.appendUpload(upload.id, chunks(content), 0);
        assert.equal(appended.size, content.length);

        assert.deepEqual(await store.commitUpload(upload.id, digest), { digest, size: content.length });
        assert.deepEqual(await store.stat(digest), { digest, size: content.length });
        assert.equal(digestOf(await readAll(await store.open(digest))), digest);
        assert.equal(await store.uploadState(upload.id), undefined, 'a committed upload is gone');
      });

      it('gives every upload its own id', async () => {
        const ids = await Promise.all(Array.from({ length: 10 }, async () => (await store.beginUpload()).id));
        assert.equal(new Set(ids).size, ids.length);
      });

      it('stores the empty blob', async () => {
        const upload = await store.beginUpload();
        const digest = digestOf(new Uint8Array(0));
        assert.deepEqual(await store.commitUpload(upload.id, digest), { digest, size: 0 });
        assert.equal((await readAll(await store.open(digest))).length, 0);
      });

      it('reads inclusive ranges, clamps an end past the blob and refuses a range outside it with 416', async () => {
        const digest = await publish(Buffer.from('0123456789'));

        assert.equal((await readAll(await store.open(digest, { start: 2, end: 5 }))).toString(), '2345');
        assert.equal((await readAll(await store.open(digest, { start: 9, end: 9 }))).toString(), '9');
        assert.equal((await readAll(await store.open(digest, { start: 0, end: 9 }))).toString(), '0123456789');
        assert.equal((await readAll(await store.open(digest, { start: 7, end: 100 }))).toString(), '789');
        // Which code is the store's choice; the status is not.
        await rejectsWithRegistryError(store.open(digest, { start: 10, end: 12 }), { status: 416 });
        await rejectsWithRegistryError(store.open(digest, { start: 5, end: 4 }), { status: 416 });
      });

      it('streams any range of a large blob, across its chunks, exactly', async () => {
        const content = pseudoRandomBytes(LARGE_BLOB, 17);
        const digest = await publish(content);
        assert.ok((await readAll(await store.open(digest))).equals(content), 'the whole blob');
        for (const range of LARGE_BLOB_RANGES) {
          const expected = content.subarray(range.start, Math.min(range.end, LARGE_BLOB - 1) + 1);
          const read = await readAll(await store.open(digest, range));
          assert.ok(read.equals(expected), `range ${range.start}-${range.end} differs (${read.length} bytes read, ${expected.length} expected)`);
        }
      });

      it('answers undefined for a missing blob and deletes once', async () => {
        const content = Buffer.from('to be deleted');
        const digest = digestOf(content);
        assert.equal(await store.stat(digest), undefined);
        assert.equal(await store.open(digest), undefined);
        assert.equal(await store.delete(digest), false);

        await publish(content);
        assert.equal(await store.delete(digest), true);
        assert.equal(await store.delete(digest), false);
        assert.equal(await store.stat(digest), undefined);
        assert.equal(await store.open(digest), undefined);
      });

      it('keeps serving an open stream after the blob is deleted', async () => {
        const content = pseudoRandomBytes(300_000, 7);
        const digest = await publish(content);
        const stream = await store.open(digest);
        await store.delete(digest);
        assert.equal(digestOf(await readAll(stream)), digest);
      });

      it('rejects malformed or unsupported digests with DIGEST_INVALID', async () => {
        for (const bad of MALFORMED_DIGESTS) {
          await rejectsWithRegistryError(store.stat(bad), { code: 'DIGEST_INVALID' });
          await rejectsWithRegistryError(store.open(bad), { code: 'DIGEST_INVALID' });
          await rejectsWithRegistryError(store.delete(bad), { code: 'DIGEST_INVALID' });
        }
      });

      it('accepts the same content published twice, dropping the second upload', async () => {
        const content = Buffer.from('same bytes twice');
        const digest = digestOf(content);
        for (let round = 0; round < 2; round++) {
          const upload = await store.beginUpload();
          await store.appendUpload(upload.id, chunks(content), 0);
          assert.deepEqual(await store.commitUpload(upload.id, digest), { digest, size: content.length });
          assert.equal(await store.uploadState(upload.id), undefined);
        }
        assert.equal(digestOf(await readAll(await store.open(digest))), digest);
      });

      it('publishes the same content from concurrent uploads once, intact', async () => {
        const content = pseudoRandomBytes(200_000, 3);
        const digest = digestOf(content);
        const results = await Promise.all(
          Array.from({ length: 4 }, async () => {
            const upload = await store.beginUpload();
            await store.appendUpload(upload.id, slowly(content), 0);
            return store.commitUpload(upload.id, digest);
          }),
        );
        for (const result of results) assert.deepEqual(result, { digest, size: content.length });
        assert.equal(digestOf(await readAll(await store.open(digest))), digest);
      });
    });

    describe('uploads', () => {
      it('accepts chunked appends, each starting where the last ended', async () => {
        const parts = [pseudoRandomBytes(1000, 1), pseudoRandomBytes(1, 2), pseudoRandomBytes(70_000, 3)];
        const content = Buffer.concat(parts);
        const upload = await store.beginUpload();

        let offset = 0;
        for (const part of parts) {
          // Each append's body is itself several small chunks.
          const state = await store.appendUpload(upload.id, chunks(part.subarray(0, 1), part.subarray(1)), offset);
          offset += part.length;
          assert.deepEqual(state, { id: upload.id, size: offset, startedAt: upload.startedAt });
          assert.deepEqual(await store.uploadState(upload.id), state);
        }
        const digest = digestOf(content);
        assert.deepEqual(await store.commitUpload(upload.id, digest), { digest, size: content.length });
        assert.equal(digestOf(await readAll(await store.open(digest))), digest);
      });

      it('answers a wrong offset with 416 and the inclusive Range held, changing nothing', async () => {
        const upload = await store.beginUpload();
        await rejectsWithRegistryError(store.appendUpload(upload.id, chunks('x'), 3), {
          code: 'BLOB_UPLOAD_INVALID',
          status: 416,
          headers: { Range: '0-0' },
        });

        await store.appendUpload(upload.id, chunks('hello'), 0);
        for (const offset of [0, 4, 6]) {
          await rejectsWithRegistryError(store.appendUpload(upload.id, chunks('!'), offset), {
            code: 'BLOB_UPLOAD_INVALID',
            status: 416,
            headers: { Range: '0-4' },
          });
        }
        assert.equal((await store.uploadState(upload.id))?.size, 5);
        assert.deepEqual(await store.commitUpload(upload.id, digestOf('hello')), { digest: digestOf('hello'), size: 5 });
      });

      it('treats unknown, finished and malformed upload ids as unknown', async () => {
        const committed = await store.beginUpload();
        await store.commitUpload(committed.id, digestOf(''));
        const aborted = await store.beginUpload();
        assert.equal(await store.abortUpload(aborted.id), true);

        for (const id of [committed.id, aborted.id, '00000000-0000-4000-8000-000000000000', '../blobs', '']) {
          assert.equal(await store.uploadState(id), undefined, `state of "${id}"`);
          await rejectsWithRegistryError(store.appendUpload(id, chunks('x'), 0), { code: 'BLOB_UPLOAD_UNKNOWN' });
          await rejectsWithRegistryError(store.commitUpload(id, digestOf('')), { code: 'BLOB_UPLOAD_UNKNOWN' });
          assert.equal(await store.abortUpload(id), false);
        }
      });

      it('on a digest mismatch removes the upload and publishes nothing', async () => {
        const upload = await store.beginUpload();
        await store.appendUpload(upload.id, chunks('actual bytes'), 0);
        const claimed = digestOf('other bytes');

        await rejectsWithRegistryError(store.commitUpload(upload.id, claimed), { code: 'DIGEST_INVALID' });
        assert.equal(await store.uploadState(upload.id), undefined);
        assert.equal(await store.stat(claimed), undefined);
        assert.equal(await store.stat(digestOf('actual bytes')), undefined);
      });

      it('rejects an invalid digest string with DIGEST_INVALID and keeps the upload', async () => {
        const upload = await store.beginUpload();
        await store.appendUpload(upload.id, chunks('abc'), 0);
        await rejectsWithRegistryError(store.commitUpload(upload.id, 'sha256:nothex'), { code: 'DIGEST_INVALID' });
        assert.equal((await store.uploadState(upload.id))?.size, 3);
      });

      it('verifies and publishes under a sha512 digest', async () => {
        const content = pseudoRandomBytes(50_000, 5);
        const upload = await store.beginUpload();
        await store.appendUpload(upload.id, chunks(content.subarray(0, 10)), 0);
        await store.appendUpload(upload.id, chunks(content.subarray(10)), 10);
        const digest = digestOf(content, 'sha512');
        assert.deepEqual(await store.commitUpload(upload.id, digest), { digest, size: content.length });
        assert.deepEqual(await store.stat(digest), { digest, size: content.length });
        assert.equal(await store.stat(digestOf(content)), undefined);
        assert.equal(digestOf(await readAll(await store.open(digest))), digestOf(content));

        const wrong = await store.beginUpload();
        await store.appendUpload(wrong.id, chunks(content), 0);
        const mismatch = digestOf(Buffer.concat([content, Buffer.from('!')]), 'sha512');
        await rejectsWithRegistryError(store.commitUpload(wrong.id, mismatch), { code: 'DIGEST_INVALID' });
      });

      it('runs concurrent appends to one upload one after another, in call order', async () => {
        const parts = Array.from({ length: 8 }, (_, index) => pseudoRandomBytes(40_000, index + 1));
        const upload = await store.beginUpload();

        // Started together, each at the offset the previous one will leave: all must succeed, in order.
        const states = await Promise.all(parts.map((part, index) => store.appendUpload(upload.id, slowly(part), index * 40_000)));
        assert.deepEqual(
          states.map((state) => state.size),
          parts.map((_, index) => (index + 1) * 40_000),
        );
        const content = Buffer.concat(parts);
        const digest = digestOf(content);
        assert.deepEqual(await store.commitUpload(upload.id, digest), { digest, size: content.length });
        assert.equal(digestOf(await readAll(await store.open(digest))), digest);
      });

      it('lets exactly one of two concurrent appends at the same offset win', async () => {
        const upload = await store.beginUpload();
        const results = await Promise.allSettled([
          store.appendUpload(upload.id, slowly(Buffer.from('first writer')), 0),
          store.appendUpload(upload.id, slowly(Buffer.from('second writer')), 0),
        ]);
        const won = results.filter((result) => result.status === 'fulfilled');
        const lost = results.filter((result) => result.status === 'rejected');
        assert.equal(won.length, 1, 'one append wins');
        assert.equal(lost.length, 1, 'the other is refused');
        const winner = won[0]!.value.size === 12 ? 'first writer' : 'second writer';
        await rejectsWithRegistryError(Promise.reject(lost[0]!.reason), {
          code: 'BLOB_UPLOAD_INVALID',
          status: 416,
          headers: { Range: `0-${winner.length - 1}` },
        });
        assert.deepEqual(await store.commitUpload(upload.id, digestOf(winner)), { digest: digestOf(winner), size: winner.length });
      });

      it('rolls a chunk whose body errors midway back to the old offset, and rethrows', async () => {
        const upload = await store.beginUpload();
        await store.appendUpload(upload.id, chunks('kept|'), 0);

        const disconnect = new Error('client disconnected');
        async function* failing(): AsyncGenerator<Uint8Array> {
          yield Buffer.from('partial bytes that were written ');
          yield pseudoRandomBytes(100_000, 9);
          throw disconnect;
        }
        await assert.rejects(store.appendUpload(upload.id, failing(), 5), (error) => error === disconnect);
        assert.equal((await store.uploadState(upload.id))?.size, 5);

        // The client resends the chunk at the same offset; the failed bytes are in neither the upload nor its hash.
        await store.appendUpload(upload.id, chunks('resent'), 5);
        const digest = digestOf('kept|resent');
        assert.deepEqual(await store.commitUpload(upload.id, digest), { digest, size: 11 });
      });

      it('aborts an upload', async () => {
        const upload = await store.beginUpload();
        await store.appendUpload(upload.id, chunks('discard me'), 0);
        assert.equal(await store.abortUpload(upload.id), true);
        assert.equal(await store.abortUpload(upload.id), false);
        assert.equal(await store.uploadState(upload.id), undefined);
        assert.equal(await store.stat(digestOf('discard me')), undefined);
      });
    });

    group('reader', () => {
      const openReader = (digest: string, range?: ByteRange) => required(store.openReader, 'openReader() on the store', 'reader').call(store, digest, range);

      async function opened(digest: string, range?: ByteRange): Promise<BlobReader> {
        const reader = await openReader(digest, range);
        assert.ok(reader, `openReader(${digest}) found the blob`);
        return reader;
      }

      it('reads a whole blob exactly, with buffers of any size', async () => {
        const content = pseudoRandomBytes(LARGE_BLOB, 19);
        const digest = await publish(content);
        for (const bufferSize of [4096, 65_536, 100_000, 1024 * 1024]) {
          const reader = await opened(digest);
          assert.equal(reader.size, LARGE_BLOB);
          assert.ok((await readWhole(reader, bufferSize)).equals(content), `read with a ${bufferSize}-byte buffer`);
          await reader.close();
        }
        const small = Buffer.from('a few bytes, one at a time');
        const reader = await opened(await publish(small));
        assert.ok((await readWhole(reader, 1)).equals(small), 'read with a 1-byte buffer');
        await reader.close();
      });

      it('reads at any offset, in any order (positional reads), never past the end', async () => {
        const content = pseudoRandomBytes(LARGE_BLOB, 23);
        const reader = await opened(await publish(content));
        const buffer = new Uint8Array(1000);
        for (const offset of [200_000, 0, 123_457, 200_000, LARGE_BLOB - 1000]) {
          assert.equal(await reader.read(buffer, offset), 1000);
          assert.ok(Buffer.from(buffer).equals(content.subarray(offset, offset + 1000)), `1000 bytes at ${offset}`);
        }
        const tail = await reader.read(buffer, LARGE_BLOB - 3);
        assert.ok(tail > 0 && tail <= 3, `a read 3 bytes before the end returned ${tail}`);
        assert.ok(Buffer.from(buffer.subarray(0, tail)).equals(content.subarray(LARGE_BLOB - 3, LARGE_BLOB - 3 + tail)));
        assert.equal(await reader.read(buffer, LARGE_BLOB), 0);
        await reader.close();
      });

      it('reads ranges relative to their start, clamps an end past the blob and refuses a range outside it with 416', async () => {
        const content = pseudoRandomBytes(LARGE_BLOB, 29);
        const digest = await publish(content);
        for (const range of LARGE_BLOB_RANGES) {
          const expected = content.subarray(range.start, Math.min(range.end, LARGE_BLOB - 1) + 1);
          const reader = await opened(digest, range);
          assert.equal(reader.size, expected.length, `size of range ${range.start}-${range.end}`);
          assert.ok((await readWhole(reader, 65_536)).equals(expected), `range ${range.start}-${range.end}`);
          await reader.close();
        }
        await rejectsWithRegistryError(openReader(digest, { start: LARGE_BLOB, end: LARGE_BLOB + 5 }), { status: 416 });
        await rejectsWithRegistryError(openReader(digest, { start: 5, end: 4 }), { status: 416 });
      });

      it('serves the empty blob, answers undefined for a missing one and DIGEST_INVALID for a malformed digest', async () => {
        const empty = await opened(await publish(new Uint8Array(0)));
        assert.equal(empty.size, 0);
        assert.equal(await empty.read(new Uint8Array(10), 0), 0);
        await empty.close();
        assert.equal(await openReader(digestOf('never published')), undefined);
        for (const bad of MALFORMED_DIGESTS) await rejectsWithRegistryError(openReader(bad), { code: 'DIGEST_INVALID' });
      });

      it('keeps reading after the blob is deleted, and closes more than once', async () => {
        const content = pseudoRandomBytes(LARGE_BLOB, 31);
        const digest = await publish(content);
        const reader = await opened(digest);
        await store.delete(digest);
        assert.ok((await readWhole(reader, 65_536)).equals(content));
        await reader.close();
        await reader.close();
      });
    });

    group('close', () => {
      it('closes with an upload in progress, more than once; what was published stays published', async () => {
        const close = required(store.close, 'close() on the store', 'close');
        const kept = await publish(Buffer.from('published before close'));
        const upload = await store.beginUpload();
        await store.appendUpload(upload.id, chunks(pseudoRandomBytes(100_000, 37)), 0);
        await close.call(store);
        await close.call(store);
        if (subject.reopen) {
          store = asyncOnly(await subject.reopen(), 'BlobStore');
          assert.deepEqual(await store.stat(kept), { digest: kept, size: 22 });
        }
      });
    });

    group('listing', () => {
      it('lists every published blob once, with its size and time, and neither uploads in progress nor deleted blobs', async () => {
        const listBlobs = required(store.listBlobs, 'listBlobs() on the store', 'listing');
        const before = Date.now();
        const contents = ['first', 'second blob', 'third', ''].map((text) => Buffer.from(text));
        const digests: string[] = [];
        for (const content of contents) digests.push(await publish(content));
        const deleted = await publish(Buffer.from('deleted'));
        await store.delete(deleted);
        const pending = await store.beginUpload();
        await store.appendUpload(pending.id, chunks(Buffer.from('not yet')), 0);

        const listed: ListedBlob[] = [];
        for await (const blob of listBlobs.call(store)) listed.push(blob);
        const expected = contents.map((content, index) => ({ digest: digests[index]!, size: content.byteLength })).sort((a, b) => (a.digest < b.digest ? -1 : 1));
        assert.deepEqual(
          listed.map(({ digest, size }) => ({ digest, size })).sort((a, b) => (a.digest < b.digest ? -1 : 1)),
          expected,
        );
        for (const blob of listed) {
          assert.ok(blob.modifiedAt instanceof Date, 'modifiedAt is a Date');
          // File times may be coarser than the clock: a minute's slack still tells a real time from a made-up one.
          assert.ok(Math.abs(blob.modifiedAt.getTime() - before) < 60_000, `modifiedAt ${blob.modifiedAt.toISOString()} is the publishing time`);
        }
      });
    });

    group('ping', () => {
      it('resolves on a working store, and writes nothing', async () => {
        const ping = required(store.ping, 'ping() on the store', 'ping');
        const kept = await publish(Buffer.from('there before the ping'));
        await ping.call(store);
        await ping.call(store);
        assert.deepEqual(await store.stat(kept), { digest: kept, size: 21 });
        if (subject.inspect) {
          assert.deepEqual(await subject.inspect.publishedDigests(), [kept]);
          assert.equal(await subject.inspect.pendingUploads(), 0, 'a ping leaves no upload behind');
        }
      });
    });

    group('persistence', () => {
      it('keeps blobs, and continues an upload, after a restart', async () => {
        const reopen = required(subject.reopen, 'reopen()', 'persistence');
        const kept = await publish(Buffer.from('published before restart'));
        const upload = await store.beginUpload();
        await store.appendUpload(upload.id, chunks('before restart, '), 0);

        store = asyncOnly(await reopen(), 'BlobStore');
        assert.deepEqual(await store.stat(kept), { digest: kept, size: 24 });
        assert.deepEqual(await store.uploadState(upload.id), { id: upload.id, size: 16, startedAt: upload.startedAt });
        await store.appendUpload(upload.id, chunks('after restart'), 16);
        const digest = digestOf('before restart, after restart');
        assert.deepEqual(await store.commitUpload(upload.id, digest), { digest, size: 29 });
        assert.equal((await readAll(await store.open(digest))).toString(), 'before restart, after restart');
      });
    });

    group('sharing', () => {
      it('continues, in one instance, an upload another instance began and appended to', async () => {
        const other = asyncOnly(await required(subject.openSibling, 'openSibling()', 'sharing')(), 'BlobStore');
        const upload = await store.beginUpload();
        await store.appendUpload(upload.id, chunks('from a; '), 0);
        assert.equal((await other.uploadState(upload.id))?.size, 8);
        await other.appendUpload(upload.id, chunks('from b'), 8);
        // The first instance's own view (say, a running hash) covers only its 8 bytes: commit must see all 14.
        const digest = digestOf('from a; from b');
        assert.deepEqual(await store.commitUpload(upload.id, digest), { digest, size: 14 });
        assert.equal((await readAll(await other.open(digest))).toString(), 'from a; from b');
        assert.equal(await other.uploadState(upload.id), undefined);
      });

      it('publishes the same content from two instances at once, intact', async () => {
        const other = asyncOnly(await required(subject.openSibling, 'openSibling()', 'sharing')(), 'BlobStore');
        const content = pseudoRandomBytes(500_000, 11);
        const digest = digestOf(content);
        await Promise.all(
          [store, other, store, other].map(async (instance) => {
            const upload = await instance.beginUpload();
            await instance.appendUpload(upload.id, slowly(content), 0);
            assert.deepEqual(await instance.commitUpload(upload.id, digest), { digest, size: content.length });
          }),
        );
        for (const instance of [store, other]) assert.equal(digestOf(await readAll(await instance.open(digest))), digest);
      });
    });

    group('inspection', () => {
      const inspector = () => required(subject.inspect, 'inspect', 'inspection');

      it('persists exactly the committed bytes, and only once committed', async () => {
        const inspect = inspector();
        const content = pseudoRandomBytes(70_000, 13);
        const digest = digestOf(content);
        const upload = await store.beginUpload();
        await store.appendUpload(upload.id, chunks(content.subarray(0, 1000)), 0);
        await store.appendUpload(upload.id, chunks(content.subarray(1000)), 1000);
        // Every byte is there, but no blob is published before the commit.
        assert.deepEqual(await inspect.publishedDigests(), []);
        assert.equal(await inspect.read(digest), undefined);
        assert.equal(await inspect.pendingUploads(), 1);

        await store.commitUpload(upload.id, digest);
        assert.deepEqual(await inspect.publishedDigests(), [digest]);
        const persisted = await inspect.read(digest);
        assert.ok(persisted);
        assert.equal(digestOf(persisted), digest);
        assert.equal(await inspect.pendingUploads(), 0);

        await store.delete(digest);
        assert.deepEqual(await inspect.publishedDigests(), []);
      });

      it('leaves nothing behind after an abort or a failed verification', async () => {
        const inspect = inspector();
        const aborted = await store.beginUpload();
        await store.appendUpload(aborted.id, chunks('discard me'), 0);
        const mismatched = await store.beginUpload();
        await store.appendUpload(mismatched.id, chunks('actual bytes'), 0);
        assert.equal(await inspect.pendingUploads(), 2);

        await store.abortUpload(aborted.id);
        await rejectsWithRegistryError(store.commitUpload(mismatched.id, digestOf('claimed bytes')), { code: 'DIGEST_INVALID' });
        assert.equal(await inspect.pendingUploads(), 0);
        assert.deepEqual(await inspect.publishedDigests(), []);
      });
    });
  });
}
