import type { Readable } from 'node:stream';
import {
  RegistryError,
  assertRepositoryName,
  parseDigest,
  type BlobInfo,
  type BlobReader,
  type ByteRange,
} from '@berth/core';
import type { ResolvedOptions } from './options.js';

/** A blob's bytes, as the store can give them: positional reads when it supports them, else a stream. */
export type BlobContent = { reader: BlobReader; stream?: undefined } | { stream: Readable; reader?: undefined };

/** Blob reads, deletes and mounts of one registry: what a repository may see is its blob links. */
export class BlobService {
  constructor(private readonly options: ResolvedOptions) {}

  /** The blob as the repository sees it, or BLOB_UNKNOWN. */
  async stat(repository: string, digest: string): Promise<BlobInfo> {
    assertRepositoryName(repository);
    const { value } = parseDigest(digest);
    const link = await this.options.metadata.blobLink(repository, value);
    const stored = link && (await this.options.blobs.stat(value));
    if (!stored) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: value } });
    return stored;
  }

  /** The bytes of a blob `stat` returned (or of an already validated range of it). */
  async content(blob: BlobInfo, range?: ByteRange): Promise<BlobContent> {
    const { blobs } = this.options;
    if (blobs.openReader) {
      const reader = await blobs.openReader(blob.digest, range);
      if (reader) return { reader };
    } else {
      const stream = await blobs.open(blob.digest, range);
      if (stream) return { stream };
    }
    // Deleted from the store between stat and open.
    throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: blob.digest } });
  }

  /**
   * Removes the blob from the repository. The bytes stay in the blob store: another repository or an
   * upload finishing right now may hold the same digest, so reclaiming space is garbage collection's job.
   */
  async delete(repository: string, digest: string): Promise<void> {
    assertRepositoryName(repository);
    const { value } = parseDigest(digest);
    if (!(await this.options.metadata.unlinkBlob(repository, value))) {
      throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: value } });
    }
  }

  /**
   * Makes a blob visible in `repository` without moving bytes. With `from`, only a blob that `from` can
   * see is mounted; without it, any blob the store holds when automatic mounting is on.
   * Undefined when the mount cannot be done (the caller then starts an ordinary upload).
   */
  async mount(repository: string, digest: string, from?: string): Promise<BlobInfo | undefined> {
    assertRepositoryName(repository);
    if (from !== undefined) assertRepositoryName(from);
    const { value } = parseDigest(digest);
    if (from === undefined && !this.options.automaticMount) return undefined;
    if (from !== undefined && !(await this.options.metadata.blobLink(from, value))) return undefined;
    const stored = await this.options.blobs.stat(value);
    if (!stored) return undefined;
    await this.options.metadata.linkBlob(repository, stored.digest, stored.size);
    return stored;
  }
}
