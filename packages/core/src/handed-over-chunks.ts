/**
 * Byte streams whose producer hands each chunk over for good: once a consumer has taken a chunk, nobody
 * else reads it, so the consumer may free its memory as soon as it is done with it (the filesystem blob
 * store does). Kept in a WeakSet, so marking a stream neither changes it nor keeps it alive.
 */
const handedOver = new WeakSet<object>();

/** Marks `body` as handing its chunks over (an HTTP/1 request body, whose chunks Node allocates for it alone). */
export function handOverChunks<T extends AsyncIterable<Uint8Array>>(body: T): T {
  handedOver.add(body);
  return body;
}

/** True when `body` was marked by handOverChunks: its consumer may release each chunk once done with it. */
export function chunksAreHandedOver(body: AsyncIterable<Uint8Array>): boolean {
  return handedOver.has(body);
}
