/** Memory the upload writers of one store reserve together (two buffers each), and at most keep pooled. */
const DEFAULT_BUDGET_BYTES = 8 * 1024 * 1024;
/** A lone upload's batch: few syscalls and thread-pool round trips (1 MiB measured faster than 4 MiB). */
const DEFAULT_LARGEST_BYTES = 1024 * 1024;
/** The batch of each upload once the budget is taken: one socket read's worth. */
const DEFAULT_SMALLEST_BYTES = 64 * 1024;

export interface WriteBufferPoolOptions {
  budgetBytes?: number;
  largestBytes?: number;
  smallestBytes?: number;
}

/**
 * The batch sizes of upload writers, and the buffers they copy request bytes into once many upload at
 * once, reused from one batch and one upload to the next. Copying is what bounds memory under many
 * uploads: an upload holds a few pooled buffers instead of batches of the socket's chunks (100 uploads
 * held up to 200 MiB of them while the disk lagged), and each chunk becomes garbage as soon as it is
 * copied, for the next scavenge to free. A lone upload gets large batches and no copy (a copy costs it
 * about a tenth of its speed); many at once get smaller ones, so that together they stay within the budget
 * (beyond it, each gets the smallest size, and waits for the disk before taking more).
 */
export class WriteBufferPool {
  readonly #budget: number;
  readonly #largest: number;
  readonly #smallest: number;
  readonly #free = new Map<number, Buffer[]>();
  #freeBytes = 0;
  /** Bytes reserved by the leases in use. */
  #reserved = 0;
  /** Bytes of the buffers taken and not given back. */
  #inUse = 0;

  constructor(options: WriteBufferPoolOptions = {}) {
    this.#budget = options.budgetBytes ?? DEFAULT_BUDGET_BYTES;
    this.#largest = options.largestBytes ?? DEFAULT_LARGEST_BYTES;
    this.#smallest = Math.min(options.smallestBytes ?? DEFAULT_SMALLEST_BYTES, this.#largest);
  }

  /**
   * Reserves two batches' worth for one writer: the batch being filled and the one being written. While
   * the largest size fits in the budget, the writer may gather the caller's chunks as they are (no copy);
   * beyond it, it copies them into the pool's buffers.
   */
  lease(): WriteBufferLease {
    const roomy = this.#reserved + 2 * this.#largest <= this.#budget;
    let size = this.#largest;
    while (size > this.#smallest && this.#reserved + 2 * size > this.#budget) size = Math.max(this.#smallest, size / 2);
    this.#reserved += 2 * size;
    return new WriteBufferLease(this, size, !roomy);
  }

  /** @internal through WriteBufferLease */
  take(size: number): Buffer {
    this.#inUse += size;
    const buffer = this.#free.get(size)?.pop();
    if (buffer === undefined) return Buffer.allocUnsafeSlow(size);
    this.#freeBytes -= size;
    return buffer;
  }

  /** @internal through WriteBufferLease; what does not fit in the budget is left to the collector. */
  give(buffer: Buffer): void {
    this.#inUse -= buffer.byteLength;
    if (this.#freeBytes + buffer.byteLength > this.#budget) return;
    const list = this.#free.get(buffer.byteLength) ?? [];
    list.push(buffer);
    this.#free.set(buffer.byteLength, list);
    this.#freeBytes += buffer.byteLength;
  }

  /** True when the buffers in use exceed the budget: writers then wait for the disk before taking more. */
  overBudget(): boolean {
    return this.#inUse > this.#budget;
  }

  /** @internal through WriteBufferLease */
  unreserve(size: number): void {
    this.#reserved -= 2 * size;
  }
}

/** One writer's share of the pool: buffers of one size, handed back when the writer is done. */
export class WriteBufferLease {
  readonly #pool: WriteBufferPool;
  readonly size: number;
  /** True when the writer must copy chunks into pooled buffers; false when it may hold on to them (few writers). */
  readonly copies: boolean;
  #released = false;

  constructor(pool: WriteBufferPool, size: number, copies: boolean) {
    this.#pool = pool;
    this.size = size;
    this.copies = copies;
  }

  take(): Buffer {
    return this.#pool.take(this.size);
  }

  give(buffer: Buffer): void {
    this.#pool.give(buffer);
  }

  overBudget(): boolean {
    return this.#pool.overBudget();
  }

  /** Ends the reservation; safe to call more than once. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#pool.unreserve(this.size);
  }
}
