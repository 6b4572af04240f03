import type { FileHandle } from 'node:fs/promises';

/**
 * Positional reads of one byte range of an open file into buffers the caller owns. An HTTP layer
 * that knows when the socket is done with a buffer can reuse it for the next read, so sending a blob
 * allocates nothing per chunk (a Readable must hand out a fresh buffer each time, and at gigabytes per
 * second that garbage costs more CPU in the collector, and memory, than the reads themselves).
 */
export class FileRangeReader {
  readonly #handle: FileHandle;
  readonly #start: number;
  /** Bytes in the range. */
  readonly size: number;
  #closed: Promise<void> | undefined;

  constructor(handle: FileHandle, start: number, size: number) {
    this.#handle = handle;
    this.#start = start;
    this.size = size;
  }

  /**
   * Reads up to `buffer.byteLength` bytes from `offset` within the range into `buffer`; returns how many
   * were read, 0 at the end of the range.
   */
  async read(buffer: Uint8Array, offset: number): Promise<number> {
    const length = Math.min(buffer.byteLength, this.size - offset);
    if (length <= 0) return 0;
    const { bytesRead } = await this.#handle.read(buffer, 0, length, this.#start + offset);
    return bytesRead;
  }

  /** Closes the file; safe to call more than once. */
  close(): Promise<void> {
    this.#closed ??= this.#handle.close();
    return this.#closed;
  }
}
