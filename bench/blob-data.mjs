// Deterministic blob contents, streamed in 1 MiB chunks and never held whole in memory.
// A 16 MiB pool is filled once from a xorshift PRNG; a blob is a sequence of pool windows at offsets
// the blob's own seed picks, so every seed gives different bytes while the sender does no per-byte work
// (the chunks are views into the pool, written to the socket without copies).
import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';

export const CHUNK_SIZE = 1024 * 1024;
const POOL_SIZE = 16 * 1024 * 1024;

/** xorshift32: fast, and good enough to make bytes that nothing along the way can compress or dedupe. */
function xorshift32(seed) {
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

const pool = (() => {
  const next = xorshift32(0x5eed);
  const words = new Uint32Array(POOL_SIZE / 4);
  for (let i = 0; i < words.length; i++) words[i] = next();
  return Buffer.from(words.buffer);
})();

/** A blob of `size` bytes identified by `seed`. */
export class BlobSource {
  constructor(seed, size) {
    this.seed = seed;
    this.size = size;
  }

  /** The blob's bytes in order, as views into the shared pool (do not modify them). */
  *chunks() {
    const next = xorshift32(this.seed * 2654435761);
    for (let position = 0; position < this.size; position += CHUNK_SIZE) {
      const length = Math.min(CHUNK_SIZE, this.size - position);
      const offset = (next() % ((POOL_SIZE - CHUNK_SIZE) / 64)) * 64;
      yield pool.subarray(offset, offset + length);
    }
  }

  /** The bytes from `start` to `end` inclusive, for checking a Range response. */
  slice(start, end) {
    const parts = [];
    let position = 0;
    for (const chunk of this.chunks()) {
      const chunkEnd = position + chunk.byteLength;
      if (chunkEnd > start && position <= end) {
        parts.push(chunk.subarray(Math.max(start - position, 0), Math.min(end + 1 - position, chunk.byteLength)));
      }
      position = chunkEnd;
      if (position > end) break;
    }
    return Buffer.concat(parts);
  }

  /**
   * The blob's sha256 digest, and this machine's sha256 rate over it in bytes/s (node:crypto, counting
   * only the time spent inside hash.update, so the generator's cost does not count).
   */
  digest() {
    const hash = createHash('sha256');
    let hashingNs = 0n;
    for (const chunk of this.chunks()) {
      const started = process.hrtime.bigint();
      hash.update(chunk);
      hashingNs += process.hrtime.bigint() - started;
    }
    const digest = `sha256:${hash.digest('hex')}`;
    return { digest, sha256BytesPerSecond: this.size / (Number(hashingNs) / 1e9) };
  }
}

/**
 * This machine's rate for writing the blob to a new file and making it durable (1 MiB writes, then
 * fsync), in bytes/s: the ceiling of any registry that fsyncs a pushed blob before answering, as
 * both berth and the reference do. The file is created in `directory` (the servers' disk) and removed.
 */
export async function measureDurableWriteRate(source, directory) {
  const path = join(directory, `bench-write-${process.pid}-${source.seed}`);
  const handle = await open(path, 'wx');
  try {
    const started = process.hrtime.bigint();
    let position = 0;
    for (const chunk of source.chunks()) {
      await handle.write(chunk, 0, chunk.byteLength, position);
      position += chunk.byteLength;
    }
    await handle.sync();
    return source.size / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    await handle.close();
    await rm(path, { force: true });
  }
}
