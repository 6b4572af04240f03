import { RegistryError, type ByteRange } from '@berth/core';
import type { ChunkRange } from '@berth/registry';

export type RangeRequest = { kind: 'whole' } | { kind: 'partial'; range: ByteRange } | { kind: 'unsatisfiable' };

/**
 * Interprets a `Range` request header for a blob of `size` bytes. Only a single `bytes=` range is
 * honoured; several ranges or another unit are ignored (the whole blob is sent), as RFC 9110 allows.
 */
export function parseRangeHeader(header: string | undefined, size: number): RangeRequest {
  if (!header) return { kind: 'whole' };
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

/**
 * Parses an upload chunk's `Content-Range` (`<start>-<end>`, also accepting a `bytes ` prefix).
 * Malformed -> 416, as the distribution spec answers any range it cannot use.
 */
export function parseContentRange(header: string | undefined): ChunkRange | undefined {
  if (header === undefined || header === '') return undefined;
  const match = /^(?:bytes )?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  const start = Number(match?.[1]);
  const end = Number(match?.[2]);
  if (!match || end < start) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', `invalid Content-Range "${header}"`, { status: 416 });
  }
  return { start, end };
}
