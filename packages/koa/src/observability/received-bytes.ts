import type { IncomingMessage } from 'node:http';

/**
 * Counts the body bytes Node's HTTP parser hands the request (it pushes each piece it parses into the
 * stream), without reading the body: it still streams, untouched, to whoever consumes it. Call it before
 * the request is passed on (no await in between), or bytes that came with the headers are missed.
 * For the metrics and for a host's request log (`received`).
 */
export function countReceivedBytes(req: IncomingMessage): () => number {
  let bytes = 0;
  const push = req.push;
  req.push = function countingPush(this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk instanceof Uint8Array) bytes += chunk.byteLength;
    return push.call(this, chunk, encoding);
  };
  return () => bytes;
}
