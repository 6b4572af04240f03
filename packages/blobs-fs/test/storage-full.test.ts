import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryError, digestOf } from '@berth/core';
import { openFsBlobStore, type FsBlobStore } from '../src/index.js';
import { failFullAsInsufficientStorage } from '../src/storage-full.js';
import { chunks, registryErrorOf } from './helpers.js';

const STORAGE_FULL = "the registry's storage is full";
const errno = (code: string) => Object.assign(new Error(`${code}: something`), { code });

describe('failFullAsInsufficientStorage', () => {
  it('answers ENOSPC and EDQUOT with 507 UNAVAILABLE, keeping the cause for the log', async () => {
    for (const code of ['ENOSPC', 'EDQUOT']) {
      const cause = errno(code);
      const error = await registryErrorOf(failFullAsInsufficientStorage(() => Promise.reject(cause)));
      expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 507, message: STORAGE_FULL });
      expect(error.cause).toBe(cause);
      expect(JSON.stringify(error.toJSON())).not.toContain(code);
    }
  });

  it('passes everything else through untouched', async () => {
    const eio = errno('EIO');
    await expect(failFullAsInsufficientStorage(() => Promise.reject(eio))).rejects.toBe(eio);
    const registryError = new RegistryError('BLOB_UPLOAD_UNKNOWN');
    await expect(failFullAsInsufficientStorage(() => Promise.reject(registryError))).rejects.toBe(registryError);
    expect(await failFullAsInsufficientStorage(() => Promise.resolve(42))).toBe(42);
  });
});

/** A store on a 1 MiB tmpfs: the kernel really runs out of space. Needs root (mount); skipped otherwise. */
describe('FsBlobStore on a filesystem that runs full', () => {
  let dir: string;
  let mounted = false;
  let store: FsBlobStore;

  beforeEach(async (context) => {
    dir = await mkdtemp(join(tmpdir(), 'berth-blobs-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
      mounted = true;
    } catch {
      context.skip('cannot mount a tmpfs here (not root?)');
    }
    store = await openFsBlobStore({ root: dir });
  });

  afterEach(async () => {
    if (mounted) execFileSync('umount', ['-l', dir]);
    mounted = false;
    await rmdir(dir).catch(() => rm(dir, { recursive: true, force: true }));
  });

  it('a chunk that does not fit: 507, nothing of it kept, the upload continues once there is room', async () => {
    const upload = await store.beginUpload();
    await store.appendUpload(upload.id, chunks(Buffer.alloc(100_000, 1)), 0);

    const error = await registryErrorOf(store.appendUpload(upload.id, chunks(Buffer.alloc(2 * 1024 * 1024, 2)), 100_000));
    expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 507, message: STORAGE_FULL });
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect((await store.uploadState(upload.id))?.size).toBe(100_000);

    const rest = Buffer.alloc(200_000, 3);
    await store.appendUpload(upload.id, chunks(rest), 100_000);
    const whole = Buffer.concat([Buffer.alloc(100_000, 1), rest]);
    const blob = await store.commitUpload(upload.id, digestOf(whole));
    expect(blob.size).toBe(300_000);
  });

  it('no room even to begin an upload: 507, and no staging directory left behind', async () => {
    await writeFile(join(dir, 'filler'), Buffer.alloc(2 * 1024 * 1024)).catch(() => undefined);
    expect((await stat(join(dir, 'filler'))).size).toBeGreaterThan(0);
    const error = await registryErrorOf(
      (async () => {
        // An empty file and a directory may still fit in what is left; the state file's bytes may not.
        for (;;) await store.beginUpload();
      })(),
    );
    expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 507, message: STORAGE_FULL });
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });
});
