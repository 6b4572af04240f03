import type { Readable } from 'node:stream';
import type { BlobReader } from '@berth/core';

/** Opens the object's bytes from `offset` (within the range) to the range's end. */
export type RangeOpener = (offset: number) => Promise<Readable>;

/**
 * Positional reads of a blob (or a range of it) over S3 ranged GETs. Reads that follow each other are
 * served from one streamed GET; a read elsewhere drops it and opens another from there. The first
 * stream is opened with the reader, so a sequential download keeps working if the blob is deleted meanwhile.
 */
export class S3RangeReader implements BlobReader {
  readonly size: number;
  readonly #open: RangeOpener;
  #stream: Readable | undefined;
  #iterator: AsyncIterator<Buffer> | undefined;
  /** Where the stream is: the offset of `#pending`'s first byte. */
  #position = 0;
  #pending: Buffer | undefined;
  #closed = false;

  constructor(size: number, first: Readable, open: RangeOpener) {
    this.size = size;
    this.#open = open;
    this.#attach(first, 0);
  }

  async read(buffer: Uint8Array, offset: number): Promise<number> {
    if (this.#closed) throw new Error('the blob reader is closed');
    if (offset >= this.size || buffer.byteLength === 0) return 0;
    if (this.#stream === undefined || offset !== this.#position) {
      this.#detach();
      this.#attach(await this.#open(offset), offset);
    }
    const wanted = Math.min(buffer.byteLength, this.size - offset);
    let count = 0;
    while (count < wanted) {
      if (this.#pending === undefined || this.#pending.byteLength === 0) {
        // Only an empty buffer waits for the network; what has already arrived fills the rest, so a caller
        // with a large buffer gets few large reads instead of one per socket read (64 KiB).
        const arrived = count > 0 ? (this.#stream!.read() as Buffer | null) : null;
        if (arrived === null && count > 0) break;
        if (arrived !== null) {
          this.#pending = arrived;
        } else {
          const next = await this.#iterator!.next();
          if (next.done) throw new Error(`the blob's stream ended at ${this.#position} of ${this.size} bytes`);
          this.#pending = next.value;
        }
      }
      const taken = Math.min(wanted - count, this.#pending.byteLength);
      buffer.set(this.#pending.subarray(0, taken), count);
      this.#pending = this.#pending.subarray(taken);
      count += taken;
    }
    this.#position += count;
    return count;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#detach();
  }

  #attach(stream: Readable, position: number): void {
    this.#stream = stream;
    this.#iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    this.#position = position;
    this.#pending = undefined;
  }

  #detach(): void {
    this.#stream?.destroy();
    this.#stream = undefined;
    this.#iterator = undefined;
    this.#pending = undefined;
  }
}
