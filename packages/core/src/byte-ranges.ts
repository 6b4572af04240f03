import { RegistryError } from './errors.js';
import type { ByteRange } from './stores/blob-store.js';

// Byte ranges as HTTP and the stores share them: the `Range` of a blob download, the `Content-Range` of
// an upload chunk, and the check a blob store makes of a range against a blob's size. Pure functions,
// so every adapter and HTTP layer answers the same range the same way.

export type RangeRequest = { kind: 'whole' } | { kind: 'partial'; range: ByteRange } | { kind: 'unsatisfiable' };

/**
 * The most ranges one `Range` header may list. A few are answered with the whole blob (RFC 9110 lets a
 * server ignore a multi-range request); a long list is refused with 416, as RFC 9110 §14.2 allows for
 * "many small ranges": it is a broken client or an attempt to make the server work for nothing.
 */
export const MAX_RANGES = 100;

/**
 * Interprets a `Range` request header for a blob of `size` bytes. Only a single `bytes=` range is
 * honoured; up to MAX_RANGES ranges, or another unit, are ignored (the whole blob is sent), as RFC 9110
 * allows. More than MAX_RANGES ranges: a RegistryError, 416 `UNSUPPORTED` with `Content-Range: bytes *\/size`.
 */
export function parseRangeHeader(header: string | undefined, size: number): RangeRequest {
  if (!header) return { kind: 'whole' };
  if (/^\s*bytes\s*=/i.test(header)) {
    const ranges = countRanges(header);
    if (ranges > MAX_RANGES) {
      throw new RegistryError('UNSUPPORTED', `the Range header lists ${ranges} ranges: at most ${MAX_RANGES} are accepted, and only one is served (ask for a single range)`, {
        status: 416,
        headers: { 'Content-Range': `bytes */${size}` },
      });
    }
  }
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return { kind: 'whole' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'whole' };
  if (first === '') {
    // Suffix range: the last N bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(size - length, 0), end: size - 1 } };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return { kind: 'unsatisfiable' };
  return { kind: 'partial', range: { start, end } };
}

/** The ranges a `bytes=` header lists (empty list elements do not count, as RFC 9110's list syntax says). */
function countRanges(header: string): number {
  let count = 0;
  for (const element of header.slice(header.indexOf('=') + 1).split(',')) if (element.trim() !== '') count++;
  return count;
}

/**
 * Parses an upload chunk's `Content-Range` (`<start>-<end>`, also accepting a `bytes ` prefix).
 * Malformed -> 416, as the distribution spec answers any range it cannot use.
 */
export function parseContentRange(header: string | undefined): ByteRange | undefined {
  if (header === undefined || header === '') return undefined;
  const match = /^(?:bytes )?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  const start = Number(match?.[1]);
  const end = Number(match?.[2]);
  if (!match || end < start) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', `invalid Content-Range "${header}"`, { status: 416 });
  }
  return { start, end };
}

/**
 * A stored blob's check of a requested inclusive range against its `size`: an end past the blob is
 * clamped (as HTTP does); a range that cannot be satisfied (negative, reversed, starting at or past the
 * end, not a whole number) is a 416 RegistryError carrying the `Content-Range: bytes *\/size` HTTP asks
 * for. Blob store adapters call it in `open` and `openReader`.
 */
export function satisfiableRange(range: ByteRange, size: number, digest?: string): ByteRange {
  const { start, end } = range;
  if (Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start <= end && start < size) {
    return { start, end: Math.min(end, size - 1) };
  }
  const blob = digest === undefined ? 'the blob' : `blob ${digest}`;
  throw new RegistryError('BLOB_UNKNOWN', `range ${start}-${end} is outside ${blob} of ${size} bytes`, {
    status: 416,
    headers: { 'Content-Range': `bytes */${size}` },
    detail: { ...(digest !== undefined && { digest }), size, range: { start, end } },
  });
}
