import { RegistryError, exceedsQuota, parseDigest, quotaExceededError, type BlobInfo, type RequestContext, type UploadState } from '@berth/core';
import { assertRepositoryName } from '@berth/core/internal';
import type { EventRecorder } from './events/event-recorder.js';
import type { ByteStream } from './body.js';
import type { ResolvedOptions } from './options.js';
import type { MirrorSource } from './mirror/mirror-source.js';

/** Stale sessions removed per round trip by purgeStarted. */
const PURGE_BATCH = 100;

/** Where a chunk claims to start and end (inclusive), from a `Content-Range` header. */
export interface ChunkRange {
  /** Offset of the chunk's first byte in the upload. */
  start: number;
  /** Offset of the chunk's last byte, inclusive. */
  end: number;
}

/**
 * Blob upload sessions. The blob store holds the bytes and the offset; the metadata store records which
 * repository owns the session, so a session id cannot be used from another repository.
 */
export class UploadService {
  constructor(
    private readonly options: ResolvedOptions,
    private readonly events: EventRecorder,
    private readonly mirror: MirrorSource,
  ) {}

  /** Begins an upload in the repository; refused with DENIED when the repository is already at its quota. */
  async start(repository: string): Promise<UploadState> {
    assertRepositoryName(repository);
    await this.mirror.refuseWrite(repository, 'a blob upload');
    await this.refuseWhenFull(repository);
    const state = await this.options.blobs.beginUpload();
    try {
      await this.options.metadata.createUploadSession({ id: state.id, repository, startedAt: state.startedAt });
    } catch (error) {
      // No session, no way for a client to reach the upload: don't leave its bytes behind.
      await this.options.blobs.abortUpload(state.id).catch(() => undefined);
      throw error;
    }
    return state;
  }

  /** The upload's state; BLOB_UPLOAD_UNKNOWN unless it is a session of this repository. */
  async status(repository: string, id: string): Promise<UploadState> {
    await this.session(repository, id);
    const state = await this.options.blobs.uploadState(id);
    if (!state) throw unknownUpload(id);
    return state;
  }

  /**
   * Appends a chunk. With a range, the chunk must start at the current offset (else 416 with the current
   * Range); without one, the body is streamed onto the end.
   */
  async append(repository: string, id: string, body: ByteStream, range?: ChunkRange): Promise<UploadState> {
    // With a range the blob store checks the offset itself, in the append (416 with the Range it holds):
    // a chunk costs one state lookup fewer (on the filesystem a file read and a stat).
    let offset: number;
    if (range) {
      await this.session(repository, id);
      offset = range.start;
    } else {
      offset = (await this.status(repository, id)).size;
    }
    this.options.observer.uploadReceiving(1);
    try {
      return await this.options.blobs.appendUpload(id, body, offset);
    } catch (error) {
      if (range && error instanceof RegistryError && error.status === 416) throw misplacedChunk(repository, id, range, error);
      throw error;
    } finally {
      this.options.observer.uploadReceiving(-1);
    }
  }

  /** Appends an optional last chunk, verifies the digest and makes the blob visible in the repository. */
  async complete(
    repository: string,
    id: string,
    digest: string,
    lastChunk?: ByteStream,
    range?: ChunkRange,
    context?: RequestContext,
  ): Promise<BlobInfo> {
    const { value } = parseDigest(digest);
    if (lastChunk) await this.append(repository, id, lastChunk, range);
    else await this.session(repository, id);
    // Before the bytes are published: a collector then leaves them until the link exists (and, if it
    // was removing this digest at this moment, has finished, so the commit below publishes them anew).
    const received = await this.options.blobs.uploadState(id);
    await this.refusePastQuota(repository, id, value, received?.size ?? 0);
    await this.options.metadata.touchBlob(value, received?.size ?? 0, id);
    let blob: BlobInfo;
    try {
      blob = await this.options.blobs.commitUpload(id, value);
    } catch (error) {
      // A failed verification discards the upload; its session goes with it.
      if (error instanceof RegistryError && error.code === 'DIGEST_INVALID') {
        await this.options.metadata.deleteUploadSession(id);
      }
      throw error;
    }
    // Every completed upload is a push event, as in distribution, even of a blob the repository had.
    const pushed = this.events.prepare({ action: 'push', kind: 'blob', repository, digest: blob.digest, size: blob.size }, context);
    const quota = this.options.quotas.quotaFor(repository);
    try {
      // The quota again, inside the link's transaction: a concurrent push may have used the room meanwhile.
      await this.options.metadata.linkBlob(repository, blob.digest, blob.size, pushed.outbox, quota === undefined ? {} : { quota });
    } catch (error) {
      // Refused: no link, and no session left. The published bytes are no repository's: the collector removes them.
      if (error instanceof RegistryError && error.code === 'DENIED') await this.options.metadata.deleteUploadSession(id);
      throw error;
    }
    this.events.published(pushed);
    await this.options.metadata.deleteUploadSession(id);
    this.options.observer.blobUploaded({ repository, digest: blob.digest, size: blob.size });
    return blob;
  }

  /** A whole blob in one request (POST with `?digest=`): an upload that starts and completes at once. */
  async putMonolithic(repository: string, digest: string, body: ByteStream, context?: RequestContext): Promise<BlobInfo> {
    parseDigest(digest);
    const state = await this.start(repository);
    try {
      return await this.complete(repository, state.id, digest, body, undefined, context);
    } catch (error) {
      await this.cancel(repository, state.id).catch(() => undefined);
      throw error;
    }
  }

  /** Discards the upload and its session; BLOB_UPLOAD_UNKNOWN unless it is a session of this repository. */
  async cancel(repository: string, id: string): Promise<void> {
    await this.session(repository, id);
    await this.options.blobs.abortUpload(id);
    await this.options.metadata.deleteUploadSession(id);
  }

  /**
   * Discards uploads begun before `date` that were never finished (clients that went away), in
   * batches, and returns how many went. Sessions go first, so a client still using one gets
   * BLOB_UPLOAD_UNKNOWN rather than a half-removed upload.
   */
  async purgeStarted(before: Date): Promise<number> {
    let purged = 0;
    for (;;) {
      const ids = await this.options.metadata.deleteUploadSessionsStartedBefore(before, PURGE_BATCH);
      for (const id of ids) await this.options.blobs.abortUpload(id);
      purged += ids.length;
      if (ids.length < PURGE_BATCH) return purged;
    }
  }

  /** An upload to a repository already at or past its quota could only be refused at the end: refuse it now. */
  private async refuseWhenFull(repository: string): Promise<void> {
    const quota = this.options.quotas.quotaFor(repository);
    if (quota === undefined) return;
    const usage = await this.options.metadata.repositoryUsage(repository);
    const used = usage.blobBytes + usage.manifestBytes;
    if (used >= quota.limit) throw quotaExceededError(quota, repository, used, 0);
  }

  /**
   * Before anything is published: a blob the repository does not link yet that would take it past its
   * quota is refused, and the upload's bytes are discarded with its session. A blob it links costs nothing.
   */
  private async refusePastQuota(repository: string, id: string, digest: string, size: number): Promise<void> {
    const quota = this.options.quotas.quotaFor(repository);
    if (quota === undefined || (await this.options.metadata.blobLink(repository, digest)) !== undefined) return;
    const usage = await this.options.metadata.repositoryUsage(repository);
    const used = usage.blobBytes + usage.manifestBytes;
    if (!exceedsQuota(quota, used, size)) return;
    await this.options.blobs.abortUpload(id);
    await this.options.metadata.deleteUploadSession(id);
    throw quotaExceededError(quota, repository, used, size);
  }

  private async session(repository: string, id: string): Promise<void> {
    assertRepositoryName(repository);
    const session = await this.options.metadata.getUploadSession(id);
    if (!session || session.repository !== repository) throw unknownUpload(id);
  }
}

/** A chunk that does not start where the upload ends: the store's 416 with the upload's Location added. */
function misplacedChunk(repository: string, id: string, range: ChunkRange, refused: RegistryError): RegistryError {
  const held = refused.headers['Range'];
  return new RegistryError('BLOB_UPLOAD_INVALID', `chunk starts at ${range.start}, upload holds ${held === undefined ? 'other bytes' : `bytes ${held}`}`, {
    status: 416,
    headers: { ...refused.headers, Location: uploadLocation(repository, id) },
    detail: refused.detail,
    cause: refused,
  });
}

function unknownUpload(id: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { uuid: id } });
}

/** The `Range` header of an upload holding `size` bytes (`0-0` when empty, as the spec shows). */
export function rangeHeader(size: number): string {
  return `0-${Math.max(size - 1, 0)}`;
}

export function uploadLocation(repository: string, id: string): string {
  return `/v2/${repository}/blobs/uploads/${id}`;
}
