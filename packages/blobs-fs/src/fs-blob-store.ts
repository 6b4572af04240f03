import { randomUUID, type Hash } from 'node:crypto';
import { access, mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  RegistryError,
  chunksAreHandedOver,
  createDigestHash,
  parseDigest,
  satisfiableRange,
  type BlobInfo,
  type BlobReader,
  type BlobStore,
  type ByteRange,
  type DigestAlgorithm,
  type ListedBlob,
  type ParsedDigest,
  type UploadState,
} from '@berth/core';
import { BatchedFileWriter } from './batched-file-writer.js';
import { ensureDirectoryDurably, fsyncDirectory, isErrnoException, openIfExists } from './fs-utils.js';
import { FileRangeReader } from './file-range-reader.js';
import { hashFile } from './hash-file.js';
import { KeyedMutex } from '@berth/core/internal';
import { WriteBufferPool } from './write-buffer-pool.js';
import { failFullAsInsufficientStorage as whenFull } from './storage-full.js';
import { FsLayout, UPLOAD_DATA_FILE, UPLOAD_STATE_FILE, isUploadId } from './layout.js';

/** Read size of blob streams: fewer thread-pool round trips than the 64 KiB default, still small per client. */
const STREAM_CHUNK_BYTES = 256 * 1024;
/** Files listBlobs() stats at once. */
const PARALLEL_STATS = 16;

/** Options of {@link openFsBlobStore}. */
export interface FsBlobStoreOptions {
  /** Directory holding blobs, uploads and temp files; created when missing. */
  root: string;
}

/**
 * The sha256 of an upload's bytes as this process wrote them. Only an optimisation: it is
 * trusted at commit only while the file still has the size and mtime it had after our last write
 * (another process, a crash or a restart all make it stale, and then the file is re-hashed).
 */
interface RunningHash {
  hash: Hash;
  size: number;
  mtimeNs: bigint;
}

/**
 * A datasync of an upload's data started after an append and not awaited by it, so that the flushing
 * overlaps the next chunks and commit finds little left to write. Its failure is kept for commit:
 * Linux reports a writeback error to one fsync only, and the blob must not be published after one.
 */
interface BackgroundFlush {
  settled: Promise<void>;
  done: boolean;
  failure?: { error: unknown };
}

/** What the upload's state.json holds; the size is never stored, the data file's size is the truth. */
interface StoredUploadState {
  startedAt: string;
}

/** The private constructor, for openFsBlobStore (a class's static block is the one place that may call it). */
let construct: (layout: FsLayout) => FsBlobStore;

/**
 * A BlobStore on a local (or shared) filesystem. See FsLayout for the directory layout. Every operation
 * that writes answers a full filesystem (ENOSPC, EDQUOT) with a 507 RegistryError, after undoing what it
 * wrote, so a push that does not fit leaves nothing behind and pushes work again once there is room.
 */
export class FsBlobStore implements BlobStore {
  static {
    construct = (layout) => new FsBlobStore(layout);
  }

  readonly #layout: FsLayout;
  readonly #locks = new KeyedMutex();
  readonly #runningHashes = new Map<string, RunningHash>();
  readonly #flushes = new Map<string, BackgroundFlush>();
  /** Shared by all uploads, so that many at once hold a bounded amount of memory between them. */
  readonly #writeBuffers = new WriteBufferPool();
  /** Set by close(): uploads are refused from then on. */
  #closed: Promise<void> | undefined;

  private constructor(layout: FsLayout) {
    this.#layout = layout;
  }

  /** The directory holding blobs, uploads and temporary files. */
  get root(): string {
    return this.#layout.root;
  }

  /**
   * The blob, upload and staging directories are there and writable (a read-only mount fails with
   * EROFS, a removed or unmounted directory with ENOENT). Nothing is written.
   */
  async ping(): Promise<void> {
    for (const dir of [this.#layout.blobsDir, this.#layout.uploadsDir, this.#layout.tmpDir]) await access(dir, constants.W_OK);
  }

  /** The blob's digest and size (from its file), or undefined when the file does not exist. */
  async stat(digest: string): Promise<BlobInfo | undefined> {
    const parsed = parseDigest(digest);
    try {
      const info = await stat(this.#layout.blobPath(parsed));
      return { digest: parsed.value, size: info.size };
    } catch (error) {
      if (isErrnoException(error, 'ENOENT')) return undefined;
      throw error;
    }
  }

  /** A stream of the blob's file, or of an inclusive range of it; undefined when the blob does not exist. */
  async open(digest: string, range?: ByteRange): Promise<Readable | undefined> {
    const opened = await this.#openRange(digest, range);
    if (opened === undefined) return undefined;
    const { handle, start, end } = opened;
    // Without a range the stream reads to the end of the file (the empty blob gives an empty stream).
    return range === undefined
      ? handle.createReadStream({ highWaterMark: STREAM_CHUNK_BYTES })
      : handle.createReadStream({ start, end, highWaterMark: STREAM_CHUNK_BYTES });
  }

  /**
   * The blob (or an inclusive range of it) as positional reads into the caller's buffers, or undefined
   * when it does not exist. The caller must close the reader. See FileRangeReader for why.
   */
  async openReader(digest: string, range?: ByteRange): Promise<BlobReader | undefined> {
    const opened = await this.#openRange(digest, range, true);
    return opened && new FileRangeReader(opened.handle, opened.start, opened.end - opened.start + 1);
  }

  /** Walks blobs/<algorithm>/<xx>/ one directory at a time, so memory holds one directory's names. */
  async *listBlobs(): AsyncIterable<ListedBlob> {
    for (const algorithm of (await readdirIfExists(this.#layout.blobsDir)).sort()) {
      const algorithmDir = join(this.#layout.blobsDir, algorithm);
      for (const prefix of (await readdirIfExists(algorithmDir)).sort()) {
        const prefixDir = join(algorithmDir, prefix);
        const names = (await readdirIfExists(prefixDir)).sort();
        // A few stats in flight at once: one at a time, a large store's listing is mostly waiting.
        for (let start = 0; start < names.length; start += PARALLEL_STATS) {
          const batch = names.slice(start, start + PARALLEL_STATS);
          const infos = await Promise.all(
            batch.map((hex) =>
              stat(join(prefixDir, hex)).catch((error: unknown) => {
                // Deleted between the listing and the stat.
                if (isErrnoException(error, 'ENOENT')) return undefined;
                throw error;
              }),
            ),
          );
          for (const [index, info] of infos.entries()) {
            if (info?.isFile()) yield { digest: `${algorithm}:${batch[index]}`, size: info.size, modifiedAt: info.mtime };
          }
        }
      }
    }
  }

  /** Removes the blob's file; false when it did not exist. */
  async delete(digest: string): Promise<boolean> {
    const parsed = parseDigest(digest);
    return whenFull(async () => {
      try {
        await unlink(this.#layout.blobPath(parsed));
        return true;
      } catch (error) {
        if (isErrnoException(error, 'ENOENT')) return false;
        throw error;
      }
    });
  }

  /**
   * Waits for the uploads' background flushes (so no file of the store is left open), then refuses new
   * uploads, appends and commits with 503 UNAVAILABLE; reads go on working. Idempotent. An upload's
   * bytes are on disk, so another store on the same root continues it.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.all([...this.#flushes.values()].map((flush) => flush.settled));
      this.#flushes.clear();
      this.#runningHashes.clear();
    })();
    return this.#closed;
  }

  /** Runs a write, or refuses it once the store is closed (a rejected promise, as every method's failure is). */
  #whileOpen<T>(write: () => Promise<T>): Promise<T> {
    if (this.#closed !== undefined) return Promise.reject(new RegistryError('UNAVAILABLE', 'the blob store is closed'));
    return write();
  }

  /** Creates an empty upload directory (built in tmp/ and renamed into place) and returns its state. */
  beginUpload(): Promise<UploadState> {
    return this.#whileOpen(() => whenFull(async () => {
      const id = randomUUID();
      const startedAt = new Date();
      // Built in tmp/ and renamed into uploads/ whole, so no one ever sees a half-made upload.
      const staging = this.#layout.tmpPath(id);
      await mkdir(staging);
      try {
        await writeFile(join(staging, UPLOAD_DATA_FILE), new Uint8Array(0), { flag: 'wx' });
        const state: StoredUploadState = { startedAt: startedAt.toISOString() };
        await writeFile(join(staging, UPLOAD_STATE_FILE), JSON.stringify(state), { flag: 'wx' });
        await rename(staging, this.#layout.uploadDir(id));
      } catch (error) {
        // A full disk can refuse the state file: leave no staging directory behind.
        await rm(staging, { recursive: true, force: true }).catch(() => undefined);
        throw error;
      }
      return { id, size: 0, startedAt };
    }));
  }

  /** The upload's state, its size being the data file's; undefined when unknown. */
  async uploadState(id: string): Promise<UploadState | undefined> {
    if (!isUploadId(id)) return undefined;
    const startedAt = await this.#readStartedAt(id);
    if (startedAt === undefined) return undefined;
    try {
      const { size } = await stat(join(this.#layout.uploadDir(id), UPLOAD_DATA_FILE));
      return { id, size, startedAt };
    } catch (error) {
      if (isErrnoException(error, 'ENOENT')) return undefined;
      throw error;
    }
  }

  /**
   * Appends a stream to the upload's data file, which must hold exactly `expectedOffset` bytes (else 416
   * BLOB_UPLOAD_INVALID).
   */
  appendUpload(id: string, body: AsyncIterable<Uint8Array>, expectedOffset: number): Promise<UploadState> {
    return this.#whileOpen(() => whenFull(() => this.#append(id, body, expectedOffset)));
  }

  #append(id: string, body: AsyncIterable<Uint8Array>, expectedOffset: number): Promise<UploadState> {
    // Queued synchronously (whenFull calls this at once) so that appends run in the order they were called.
    return this.#locks.run(id, async () => {
      const startedAt = isUploadId(id) ? await this.#readStartedAt(id) : undefined;
      const handle = startedAt === undefined ? undefined : await this.#openUploadData(id, 'r+');
      if (startedAt === undefined || handle === undefined) throw uploadUnknown(id);
      try {
        // The file on disk, not memory, says how much was received: it is what another process sees too.
        const before = await handle.stat({ bigint: true });
        const size = Number(before.size);
        if (size !== expectedOffset) throw offsetMismatch(id, size, expectedOffset);

        const running = this.#runningHashes.get(id);
        // Hash a copy, so that a failed chunk leaves the running hash as it was.
        const hash =
          running !== undefined && isCurrent(running, before.size, before.mtimeNs)
            ? running.hash.copy()
            : size === 0
              ? createDigestHash('sha256')
              : undefined;

        // Hashed as it arrives, copied into pooled batches written while the next bytes are read; a
        // handed-over chunk (an HTTP/1 request's) is freed as soon as it is copied or written.
        const writer = new BatchedFileWriter(handle, size, { pool: this.#writeBuffers, releaseChunks: chunksAreHandedOver(body) });
        let position: number;
        try {
          for await (const chunk of body) {
            hash?.update(chunk);
            await writer.write(chunk);
          }
          position = await writer.end();
        } catch (error) {
          // A chunk is all or nothing: drop what this one wrote, so the client can resend it at the same offset.
          await writer.settle();
          await handle.truncate(size);
          throw error;
        }

        const after = await handle.stat({ bigint: true });
        if (hash === undefined) this.#runningHashes.delete(id);
        else this.#runningHashes.set(id, { hash, size: Number(after.size), mtimeNs: after.mtimeNs });
        this.#flushInBackground(id);
        return { id, size: position, startedAt };
      } finally {
        await handle.close();
      }
    });
  }

  /**
   * Checks the upload's hash against `expectedDigest`, syncs it, and renames it into place as the blob; on a mismatch
   * removes it (DIGEST_INVALID).
   */
  commitUpload(id: string, expectedDigest: string): Promise<BlobInfo> {
    return this.#whileOpen(async () => {
      const expected = parseDigest(expectedDigest);
      return whenFull(() => this.#commit(id, expected));
    });
  }

  #commit(id: string, expected: ParsedDigest): Promise<BlobInfo> {
    return this.#locks.run(id, async () => {
      const handle = isUploadId(id) ? await this.#openUploadData(id, 'r+') : undefined;
      if (handle === undefined) throw uploadUnknown(id);
      let size: number;
      let actualHex: string;
      try {
        await this.#backgroundFlushDone(id);
        const info = await handle.stat({ bigint: true });
        size = Number(info.size);
        actualHex = await this.#digestHex(id, handle, info.size, info.mtimeNs, expected.algorithm);
        // Durable before it becomes visible: the rename below must never publish unsynced bytes.
        if (actualHex === expected.hex) await handle.sync();
      } finally {
        await handle.close();
      }
      if (actualHex !== expected.hex) {
        await this.#removeUpload(id);
        throw new RegistryError('DIGEST_INVALID', `upload ${id} does not match digest ${expected.value}`, {
          detail: { expected: expected.value, actual: `${expected.algorithm}:${actualHex}` },
        });
      }

      const blobPath = this.#layout.blobPath(expected);
      if (!(await pathExists(blobPath))) {
        const blobDir = dirname(blobPath);
        await ensureDirectoryDurably(blobDir);
        await rename(join(this.#layout.uploadDir(id), UPLOAD_DATA_FILE), blobPath);
        await fsyncDirectory(blobDir);
      }
      // If the blob already existed the upload is simply dropped: content addressing makes them equal.
      await this.#removeUpload(id);
      return { digest: expected.value, size };
    });
  }

  /** Removes the upload's directory; false when it was unknown. */
  abortUpload(id: string): Promise<boolean> {
    if (!isUploadId(id)) return Promise.resolve(false);
    return whenFull(() => this.#locks.run(id, () => this.#removeUpload(id)));
  }

  /** Uploads begun before `date`, for a janitor that purges abandoned ones. */
  async uploadsOlderThan(date: Date): Promise<UploadState[]> {
    const older: UploadState[] = [];
    for (const id of await readdir(this.#layout.uploadsDir)) {
      const state = await this.uploadState(id);
      if (state !== undefined && state.startedAt < date) older.push(state);
    }
    return older;
  }

  /**
   * Removes uploads begun before `date`, upload directories left broken by a crash (no state or no
   * data), and leftovers in tmp/ older than `date`. Returns the ids of the uploads removed.
   */
  purgeUploads(date: Date): Promise<string[]> {
    return whenFull(() => this.#purge(date));
  }

  async #purge(date: Date): Promise<string[]> {
    const removed: string[] = [];
    for (const id of await readdir(this.#layout.uploadsDir)) {
      const state = isUploadId(id) ? await this.uploadState(id) : undefined;
      if (state !== undefined && state.startedAt >= date) continue;
      if (await this.#locks.run(id, () => this.#removeUpload(id))) removed.push(id);
    }
    for (const name of await readdir(this.#layout.tmpDir)) {
      const path = this.#layout.tmpPath(name);
      const info = await stat(path).catch(() => undefined);
      if (info !== undefined && info.mtime < date) await rm(path, { recursive: true, force: true });
    }
    return removed;
  }

  async #readStartedAt(id: string): Promise<Date | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.#layout.uploadDir(id), UPLOAD_STATE_FILE), 'utf8');
    } catch (error) {
      if (isErrnoException(error, 'ENOENT')) return undefined;
      throw error;
    }
    // A state file that is not what beginUpload wrote makes the upload unknown rather than a 500.
    let startedAt: Date;
    try {
      startedAt = new Date((JSON.parse(text) as StoredUploadState).startedAt);
    } catch {
      return undefined;
    }
    return Number.isNaN(startedAt.getTime()) ? undefined : startedAt;
  }

  /**
   * Opens a blob and validates the range against its size. Without a range, the whole blob, and the file
   * is not even stat'ed (`end` is then -1: read to the end of the file).
   */
  async #openRange(
    digest: string,
    range: ByteRange | undefined,
    needSize = false,
  ): Promise<{ handle: FileHandle; start: number; end: number } | undefined> {
    const parsed = parseDigest(digest);
    // Holding the descriptor means a concurrent delete cannot cut the read short.
    const handle = await openIfExists(this.#layout.blobPath(parsed), 'r');
    if (handle === undefined) return undefined;
    try {
      if (range === undefined && !needSize) return { handle, start: 0, end: -1 };
      const { size } = await handle.stat();
      if (range === undefined) return { handle, start: 0, end: size - 1 };
      return { handle, ...satisfiableRange(range, size, parsed.value) };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  #openUploadData(id: string, flags: string): Promise<FileHandle | undefined> {
    return openIfExists(join(this.#layout.uploadDir(id), UPLOAD_DATA_FILE), flags);
  }

  /** Starts a datasync of the upload's data unless one is still running (the next append or commit catches up). */
  #flushInBackground(id: string): void {
    const previous = this.#flushes.get(id);
    if (previous !== undefined && (!previous.done || previous.failure !== undefined)) return;
    const flush: BackgroundFlush = { settled: Promise.resolve(), done: false };
    flush.settled = (async () => {
      try {
        const handle = await this.#openUploadData(id, 'r');
        if (handle === undefined) return; // removed meanwhile: nothing to publish
        try {
          await handle.datasync();
        } finally {
          await handle.close();
        }
      } catch (error) {
        flush.failure = { error };
      } finally {
        flush.done = true;
      }
    })();
    this.#flushes.set(id, flush);
  }

  /** Waits for the upload's background flush; rethrows its failure. */
  async #backgroundFlushDone(id: string): Promise<void> {
    const flush = this.#flushes.get(id);
    if (flush === undefined) return;
    await flush.settled;
    if (flush.failure) throw flush.failure.error;
  }

  /** The upload's digest: from the running hash when it is current, else by re-reading the file. */
  async #digestHex(
    id: string,
    handle: FileHandle,
    size: bigint,
    mtimeNs: bigint,
    algorithm: DigestAlgorithm,
  ): Promise<string> {
    const running = this.#runningHashes.get(id);
    if (algorithm === 'sha256' && running !== undefined && isCurrent(running, size, mtimeNs)) {
      return running.hash.copy().digest('hex');
    }
    return hashFile(handle, Number(size), algorithm);
  }

  /** Moves the upload out of uploads/ in one rename (so it vanishes atomically), then deletes it. */
  async #removeUpload(id: string): Promise<boolean> {
    this.#runningHashes.delete(id);
    this.#flushes.delete(id);
    const trash = this.#layout.tmpPath(`removed-${randomUUID()}`);
    try {
      await rename(this.#layout.uploadDir(id), trash);
    } catch (error) {
      if (isErrnoException(error, 'ENOENT')) return false;
      throw error;
    }
    await rm(trash, { recursive: true, force: true });
    return true;
  }
}

/**
 * Opens a filesystem blob store rooted at `options.root`, creating its directories when needed.
 *
 * @example
 * ```ts
 * const blobs = await openFsBlobStore({ root: './data/blobs' });
 * ```
 */
export async function openFsBlobStore(options: FsBlobStoreOptions): Promise<FsBlobStore> {
  const layout = new FsLayout(options.root);
  for (const dir of [layout.blobsDir, layout.uploadsDir, layout.tmpDir]) await mkdir(dir, { recursive: true });
  return construct(layout);
}

function isCurrent(running: RunningHash, size: bigint, mtimeNs: bigint): boolean {
  return BigInt(running.size) === size && running.mtimeNs === mtimeNs;
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isErrnoException(error, 'ENOENT')) return false;
    throw error;
  }
}

function uploadUnknown(id: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN', `blob upload "${id}" is unknown`);
}

function offsetMismatch(id: string, size: number, expectedOffset: number): RegistryError {
  // The spec's Range for an upload is inclusive, and `0-0` when nothing has been received yet.
  const range = size === 0 ? '0-0' : `0-${size - 1}`;
  return new RegistryError('BLOB_UPLOAD_INVALID', `upload ${id} holds ${size} bytes, not ${expectedOffset}`, {
    status: 416,
    headers: { Range: range },
    detail: { size, expectedOffset },
  });
}

async function readdirIfExists(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (isErrnoException(error, 'ENOENT') || isErrnoException(error, 'ENOTDIR')) return [];
    throw error;
  }
}
