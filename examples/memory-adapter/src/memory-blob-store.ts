import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  RegistryError,
  createDigestHash,
  parseDigest,
  satisfiableRange,
  type BlobInfo,
  type BlobReader,
  type BlobStore,
  type ByteRange,
  type ListedBlob,
  type UploadState,
} from '@berth/core';

interface StoredBlob {
  bytes: Buffer;
  modifiedAt: Date;
}

interface UploadRow {
  /** The chunks appended so far, in order; their lengths add up to `size`. */
  chunks: Buffer[];
  size: number;
  startedAt: Date;
  /** The upload's last queued operation: appends and the commit run one after another, in call order. */
  queue: Promise<unknown>;
}

/**
 * The "bucket" of the example: published blobs by digest and uploads in progress by id. Several
 * MemoryBlobStore objects may share one space, like several registry instances on one bucket or
 * shared filesystem, and a test can read it without going through a store.
 */
export class MemoryBlobSpace {
  readonly blobs = new Map<string, StoredBlob>();
  readonly uploads = new Map<string, UploadRow>();
}

/**
 * A worked example of a BlobStore, kept in memory: what an adapter for another backend (a bucket, a
 * database) has to do, in the fewest lines. It passes every group of @berth/storage-testing's blob
 * contract. The rules a real adapter shares with it:
 * - every method is `async` (or returns a promise): a failure is a rejection, never a synchronous throw;
 * - digests are parsed with core's `parseDigest` (a malformed one is DIGEST_INVALID), ranges checked with
 *   core's `satisfiableRange` (an end past the blob clamped, a range outside it a 416);
 * - an upload's bytes are verified against the digest on commit and published whole, or not at all;
 * - appends to one upload run one at a time, and each must start where the upload ends (else a 416 with
 *   the `Range` it holds), so a client's retry or a race cannot interleave bytes.
 */
export class MemoryBlobStore implements BlobStore {
  readonly #space: MemoryBlobSpace;
  #closed = false;

  constructor(space = new MemoryBlobSpace()) {
    this.#space = space;
  }

  async stat(digest: string): Promise<BlobInfo | undefined> {
    const { value } = parseDigest(digest);
    const blob = this.#space.blobs.get(value);
    return blob && { digest: value, size: blob.bytes.byteLength };
  }

  async open(digest: string, range?: ByteRange): Promise<Readable | undefined> {
    const bytes = this.#bytesOf(digest, range);
    // One chunk: the bytes are in memory already. A remote backend would return its download stream.
    return bytes && Readable.from(bytes.byteLength === 0 ? [] : [bytes]);
  }

  /** Optional in the interface; served blobs then skip the stream and are copied into the sender's buffers. */
  async openReader(digest: string, range?: ByteRange): Promise<BlobReader | undefined> {
    const bytes = this.#bytesOf(digest, range);
    if (bytes === undefined) return undefined;
    return {
      size: bytes.byteLength,
      // Positional: `offset` is within the range, and a read never goes past its end.
      read: async (buffer, offset) => bytes.copy(buffer, 0, Math.min(offset, bytes.byteLength), Math.min(offset + buffer.byteLength, bytes.byteLength)),
      close: async () => undefined,
    };
  }

  async *listBlobs(): AsyncIterable<ListedBlob> {
    for (const [digest, blob] of [...this.#space.blobs]) yield { digest, size: blob.bytes.byteLength, modifiedAt: blob.modifiedAt };
  }

  async delete(digest: string): Promise<boolean> {
    return this.#space.blobs.delete(parseDigest(digest).value);
  }

  async beginUpload(): Promise<UploadState> {
    this.#refuseWhenClosed();
    const id = randomUUID();
    const startedAt = new Date();
    this.#space.uploads.set(id, { chunks: [], size: 0, startedAt, queue: Promise.resolve() });
    return { id, size: 0, startedAt };
  }

  async uploadState(id: string): Promise<UploadState | undefined> {
    const upload = this.#space.uploads.get(id);
    return upload && { id, size: upload.size, startedAt: upload.startedAt };
  }

  appendUpload(id: string, body: AsyncIterable<Uint8Array>, expectedOffset: number): Promise<UploadState> {
    return this.#queued(id, async (upload) => {
      if (upload.size !== expectedOffset) {
        throw new RegistryError('BLOB_UPLOAD_INVALID', `the upload holds ${upload.size} bytes, the chunk starts at ${expectedOffset}`, {
          status: 416,
          headers: { Range: upload.size === 0 ? '0-0' : `0-${upload.size - 1}` },
        });
      }
      // Read the whole chunk first: a body that fails midway (the client went away) adds nothing.
      const received: Buffer[] = [];
      for await (const chunk of body) received.push(Buffer.from(chunk));
      if (this.#space.uploads.get(id) !== upload) throw unknownUpload(id);
      for (const chunk of received) {
        upload.chunks.push(chunk);
        upload.size += chunk.byteLength;
      }
      return { id, size: upload.size, startedAt: upload.startedAt };
    });
  }

  commitUpload(id: string, expectedDigest: string): Promise<BlobInfo> {
    return this.#queued(id, async (upload) => {
      // An invalid digest string is refused before anything changes: the upload stays, for a corrected commit.
      const expected = parseDigest(expectedDigest);
      const bytes = Buffer.concat(upload.chunks, upload.size);
      this.#space.uploads.delete(id);
      const actual = createDigestHash(expected.algorithm).update(bytes).digest('hex');
      if (actual !== expected.hex) throw new RegistryError('DIGEST_INVALID', `the uploaded bytes do not hash to ${expected.value}`);
      // Content-addressed: the same bytes published twice stay one blob.
      if (!this.#space.blobs.has(expected.value)) this.#space.blobs.set(expected.value, { bytes, modifiedAt: new Date() });
      return { digest: expected.value, size: bytes.byteLength };
    });
  }

  async abortUpload(id: string): Promise<boolean> {
    return this.#space.uploads.delete(id);
  }

  async ping(): Promise<void> {
    this.#refuseWhenClosed();
  }

  /** Nothing to release in memory; a real adapter ends its clients and timers here. Writes are refused after. */
  async close(): Promise<void> {
    this.#closed = true;
  }

  /** The blob's bytes (or the range of them), undefined when there is no such blob. */
  #bytesOf(digest: string, range: ByteRange | undefined): Buffer | undefined {
    const { value } = parseDigest(digest);
    const bytes = this.#space.blobs.get(value)?.bytes;
    if (bytes === undefined || range === undefined) return bytes;
    const { start, end } = satisfiableRange(range, bytes.byteLength, value);
    return bytes.subarray(start, end + 1);
  }

  /**
   * Runs `operation` after the upload's earlier ones. Queued synchronously, so operations run in the
   * order they were called; each sees the upload as the previous one left it.
   */
  #queued<T>(id: string, operation: (upload: UploadRow) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(closedError());
    const upload = this.#space.uploads.get(id);
    if (upload === undefined) return Promise.reject(unknownUpload(id));
    const result = upload.queue.then(() => {
      if (this.#space.uploads.get(id) !== upload) throw unknownUpload(id);
      return operation(upload);
    });
    upload.queue = result.catch(() => undefined);
    return result;
  }

  #refuseWhenClosed(): void {
    if (this.#closed) throw closedError();
  }
}

function unknownUpload(id: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN', `no upload ${id}`);
}

function closedError(): RegistryError {
  return new RegistryError('UNAVAILABLE', 'the blob store is closed');
}
