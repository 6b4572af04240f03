import type { Readable } from 'node:stream';
import { RegistryError, parseDigest, type BlobInfo, type BlobReader, type ByteRange, type RequestContext } from '@berth/core';
import { assertRepositoryName } from '@berth/core/internal';
import { MissingBlobError } from './missing-blob.js';
import type { EventRecorder } from './events/event-recorder.js';
import type { ResolvedOptions } from './options.js';
import type { MirrorSource } from './mirror/mirror-source.js';

/** A blob's bytes, as the store can give them: positional reads when it supports them, else a stream. */
export type BlobContent = { reader: BlobReader; stream?: undefined } | { stream: Readable; reader?: undefined };

/** Blob reads, deletes and mounts of one registry: what a repository may see is its blob links. */
export class BlobService {
  constructor(
    private readonly options: ResolvedOptions,
    private readonly events: EventRecorder,
    private readonly mirror: MirrorSource,
  ) {}

  /**
   * The blob as the repository sees it, or BLOB_UNKNOWN. A linked blob missing from the blob store is
   * BLOB_UNKNOWN too (a pushing client then uploads it again, which repairs the store), with a
   * MissingBlobError as the cause for the operator.
   */
  async stat(repository: string, digest: string): Promise<BlobInfo> {
    assertRepositoryName(repository);
    const { value } = parseDigest(digest);
    const link = await this.options.metadata.blobLink(repository, value);
    const stored = link && (await this.options.blobs.stat(value));
    const mirror = await this.mirror.targetOf(repository);
    if (stored) {
      if (mirror) this.mirror.hit(repository, 'blob');
      return stored;
    }
    if (mirror) return this.mirror.blobInfo(mirror, repository, value);
    let cause: MissingBlobError | undefined;
    if (link) {
      cause = new MissingBlobError(repository, value, 'blob-read');
      this.options.observer.blobMissing({ repository, digest: value, use: 'blob-read' });
    }
    throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: value }, cause });
  }

  /**
   * For a GET: the blob as `stat` gives it, or, in a mirrored repository that does not hold it yet, its
   * bytes streaming from the upstream (and into the store) right now, whole.
   */
  async locate(repository: string, digest: string): Promise<{ info: BlobInfo; upstream?: Readable }> {
    assertRepositoryName(repository);
    const { value } = parseDigest(digest);
    const mirror = await this.mirror.targetOf(repository);
    if (!mirror || (await this.options.metadata.blobLink(repository, value)) !== undefined) return { info: await this.stat(repository, value) };
    const fetched = await this.mirror.blob(mirror, repository, value);
    return fetched.stream ? { info: fetched.info, upstream: fetched.stream } : { info: fetched.info };
  }

  /** Where the client may fetch a blob `stat` returned itself, when the blob store offers that (see BlobStore.redirectUrl). */
  async redirectUrl(blob: BlobInfo): Promise<string | undefined> {
    return this.options.blobs.redirectUrl?.(blob.digest);
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
   * `context` is the request (who asked, from where) the delete event records.
   */
  async delete(repository: string, digest: string, context?: RequestContext): Promise<void> {
    assertRepositoryName(repository);
    const { value } = parseDigest(digest);
    await this.mirror.refuseWrite(repository, 'a delete');
    const deletion = this.events.prepare({ action: 'delete', kind: 'blob', repository, digest: value }, context);
    if (!(await this.options.metadata.unlinkBlob(repository, value, deletion.outbox))) {
      throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: value } });
    }
    this.events.published(deletion);
  }

  /**
   * Makes a blob visible in `repository` without moving bytes. With `from`, only a blob that `from` can
   * see is mounted; without it (automatic mounting, when on), a blob that some repository links and, when
   * `readable` is given, that the caller may pull: a mount must not tell anyone what other tenants hold.
   * Undefined when the mount cannot be done (the caller then starts an ordinary upload).
   */
  async mount(repository: string, digest: string, options: MountOptions = {}): Promise<BlobInfo | undefined> {
    const { from, readable, context } = options;
    assertRepositoryName(repository);
    if (from !== undefined) assertRepositoryName(from);
    const { value } = parseDigest(digest);
    await this.mirror.refuseWrite(repository, 'a blob mount');
    if (from === undefined && !this.options.automaticMount) return undefined;
    const source = from === undefined ? await this.readableSource(value, readable) : await readableOrNone(from, readable);
    if (source === undefined || !(await this.options.metadata.blobLink(source, value))) return undefined;
    const stored = await this.options.blobs.stat(value);
    if (!stored) return undefined;
    const quota = this.options.quotas.quotaFor(repository);
    const linkOptions = quota === undefined ? {} : { quota };
    // Past the quota, the mount is refused (403 DENIED) rather than turned into an upload that would be refused too.
    await this.options.metadata.linkBlob(repository, stored.digest, stored.size, [], linkOptions);
    // A collector may have removed the bytes between the stat and the link (the link, once made, keeps
    // them): then the mount did not happen, and the client uploads.
    if (!(await this.options.blobs.stat(stored.digest))) {
      await this.options.metadata.unlinkBlob(repository, stored.digest);
      return undefined;
    }
    // Only a mount that stuck is told: its event is written with a second touch of the link, now that the
    // bytes are known to be there, so an undone mount leaves no event in the outbox.
    const mounted = this.events.prepare(
      { action: 'mount', kind: 'blob', repository, digest: stored.digest, size: stored.size, fromRepository: source },
      context,
    );
    await this.options.metadata.linkBlob(repository, stored.digest, stored.size, mounted.outbox, linkOptions);
    this.events.published(mounted);
    return stored;
  }

  /** A repository linking the blob that the caller may pull (any, without a filter), looking at a bounded number. */
  private async readableSource(digest: string, readable: MountOptions['readable']): Promise<string | undefined> {
    let last: string | undefined;
    for (let page = 0; page < AUTOMATIC_MOUNT_PAGES; page++) {
      const linking = await this.options.metadata.repositoriesLinkingBlob(digest, {
        ...(last !== undefined && { last }),
        limit: AUTOMATIC_MOUNT_PAGE_SIZE,
      });
      const candidates = readable ? await readable(linking) : linking;
      if (candidates.length > 0) return candidates[0];
      if (linking.length < AUTOMATIC_MOUNT_PAGE_SIZE) return undefined;
      last = linking[linking.length - 1];
    }
    return undefined;
  }
}

async function readableOrNone(from: string, readable: MountOptions['readable']): Promise<string | undefined> {
  return !readable || (await readable([from])).includes(from) ? from : undefined;
}

/** A cross-repository blob mount: where the blob comes from. */
export interface MountOptions {
  /** The repository named by `from`: only a blob it links is mounted. */
  from?: string;
  /** The request (who asked, from where) the mount event records. */
  context?: RequestContext;
  /** Which of these repositories the caller may pull (`from`, or candidates for an automatic mount); without it, any. */
  readable?: (repositories: string[]) => Promise<string[]>;
}

/** An automatic mount looks at most at this many repositories linking the blob before it gives up and uploads. */
const AUTOMATIC_MOUNT_PAGE_SIZE = 100;
const AUTOMATIC_MOUNT_PAGES = 10;
