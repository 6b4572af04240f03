import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryError } from '@berth/core';
import { MAX_RANGES, parseRangeHeader } from '@berth/core/internal';
import { binary, expectError, pushBlob } from './support/content.js';
import { metadataFactories, openRegistry, type RegistryUnderTest } from './support/registry-under-test.js';

/** `bytes=0-0,2-2,4-4,…` with `count` ranges. */
function manyRanges(count: number): string {
  return `bytes=${Array.from({ length: count }, (_, i) => `${2 * i}-${2 * i}`).join(',')}`;
}

describe('parseRangeHeader', () => {
  it('honours one range and sends the whole blob for a few', () => {
    expect(parseRangeHeader('bytes=10-19', 100)).toEqual({ kind: 'partial', range: { start: 10, end: 19 } });
    expect(parseRangeHeader('bytes=-5', 100)).toEqual({ kind: 'partial', range: { start: 95, end: 99 } });
    expect(parseRangeHeader('bytes=0-0,5-9', 100)).toEqual({ kind: 'whole' });
    expect(parseRangeHeader(manyRanges(MAX_RANGES), 10_000)).toEqual({ kind: 'whole' });
    expect(parseRangeHeader('items=0-5', 100)).toEqual({ kind: 'whole' });
    expect(parseRangeHeader('bytes=200-300', 100)).toEqual({ kind: 'unsatisfiable' });
  });

  it('refuses more than MAX_RANGES ranges with 416 and the size', () => {
    for (const header of [manyRanges(MAX_RANGES + 1), manyRanges(1_000), ` BYTES = ${manyRanges(1_000).slice(6)}`]) {
      let thrown: unknown;
      try {
        parseRangeHeader(header, 5_000);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(RegistryError);
      expect(thrown).toMatchObject({ status: 416, code: 'UNSUPPORTED', headers: { 'Content-Range': 'bytes */5000' } });
    }
  });

  it('does not count empty list elements', () => {
    expect(parseRangeHeader(`bytes=0-1${','.repeat(1_000)}`, 100)).toEqual({ kind: 'whole' });
  });
});

describe('a Range header with many ranges over HTTP', () => {
  let t: RegistryUnderTest;
  beforeEach(async () => {
    t = await openRegistry(metadataFactories['sqlite']!);
  });
  afterEach(async () => t.close());

  it('answers 1,000 ranges with 416 and the JSON error, a few with the whole blob', async () => {
    const bytes = randomBytes(4_000);
    const digest = await pushBlob(t.http, 'app', bytes);
    const refused = await t.http.get(`/v2/app/blobs/${digest}`).set('Range', manyRanges(1_000));
    expectError(refused, 416, 'UNSUPPORTED');
    expect(refused.headers['content-range']).toBe('bytes */4000');

    const few = await t.http.get(`/v2/app/blobs/${digest}`).set('Range', 'bytes=0-9,100-109').buffer(true).parse(binary).expect(200);
    expect(Buffer.compare(few.body as Buffer, bytes)).toBe(0);
    const one = await t.http.get(`/v2/app/blobs/${digest}`).set('Range', 'bytes=100-109').buffer(true).parse(binary).expect(206);
    expect(Buffer.compare(one.body as Buffer, bytes.subarray(100, 110))).toBe(0);
  });
});
