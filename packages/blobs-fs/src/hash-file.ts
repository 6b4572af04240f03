import type { FileHandle } from 'node:fs/promises';
import { createDigestHash, type DigestAlgorithm } from '@berth/core';

const READ_BUFFER_SIZE = 256 * 1024;

/**
 * Hashes the first `size` bytes of an open file, reading through one reused buffer so the file
 * never sits in memory. Returns the lowercase hex digest.
 */
export async function hashFile(handle: FileHandle, size: number, algorithm: DigestAlgorithm): Promise<string> {
  const hash = createDigestHash(algorithm);
  const buffer = Buffer.allocUnsafe(Math.min(READ_BUFFER_SIZE, Math.max(size, 1)));
  let position = 0;
  while (position < size) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.byteLength, size - position), position);
    if (bytesRead === 0) break; // the file shrank under us; the caller's size check will not match
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest('hex');
}
