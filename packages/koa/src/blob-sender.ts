import type { Context } from 'koa';
import type { ServerResponse } from 'node:http';
import type { BlobReader } from '@berth/core';

/** Memory the blob responses of one registry hold in send buffers together (two buffers each), and keep pooled. */
const SEND_BUFFER_BUDGET = 8 * 1024 * 1024;
const LARGEST_SEND_CHUNK = 1024 * 1024;
const SMALLEST_SEND_CHUNK = 64 * 1024;

/**
 * Sends blobs with two buffers per response, each reused as soon as the socket has taken its bytes
 * (the write callback), and pooled for the next response afterwards: a transfer allocates nothing per
 * chunk, so there is no garbage for the collector and memory stays bounded whatever the traffic. A lone
 * client gets 1 MiB chunks (few thread-pool round trips); many clients at once get smaller ones, so that
 * together they stay within the budget (beyond it, each gets the smallest size).
 */
export class RecycledBufferSender {
  /** Bytes of send buffers held by the responses in progress. */
  #held = 0;
  readonly #pool = new BufferPool(SEND_BUFFER_BUDGET);

  async send(ctx: Context, reader: BlobReader): Promise<void> {
    // The response is written here, not by Koa; status and headers are already on ctx.res.
    ctx.respond = false;
    const chunkSize = this.#chunkSize();
    this.#held += 2 * chunkSize;
    const buffers = [this.#pool.take(chunkSize), this.#pool.take(chunkSize)];
    try {
      await sendWithBuffers(ctx.res, reader, buffers);
      // Only now is no write left that could still be reading them.
      for (const buffer of buffers) this.#pool.give(buffer);
    } catch (error) {
      const clientLeft = isClientGone(ctx.res, error);
      // Headers are gone, so no error document can follow: cut the connection, so the client sees a short body.
      ctx.res.destroy();
      if (!clientLeft) ctx.app.emit('error', error, ctx);
    } finally {
      this.#held -= 2 * chunkSize;
      await reader.close();
    }
  }

  /** The largest chunk (a power of two) whose two buffers fit in what is left of the budget, within bounds. */
  #chunkSize(): number {
    let chunk = LARGEST_SEND_CHUNK;
    while (chunk > SMALLEST_SEND_CHUNK && this.#held + 2 * chunk > SEND_BUFFER_BUDGET) chunk /= 2;
    return chunk;
  }
}

/** Free buffers by size, up to a total; what does not fit is left to the collector. */
class BufferPool {
  readonly #free = new Map<number, Buffer[]>();
  #bytes = 0;

  constructor(private readonly limit: number) {}

  take(size: number): Buffer {
    const buffer = this.#free.get(size)?.pop();
    if (buffer === undefined) return Buffer.allocUnsafeSlow(size);
    this.#bytes -= size;
    return buffer;
  }

  give(buffer: Buffer): void {
    if (this.#bytes + buffer.byteLength > this.limit) return;
    const list = this.#free.get(buffer.byteLength) ?? [];
    list.push(buffer);
    this.#free.set(buffer.byteLength, list);
    this.#bytes += buffer.byteLength;
  }
}

async function sendWithBuffers(res: ServerResponse, reader: BlobReader, buffers: Buffer[]): Promise<void> {
  // Each buffer with the write of its bytes still in progress: it is refilled only once the socket is done with it.
  const slots = buffers.map((buffer) => ({ buffer, writing: Promise.resolve() }));
  let offset = 0;
  for (let turn = 0; offset < reader.size; turn++) {
    const slot = slots[turn % slots.length]!;
    await slot.writing;
    const read = await reader.read(slot.buffer, offset);
    if (read === 0) throw new Error(`blob ended at ${offset} of ${reader.size} bytes`);
    offset += read;
    // Not awaited: the other buffer is filled while this one is sent. A failure surfaces at the next await.
    slot.writing = write(res, slot.buffer.subarray(0, read));
    slot.writing.catch(() => undefined);
  }
  await Promise.all(slots.map((slot) => slot.writing));
  // Every byte is with the kernel now, so the reader may be closed without waiting for 'finish'.
  res.end();
}

/**
 * Resolves once the socket has taken the chunk (the buffer is then free), rejects when the write fails
 * or the response closes first (the client went away), so a transfer never waits forever.
 */
function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const closed = () => reject(new Error('the client closed the connection'));
    res.once('close', closed);
    res.write(chunk, (error) => {
      res.off('close', closed);
      if (error) reject(error);
      else resolve();
    });
  });
}

/** Socket errors that mean the peer went away (Koa itself reports those of every response). */
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'ECANCELED', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

function isClientGone(res: ServerResponse, error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (res.destroyed && !res.writableFinished) || (typeof code === 'string' && CONNECTION_LOST.has(code));
}
