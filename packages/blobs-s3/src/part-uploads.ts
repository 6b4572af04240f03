import type { UploadedPart } from './upload-session.js';

/** Stores one part of the multipart upload and returns its ETag. */
export type PartSender = (partNumber: number, bytes: Buffer) => Promise<string>;

/**
 * The parts one append sends, each uploaded while the next one is still arriving from the client, so that
 * receiving (and hashing) and S3's storing of the previous part overlap instead of taking turns. At most
 * `limit` uploads run at once (`add` waits for a free slot: the client's body is then held back by TCP),
 * so an append holds at most `limit + 1` part buffers; a buffer whose part is stored is handed out again.
 * The first failure ends the append: `add` and `finish` throw it once every upload already started has
 * settled, so nothing of a failed append is still being written after it returns.
 */
export class PartUploads {
  readonly #limit: number;
  readonly #send: PartSender;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #spare: Buffer[] = [];
  readonly #stored: UploadedPart[] = [];
  #failure: { error: unknown } | undefined;

  constructor(limit: number, send: PartSender) {
    this.#limit = limit;
    this.#send = send;
  }

  /** A buffer for the next part: one whose part is already stored, or a new one. */
  take(size: number): Buffer {
    return this.#spare.pop() ?? Buffer.allocUnsafe(size);
  }

  /**
   * Starts the upload of `bytes` (a view of `buffer`, which is reused once the part is stored) and
   * resolves when another may start.
   */
  async add(partNumber: number, bytes: Buffer, buffer: Buffer): Promise<void> {
    await this.#throwIfFailed();
    const upload: Promise<void> = this.#send(partNumber, bytes).then(
      (etag) => {
        this.#stored.push({ partNumber, etag, size: bytes.byteLength });
        this.#spare.push(buffer);
        this.#inFlight.delete(upload);
      },
      (error: unknown) => {
        this.#failure ??= { error };
        this.#inFlight.delete(upload);
      },
    );
    this.#inFlight.add(upload);
    while (this.#inFlight.size >= this.#limit && this.#failure === undefined) await Promise.race(this.#inFlight);
    await this.#throwIfFailed();
  }

  /** Every part this append stored, in part-number order, once all are stored. */
  async finish(): Promise<UploadedPart[]> {
    await this.settle();
    await this.#throwIfFailed();
    return [...this.#stored].sort((a, b) => a.partNumber - b.partNumber);
  }

  /** Waits until no upload is running (after a failure elsewhere in the append). */
  async settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  async #throwIfFailed(): Promise<void> {
    if (this.#failure === undefined) return;
    await this.settle();
    throw this.#failure.error;
  }
}
