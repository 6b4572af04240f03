import { RegistryError } from '@berth/core';

/** A request body as the HTTP layer hands it over: any async stream of bytes (a Node IncomingMessage is one). */
export type ByteStream = AsyncIterable<Uint8Array>;

/**
 * Reads a small body (a manifest) whole, refusing more than `maxBytes` without reading past the limit.
 * Manifests are hashed over their exact bytes, so they are the one thing berth holds in memory.
 */
export async function readBoundedBody(body: ByteStream, maxBytes: number, what = 'manifest'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      throw new RegistryError('MANIFEST_INVALID', `${what} exceeds the ${maxBytes}-byte limit`, {
        status: 413,
        detail: { limit: maxBytes },
      });
    }
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks, total);
}
