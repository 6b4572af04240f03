import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { digestOf } from '@berth/core';
import { openFsBlobStore, type FsBlobStore } from '../src/index.js';
import { chunks, filesUnder, readAll, registryErrorOf, tmpRoot } from './helpers.js';

/*
 * A writer killed mid-upload. The child cannot run the TypeScript store itself, so it does what an
 * append does to the upload's data file (positional writes, no fsync) and is SIGKILLed at some
 * arbitrary point while writing. What this proves, for the store running in this process:
 * - nothing torn is ever visible as a blob: only commit publishes, by one rename;
 * - the upload's state is what is on disk (a 416 names the real size), not what memory believed;
 * - the store's in-memory sha256 (which covers only its own append) is not trusted once the file
 *   changed behind it: the commit re-hashes the file, so a commit of the real bytes succeeds and a
 *   commit of what memory believed fails;
 * - the upload can be aborted cleanly.
 * It does not prove durability across power loss (that rests on the fsyncs in commitUpload).
 */

const FIXTURE = fileURLToPath(new URL('./fixtures/append-until-killed.mjs', import.meta.url));
const KILL_AFTER_BYTES = 1024 * 1024;

/** Begins an upload with 'head|' appended by the store, then lets a child append until it is killed. */
async function uploadInterruptedByKill(store: FsBlobStore, root: string): Promise<{ id: string; size: number }> {
  const upload = await store.beginUpload();
  await store.appendUpload(upload.id, chunks('head|'), 0);

  const child = spawn(process.execPath, [FIXTURE, join(root, 'uploads', upload.id, 'data'), '5'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  // Kill it once it is well into the upload (it never finishes on its own).
  while (((await store.uploadState(upload.id))?.size ?? 0) < KILL_AFTER_BYTES) await sleep(5);
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');

  const state = await store.uploadState(upload.id);
  expect(state?.size).toBeGreaterThanOrEqual(KILL_AFTER_BYTES);
  return { id: upload.id, size: state!.size };
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const part of createReadStream(path)) hash.update(part as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

describe('FsBlobStore after a writer is killed mid-upload', () => {
  it('shows no blob, reports the on-disk size and commits the bytes actually on disk', async () => {
    const root = await tmpRoot();
    const store = await openFsBlobStore({ root });
    const { id, size } = await uploadInterruptedByKill(store, root);
    const onDisk = await sha256OfFile(join(root, 'uploads', id, 'data'));

    expect(await store.stat(onDisk)).toBeUndefined();
    expect(await store.stat(digestOf('head|'))).toBeUndefined();
    expect(await filesUnder(join(root, 'blobs'))).toEqual([]);

    const stale = await registryErrorOf(store.appendUpload(id, chunks('x'), 5));
    expect(stale).toMatchObject({ status: 416, headers: { Range: `0-${size - 1}` } });

    // Same store instance, whose running hash covers only 'head|': it must re-hash from disk.
    expect(await store.commitUpload(id, onDisk)).toEqual({ digest: onDisk, size });
    expect(digestOf(await readAll(await store.open(onDisk)))).toBe(onDisk);
    expect(await store.uploadState(id)).toBeUndefined();
  });

  it('refuses to commit what memory believed, publishing nothing', async () => {
    const root = await tmpRoot();
    const store = await openFsBlobStore({ root });
    const { id } = await uploadInterruptedByKill(store, root);

    expect((await registryErrorOf(store.commitUpload(id, digestOf('head|')))).code).toBe('DIGEST_INVALID');
    expect(await store.stat(digestOf('head|'))).toBeUndefined();
    expect(await filesUnder(root)).toEqual([]);
  });

  it('can be aborted, by a restarted store, leaving nothing behind', async () => {
    const root = await tmpRoot();
    const { id } = await uploadInterruptedByKill(await openFsBlobStore({ root }), root);
    const restarted = await openFsBlobStore({ root });
    expect(await restarted.abortUpload(id)).toBe(true);
    expect(await restarted.uploadState(id)).toBeUndefined();
    expect(await filesUnder(root)).toEqual([]);
  });
});
