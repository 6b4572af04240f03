import type { FileHandle } from 'node:fs/promises';
import { WriteBufferPool, type WriteBufferLease } from './write-buffer-pool.js';

/**
 * Written bytes after which a datasync starts in the background. The caller still syncs before it
 * publishes the file; this only moves most of the flushing to while the rest is being received, so
 * that final sync has little left to do.
 */
const DEFAULT_FLUSH_BYTES = 64 * 1024 * 1024;
/** Full batches one writer may have waiting for the disk before it stops reading. */
const MAX_QUEUED_BATCHES = 4;

export interface BatchedFileWriterOptions {
  /** Where the batch buffers come from; shared by a store's writers so that together they stay bounded. */
  pool?: WriteBufferPool;
  flushEveryBytes?: number;
}

/**
 * Writes a sequence of chunks to a file from `position` on. Each chunk is copied at once into a pooled
 * batch buffer, written with one positional write when full, and the next batch fills while the previous
 * one is on its way to the kernel, so reading the request and writing the file overlap instead of taking
 * turns. At most one batch is in flight and one is filling, which bounds the memory an upload holds to
 * two buffers of the lease's size. Chunks are not kept: the caller may reuse them once `write` returns.
 * `end` or `settle` must be called once done, to give the buffers back.
 */
export class BatchedFileWriter {
  readonly #handle: FileHandle;
  readonly #buffers: WriteBufferLease;
  readonly #flushEveryBytes: number;
  #position: number;
  #unflushed = 0;
  #flushing: Promise<void> | undefined;
  #filling: Buffer | undefined;
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
  }

  /**
   * Copies a chunk into the batch, handing full batches to the disk; waits only when this writer has
   * too many batches waiting for the disk (or the pool is over its budget and this writer has any).
   */
  async write(chunk: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    let copied = 0;
    while (copied < chunk.byteLength) {
      const buffer = (this.#filling ??= this.#buffers.take());
      const length = Math.min(buffer.byteLength - this.#filled, chunk.byteLength - copied);
      buffer.set(length === chunk.byteLength ? chunk : chunk.subarray(copied, copied + length), this.#filled);
      this.#filled += length;
      copied += length;
      if (this.#filled === buffer.byteLength) this.#writeFilled();
    }
    // Only once the chunk is copied: a socket buffer held across a wait outlives V8's young generation.
    while (this.#writes.length >= MAX_QUEUED_BATCHES || (this.#writes.length > 0 && this.#buffers.overBudget())) {
      await this.#writes[0];
    }
    this.#throwIfFailed();
  }

  /** Writes what is left and waits for every write and background flush; returns the position after the last byte. */
  async end(): Promise<number> {
    try {
      if (this.#filled > 0) this.#writeFilled();
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

  #writeFilled(): void {
    const buffer = this.#filling!;
    const bytes = this.#filled;
    const position = this.#position;
    this.#filling = undefined;
    this.#filled = 0;
    this.#position += bytes;
    // A failure is recorded, never left as an unhandled rejection while the caller is still reading.
    // The buffer goes back to the pool only once the kernel is done with it, whatever the outcome.
    const written = this.#lastWrite.then(async () => {
      try {
        if (this.#failure) return;
        await writeFully(this.#handle, buffer, bytes, position);
        this.#wrote(bytes);
      } catch (error) {
        this.#fail(error);
      } finally {
        this.#buffers.give(buffer);
        this.#writes.shift();
      }
    });
    this.#writes.push(written);
    this.#lastWrite = written;
  }

  #giveBack(): void {
    if (this.#filling !== undefined) this.#buffers.give(this.#filling);
    this.#filling = undefined;
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
