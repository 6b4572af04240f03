// The suites take the runner's functions as arguments; here they run under a home-made runner
// (test/support/mini-runner.ts) instead of vitest, against the real filesystem blob store.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFsBlobStore } from '@berth/blobs-fs';
import { describe, expect, it } from 'vitest';
import { blobStoreContract, type BlobStoreFactory } from '../src/index.js';
import { miniRunner } from './support/mini-runner.js';

const fsFactory: BlobStoreFactory = async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-mini-runner-'));
  return {
    store: await openFsBlobStore({ root }),
    reopen: () => openFsBlobStore({ root }),
    openSibling: () => openFsBlobStore({ root }),
    dispose: () => rm(root, { recursive: true, force: true }),
  };
};

describe('contract suites under another runner', () => {
  it('register and pass with nothing but describe, it, beforeEach and afterEach', async () => {
    const runner = miniRunner();
    blobStoreContract(runner.api, fsFactory, { skip: ['inspection'] });
    const outcomes = await runner.run();
    expect(outcomes.length).toBeGreaterThan(15);
    expect(outcomes.filter((outcome) => outcome.error !== undefined)).toEqual([]);
    expect(outcomes.some((outcome) => outcome.name.includes('> persistence >'))).toBe(true);
    expect(outcomes.some((outcome) => outcome.name.includes('> inspection >'))).toBe(false);
  });

  it('fails a group whose capability the factory left out instead of passing it silently', async () => {
    const runner = miniRunner();
    // No inspector, and the inspection group not skipped.
    blobStoreContract(runner.api, fsFactory);
    const failed = (await runner.run()).filter((outcome) => outcome.error !== undefined);
    expect(failed.map((outcome) => outcome.name)).toEqual([
      'BlobStore contract: store > inspection > persists exactly the committed bytes, and only once committed',
      'BlobStore contract: store > inspection > leaves nothing behind after an abort or a failed verification',
    ]);
    expect(String(failed[0]!.error)).toMatch(/no inspect: provide it, or skip the 'inspection' group/);
  });
});
