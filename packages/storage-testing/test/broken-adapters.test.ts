// The kit checked against adapters broken on purpose: each wraps the real filesystem store and gets one
// thing wrong, and the blob contract (run under the mini runner) must fail, in the tests that cover it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFsBlobStore, type FsBlobStore } from '@berth/blobs-fs';
import { RegistryError, type BlobReader, type BlobStore } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { asyncOnly, blobStoreContract, type BlobContractGroup, type BlobStoreFactory } from '../src/index.js';
import { miniRunner, type TestOutcome } from './support/mini-runner.js';

const METHODS = ['stat', 'open', 'openReader', 'listBlobs', 'delete', 'beginUpload', 'uploadState', 'appendUpload', 'commitUpload', 'abortUpload', 'ping', 'close'] as const;

/** The filesystem store with some methods replaced (the others call the real one). */
function brokenFactory(breakIt: (real: FsBlobStore) => Partial<BlobStore>): BlobStoreFactory {
  return async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-broken-adapter-'));
    const real = await openFsBlobStore({ root });
    const store = Object.fromEntries(METHODS.map((method) => [method, (real[method] as (...args: unknown[]) => unknown).bind(real)])) as unknown as BlobStore;
    return { store: Object.assign(store, breakIt(real)), dispose: () => rm(root, { recursive: true, force: true }) };
  };
}

/** Only the groups a broken read or a synchronous throw shows up in: the others would pass as for the real store. */
const SKIPPED: BlobContractGroup[] = ['persistence', 'sharing', 'inspection', 'listing', 'ping'];

async function failuresOf(factory: BlobStoreFactory): Promise<TestOutcome[]> {
  const runner = miniRunner();
  blobStoreContract(runner.api, factory, { skip: SKIPPED });
  const outcomes = await runner.run();
  expect(outcomes.length).toBeGreaterThan(20);
  return outcomes.filter((outcome) => outcome.error !== undefined);
}

/** A reader over the real one whose reads go wrong as `misread` says. */
function misreading(real: FsBlobStore, misread: (reader: BlobReader, buffer: Uint8Array, offset: number) => Promise<number>): Partial<BlobStore> {
  return {
    openReader: async (digest, range) => {
      const reader = await real.openReader(digest, range);
      return reader && { size: reader.size, read: (buffer, offset) => misread(reader, buffer, offset), close: () => reader.close() };
    },
  };
}

describe('the blob contract fails a broken adapter', () => {
  it('whose reader reads from the start whatever the offset (a pull would fail its digest check)', async () => {
    const failed = await failuresOf(brokenFactory((real) => misreading(real, (reader, buffer) => reader.read(buffer, 0))));
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((outcome) => outcome.name.includes('> reader >'))).toBe(true);
  });

  it('whose reader returns one wrong byte past the first 64 KiB', async () => {
    const failed = await failuresOf(
      brokenFactory((real) =>
        misreading(real, async (reader, buffer, offset) => {
          const read = await reader.read(buffer, offset);
          if (offset <= 70_000 && offset + read > 70_000) buffer[70_000 - offset] = buffer[70_000 - offset]! ^ 0xff;
          return read;
        }),
      ),
    );
    expect(failed.map((outcome) => outcome.name)).toContain('BlobStore contract: store > reader > reads a whole blob exactly, with buffers of any size');
    expect(failed.every((outcome) => outcome.name.includes('> reader >'))).toBe(true);
  });

  it('whose reader ignores the range it was opened with', async () => {
    const failed = await failuresOf(brokenFactory((real) => ({ openReader: (digest) => real.openReader(digest) })));
    expect(failed.map((outcome) => outcome.name)).toEqual([
      'BlobStore contract: store > reader > reads ranges relative to their start, clamps an end past the blob and refuses a range outside it with 416',
    ]);
  });

  it('whose range streams end one byte early', async () => {
    const failed = await failuresOf(
      brokenFactory((real) => ({
        open: (digest, range) => real.open(digest, range && range.end > range.start ? { start: range.start, end: range.end - 1 } : range),
      })),
    );
    expect(failed.map((outcome) => outcome.name)).toEqual([
      'BlobStore contract: store > blobs > reads inclusive ranges, clamps an end past the blob and refuses a range outside it with 416',
      'BlobStore contract: store > blobs > streams any range of a large blob, across its chunks, exactly',
    ]);
  });

  it('that throws synchronously instead of rejecting, with a message saying what to do', async () => {
    const failed = await failuresOf(
      brokenFactory((real) => ({
        stat: (digest) => {
          // The real store's check, made before the promise: an unknown algorithm is thrown, not rejected.
          if (!/^sha(256|512):/.test(digest)) throw new RegistryError('DIGEST_INVALID');
          return real.stat(digest);
        },
      })),
    );
    expect(failed.map((outcome) => outcome.name)).toEqual(['BlobStore contract: store > blobs > rejects malformed or unsupported digests with DIGEST_INVALID']);
    expect(String(failed[0]!.error)).toBe(
      'AssertionError [ERR_ASSERTION]: BlobStore.stat() threw synchronously (RegistryError: provided digest did not match uploaded content): it must return a rejected promise instead, as callers chain on its result (make it async, or return Promise.reject(error))',
    );
  });
});

describe('asyncOnly', () => {
  it('names the method, also on the metadata store\'s outbox, and lets results and rejections through', async () => {
    const failure = new RegistryError('MANIFEST_UNKNOWN');
    const store = asyncOnly(
      {
        getTag: () => {
          throw failure;
        },
        resolves: async () => 'value',
        rejects: () => Promise.reject(failure),
        outbox: { claim: () => { throw new Error('no connection'); } },
      },
      'MetadataStore',
    );
    expect(() => store.getTag()).toThrow(/^MetadataStore\.getTag\(\) threw synchronously \(RegistryError: manifest unknown to registry\): it must return a rejected promise/);
    expect(() => store.outbox.claim()).toThrow(/^MetadataStore\.outbox\.claim\(\) threw synchronously \(Error: no connection\)/);
    await expect(store.resolves()).resolves.toBe('value');
    await expect(store.rejects()).rejects.toBe(failure);
  });
});
