import type { FileHandle } from 'node:fs/promises';
import { releaseChunk } from './release-chunk.js';
import { WriteBufferPool, type WriteBufferLease } from './write-buffer-pool.js';

/**
 * Written bytes after which a datasync starts in the background. The caller still syncs before it
 * publishes the file; this only moves most of the flushing to while the rest is being received, so
 * that final sync has little left to do.
 */
const DEFAULT_FLUSH_BYTES = 64 * 1024 * 1024;
/** Full batches a copying writer may have waiting for the disk while it keeps reading. */
const MAX_QUEUED_COPIES = 3;
/** A gathering writer keeps reading while one batch is being written: its chunks are not in the pool's budget. */
const MAX_QUEUED_GATHERED = 1;
/** Stay well under IOV_MAX (1024 on Linux) however small the gathered chunks are. */
const MAX_GATHERED_CHUNKS = 512;

export interface BatchedFileWriterOptions {
  /** Where batch sizes and buffers come from; shared by a store's writers so that together they stay bounded. */
  pool?: WriteBufferPool;
  flushEveryBytes?: number;
  /**
   * The chunks are handed over (core's handOverChunks): free each one once it is copied or written, so
   * that many uploads at once do not hold the garbage of their socket reads until the collector runs.
   */
  releaseChunks?: boolean;
}

/** What one positional write takes: a pooled buffer filled by copies, or the caller's chunks as they are. */
type Batch = { buffer: Buffer; bytes: number } | { chunks: Uint8Array[]; bytes: number };

/**
 * Writes a sequence of chunks to a file from `position` on, in batches of the lease's size, the next batch
 * filling while earlier ones are on their way to the kernel, so reading the request and writing the file
 * overlap instead of taking turns. With few writers at once (a lease that does not copy) the chunks are
 * gathered and written as they are with one `writev`, at most one batch in flight and one filling; the
 * caller must not modify them afterwards. With many, each chunk is copied at once into a pooled buffer,
 * so the caller's chunks die young, and a few full buffers may wait for the disk (one once the pool is over
 * its budget). `end` or `settle` must be called once done, to give the buffers back.
 */
export class BatchedFileWriter {
  readonly #handle: FileHandle;
  readonly #buffers: WriteBufferLease;
  readonly #flushEveryBytes: number;
  readonly #releaseChunks: boolean;
  #position: number;
  #unflushed = 0;
  #flushing: Promise<void> | undefined;
  /** The pooled buffer being filled (copying writers). */
  #filling: Buffer | undefined;
  /** The chunks gathered for the next batch (gathering writers). */
  #gathered: Uint8Array[] = [];
  #filled = 0;
  /** Batches handed to the disk and not yet written, oldest first; they are written one after another. */
  readonly #writes: Promise<void>[] = [];
  #lastWrite: Promise<void> = Promise.resolve();
  #failure: { error: unknown } | undefined;

  constructor(handle: FileHandle, position: number, options: BatchedFileWriterOptions = {}) {
    this.#handle = handle;
    this.#position = position;
    this.#buffers = (options.pool ?? new WriteBufferPool()).lease();
    this.#flushEveryBytes = options.flushEveryBytes ?? DEFAULT_FLUSH_BYTES;
    this.#releaseChunks = options.releaseChunks ?? false;
  }

  /** Takes a chunk into the batch, handing full batches to the disk; waits only when too many are waiting for it. */
  async write(chunk: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    if (this.#buffers.copies) this.#copy(chunk);
    else this.#gather(chunk);
    // Only once the chunk is taken: a copying writer holds no socket buffer while it waits.
    while (this.#mustWait()) await this.#writes[0];
    this.#throwIfFailed();
  }

  /** Writes what is left and waits for every write and background flush; returns the position after the last byte. */
  async end(): Promise<number> {
    try {
      if (this.#filled > 0) this.#writeBatch();
      await this.#lastWrite;
      await this.#flushing;
      this.#throwIfFailed();
      return this.#position;
    } finally {
      this.#giveBack();
    }
  }

  /** Waits until nothing is in flight, whatever its outcome (before truncating or closing after a failure). */
  async settle(): Promise<void> {
    await this.#lastWrite;
    await this.#flushing;
    this.#giveBack();
  }

  #copy(chunk: Uint8Array): void {
    let copied = 0;
    while (copied < chunk.byteLength) {
      const buffer = (this.#filling ??= this.#buffers.take());
      const length = Math.min(buffer.byteLength - this.#filled, chunk.byteLength - copied);
      buffer.set(length === chunk.byteLength ? chunk : chunk.subarray(copied, copied + length), this.#filled);
      this.#filled += length;
      copied += length;
      if (this.#filled === buffer.byteLength) this.#writeBatch();
    }
    if (this.#releaseChunks) releaseChunk(chunk);
  }

  #gather(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.#gathered.push(chunk);
    this.#filled += chunk.byteLength;
    if (this.#filled >= this.#buffers.size || this.#gathered.length >= MAX_GATHERED_CHUNKS) this.#writeBatch();
  }

  #mustWait(): boolean {
    if (!this.#buffers.copies) return this.#writes.length > MAX_QUEUED_GATHERED;
    return this.#writes.length > MAX_QUEUED_COPIES || (this.#writes.length > 0 && this.#buffers.overBudget());
  }

  #writeBatch(): void {
    const batch: Batch = this.#buffers.copies
      ? { buffer: this.#filling!, bytes: this.#filled }
      : { chunks: this.#gathered, bytes: this.#filled };
    const position = this.#position;
    this.#filling = undefined;
    this.#gathered = [];
    this.#filled = 0;
    this.#position += batch.bytes;
    // A failure is recorded, never left as an unhandled rejection while the caller is still reading.
    // A pooled buffer goes back only once the kernel is done with it, whatever the outcome.
    const written = this.#lastWrite.then(async () => {
      try {
        if (this.#failure) return;
        if ('buffer' in batch) await writeFully(this.#handle, batch.buffer, batch.bytes, position);
        else await writevFully(this.#handle, batch.chunks, position);
        this.#wrote(batch.bytes);
      } catch (error) {
        this.#fail(error);
      } finally {
        if ('buffer' in batch) this.#buffers.give(batch.buffer);
        else if (this.#releaseChunks) for (const chunk of batch.chunks) releaseChunk(chunk);
        this.#writes.shift();
      }
    });
    this.#writes.push(written);
    this.#lastWrite = written;
  }

  #giveBack(): void {
    if (this.#filling !== undefined) this.#buffers.give(this.#filling);
    this.#filling = undefined;
    this.#gathered = [];
    this.#filled = 0;
    this.#buffers.release();
  }

  #wrote(bytes: number): void {
    this.#unflushed += bytes;
    if (this.#unflushed < this.#flushEveryBytes || this.#flushing) return;
    this.#unflushed = 0;
    // Linux reports a writeback error to one fsync only, so a failed background flush must fail the upload.
    this.#flushing = this.#handle.datasync().then(
      () => {
        this.#flushing = undefined;
      },
      (error: unknown) => {
        this.#flushing = undefined;
        this.#fail(error);
      },
    );
  }

  #fail(error: unknown): void {
    this.#failure ??= { error };
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }
}

/** A positional write may write less than asked; this continues until every byte is written. */
async function writeFully(handle: FileHandle, buffer: Buffer, length: number, position: number): Promise<void> {
  for (let written = 0; written < length; ) {
    const { bytesWritten } = await handle.write(buffer, written, length - written, position + written);
    if (bytesWritten === 0) throw new Error(`write wrote nothing at offset ${position + written}`);
    written += bytesWritten;
  }
}

/** A positional writev may write less than asked; this continues until every byte is written. */
async function writevFully(handle: FileHandle, buffers: Uint8Array[], position: number): Promise<void> {
  let remaining = buffers;
  let offset = position;
  while (remaining.length > 0) {
    const { bytesWritten } = await handle.writev(remaining, offset);
    if (bytesWritten === 0) throw new Error(`writev wrote nothing at offset ${offset}`);
    offset += bytesWritten;
    remaining = dropWritten(remaining, bytesWritten);
  }
}

function dropWritten(buffers: Uint8Array[], bytesWritten: number): Uint8Array[] {
  let skip = bytesWritten;
  let index = 0;
  while (index < buffers.length && skip >= buffers[index]!.byteLength) {
    skip -= buffers[index]!.byteLength;
    index++;
  }
  const rest = buffers.slice(index);
  if (skip > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(skip);
  return rest;
}
