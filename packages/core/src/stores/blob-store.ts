import type { Readable } from 'node:stream';

/** What a blob store knows about a stored blob. */
export interface BlobInfo {
  /** The blob's digest, `algorithm:hex`. */
  digest: string;
  /** The blob's length in bytes. */
  size: number;
}

/** A stored blob with the age of its bytes, as the collector lists them. */
export interface ListedBlob extends BlobInfo {
  /** When the bytes were last written; the collector leaves younger ones alone. */
  modifiedAt: Date;
}

/** An inclusive byte range, as in an HTTP `Range: bytes=start-end` header. */
export interface ByteRange {
  /** Offset of the first byte, from 0. */
  start: number;
  /** Offset of the last byte, inclusive. */
  end: number;
}

/** An upload in progress as the blob store sees it: its id, the bytes received so far and when it started. */
export interface UploadState {
  /** The upload's id, safe to put in a URL. */
  id: string;
  /** Bytes received so far; the next chunk must start here. */
  size: number;
  /** When the upload began. */
  startedAt: Date;
}

/**
 * Positional reads of a blob (or a range of it) into buffers the caller owns, so an HTTP layer can
 * reuse one pair of buffers for a whole response instead of a fresh buffer per chunk.
 */
export interface BlobReader {
  /** Bytes in the blob or range. */
  readonly size: number;
  /** Reads up to `buffer.byteLength` bytes from `offset` (within the range) into the buffer; 0 at its end. */
  read(buffer: Uint8Array, offset: number): Promise<number>;
  /** Releases the underlying file; safe to call more than once. */
  close(): Promise<void>;
}

/**
 * Content-addressed blob storage, global to the registry (which repository may see a blob is
 * metadata). Blobs are written only through uploads: streamed, hashed while written, and
 * published atomically under their digest once verified, so a crash never exposes a partial blob.
 */
export interface BlobStore {
  /** The blob's digest and size, or undefined when the store does not hold it. */
  stat(digest: string): Promise<BlobInfo | undefined>;
  /** A stream of the blob (or of an inclusive range of it), or undefined when it does not exist. */
  open(digest: string, range?: ByteRange): Promise<Readable | undefined>;
  /**
   * Optional: the blob (or a range of it) for positional reads, undefined when it does not exist. Stores
   * that have it are served without per-chunk allocations; the others through `open`'s stream.
   */
  openReader?(digest: string, range?: ByteRange): Promise<BlobReader | undefined>;
  /**
   * Optional: a URL the client may download the whole blob from itself (a presigned object-storage URL),
   * or undefined to have the registry serve it. Whole-blob GETs are then answered with a 307 to it.
   */
  redirectUrl?(digest: string): Promise<string | undefined>;
  /**
   * Optional: every published blob, streamed (never all in memory), for the collector to find bytes the
   * metadata does not know. Without it, such bytes stay.
   */
  listBlobs?(): AsyncIterable<ListedBlob>;
  /** Removes the blob; false when it did not exist. */
  delete(digest: string): Promise<boolean>;

  /** Starts an upload and returns its state (size 0). Its id is safe to put in a URL. */
  beginUpload(): Promise<UploadState>;
  /** The state of an upload, undefined when unknown (never begun, committed or aborted). */
  uploadState(id: string): Promise<UploadState | undefined>;
  /**
   * Appends a stream to an upload that must currently hold exactly `expectedOffset` bytes, else
   * throws RegistryError BLOB_UPLOAD_INVALID with status 416 and a `Range` header of what it holds.
   * Unknown upload: BLOB_UPLOAD_UNKNOWN. Returns the new state.
   */
  appendUpload(id: string, body: AsyncIterable<Uint8Array>, expectedOffset: number): Promise<UploadState>;
  /**
   * Verifies that the upload's bytes hash to `expectedDigest` and publishes them atomically as that
   * blob. On a mismatch throws DIGEST_INVALID, removes the upload and publishes nothing.
   */
  commitUpload(id: string, expectedDigest: string): Promise<BlobInfo>;
  /** Discards an upload; false when it was unknown. */
  abortUpload(id: string): Promise<boolean>;
  /**
   * Optional: resolves when the store can serve reads and take uploads (its storage is there and
   * writable), rejects otherwise. Readiness probes call it; without it they try a cheap read instead.
   */
  ping?(): Promise<void>;
  /**
   * Optional: releases what the store holds (open files, pooled buffers, clients, timers) once the
   * registry is done with it; idempotent. Whoever opened the store closes it (the standalone server does
   * on shutdown). What was published stays published.
   */
  close?(): Promise<void>;
}
