import { MessageChannel, type MessagePort } from 'node:worker_threads';

/** ArrayBuffer.prototype.transfer: Node 21 and later (Node 20 has it only behind a V8 flag). */
type TransferableBuffer = ArrayBuffer & { transfer?: (newLength?: number) => ArrayBuffer };

let closedPort: MessagePort | undefined;

/**
 * Frees a handed-over chunk's memory now instead of whenever the collector gets to it (core's
 * handOverChunks says whose chunks may be released). Many uploads at once turn socket chunks into garbage
 * faster than minor collections free it, and a chunk that waited for the disk has been promoted and waits
 * for a full collection: together that was most of the peak memory of 100 concurrent uploads. A chunk that
 * is a view into a larger buffer (pooled or shared) is left alone, as is one that cannot be detached.
 * Afterwards the chunk is empty (byteLength 0).
 */
export function releaseChunk(chunk: Uint8Array): void {
  const buffer = chunk.buffer as TransferableBuffer;
  if (!(buffer instanceof ArrayBuffer) || chunk.byteOffset !== 0 || chunk.byteLength !== buffer.byteLength || buffer.byteLength === 0) return;
  try {
    if (typeof buffer.transfer === 'function') {
      buffer.transfer(0);
    } else {
      // Node 20: a buffer posted into a closed channel is detached, and its memory freed with the
      // message that nobody will receive.
      closedPort ??= openClosedPort();
      closedPort.postMessage(buffer, [buffer]);
    }
  } catch {
    // Not detachable (marked untransferable, or owned by the runtime): the collector frees it as before.
  }
}

function openClosedPort(): MessagePort {
  const { port1, port2 } = new MessageChannel();
  port2.close();
  port1.unref();
  return port1;
}
