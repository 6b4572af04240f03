// A PostgreSQL whose storage runs out: the database lives in a tablespace on a small tmpfs, so the
// server itself answers disk_full (53100). The store answers 507 with nothing of the write left,
// and writes work again once space is free.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RegistryError, digestOf, type MetadataStore } from '@berth/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresMetadataStore } from '../src/index.js';
import { TEST_POSTGRES_ADMIN_URL, adminQuery } from '../src/testing.js';

const run = promisify(execFile);

/** Why the test cannot run here (not root, no tmpfs, a remote PostgreSQL), or undefined. */
async function unavailable(dir: string): Promise<string | undefined> {
  const host = new URL(TEST_POSTGRES_ADMIN_URL).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost') return `PostgreSQL at ${host} cannot see a local tmpfs`;
  try {
    // Roomy while the database is created and migrated; shrunk to what that used plus 1 MiB before the test.
    await run('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0700', 'tmpfs', dir]);
    await run('chown', ['postgres:postgres', dir]);
    return undefined;
  } catch (error) {
    return `cannot mount a tmpfs for a tablespace (${(error as Error).message.split('\n')[0]})`;
  }
}

describe('PostgreSQL with a full disk', () => {
  const name = `berth_full_${process.pid}`;
  let dir: string;
  let skipped: string | undefined;
  let store: MetadataStore | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-pg-full-'));
    await mkdir(dir, { recursive: true });
    skipped = await unavailable(dir);
    if (skipped) return;
    await adminQuery(`create tablespace ${name} location '${dir}'`);
    await adminQuery(`create database ${name} tablespace ${name}`);
    const url = new URL(TEST_POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    store = await openPostgresMetadataStore({ connection: url.toString(), pool: { max: 2 } });
    await adminQuery('checkpoint');
    const { stdout } = await run('df', ['--output=used', '-k', dir]);
    const usedKiB = Number(stdout.trim().split('\n').pop());
    await run('mount', ['-o', `remount,size=${usedKiB + 1024}k`, dir]);
  });

  afterAll(async () => {
    await store?.close();
    if (!skipped) {
      await adminQuery(`drop database if exists ${name}`);
      await adminQuery(`drop tablespace if exists ${name}`);
      await run('umount', ['-l', dir]).catch(() => undefined);
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 507 when a write does not fit, keeps what was written, and writes again once the disk has room', async (context) => {
    if (skipped) {
      console.log(`skipped: ${skipped}`);
      context.skip();
    }
    const metadata = store!;
    // Manifests of 256 KiB each until the tablespace's last MiB is full (TOAST compresses: random bytes do not).
    const stored: string[] = [];
    let refusal: unknown;
    for (let i = 0; i < 64 && refusal === undefined; i++) {
      const content = Buffer.from(Array.from({ length: 256 * 1024 }, () => Math.floor(Math.random() * 256)));
      const digest = digestOf(content);
      try {
        await metadata.putManifest({
          manifest: { repository: 'full/app', digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: content.byteLength, content },
          blobReferences: [],
          manifestReferences: [],
          tag: `t${i}`,
        });
        stored.push(digest);
      } catch (error) {
        refusal = error;
        // Room again at once, as an operator would make it (the filesystem grows): while the tablespace is
        // full, checkpoints fail for every database on the server, and other suites run beside this one.
        await run('mount', ['-o', 'remount,size=64m', dir]);
      }
    }
    expect(refusal).toBeInstanceOf(RegistryError);
    expect(refusal).toMatchObject({ code: 'UNAVAILABLE', status: 507 });
    expect((refusal as Error).message).toMatch(/storage is full/);
    expect(stored.length).toBeGreaterThan(0);
    // Nothing of the refused write: its tag does not exist; everything acknowledged is whole.
    expect(await metadata.resolveTag('full/app', `t${stored.length}`)).toBeUndefined();
    for (const [i, digest] of stored.entries()) {
      expect(await metadata.resolveTag('full/app', `t${i}`)).toBe(digest);
      expect((await metadata.getManifest('full/app', digest))?.size).toBe(256 * 1024);
    }
    const content = Buffer.from('fits now');
    await metadata.putManifest({
      manifest: { repository: 'full/app', digest: digestOf(content), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: content.byteLength, content },
      blobReferences: [],
      manifestReferences: [],
      tag: 'after',
    });
    expect(await metadata.resolveTag('full/app', 'after')).toBe(digestOf(content));
  });
});
