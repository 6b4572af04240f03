import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryError } from '@berth/core';
import type { KnexMetadataStore } from '@berth/storage-sql';
import { manifestWrite } from '@berth/storage-testing';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteMetadataStore } from '../src/index.js';
import { sqliteDialect, sqliteDialectFor } from '../src/sqlite-dialect.js';

const STORAGE_FULL = "the registry's storage is full";

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('a SQLite database with no room left', () => {
  let folder: string;
  let filename: string;
  let store: KnexMetadataStore;

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'berth-sqlite-full-'));
    filename = join(folder, 'berth.sqlite');
    store = await openSqliteMetadataStore({ filename });
  });

  afterEach(async () => {
    await store.close();
    await rm(folder, { recursive: true, force: true });
  });

  /** SQLite's own cap on the file: a write past it fails with SQLITE_FULL, exactly as a full disk does. */
  async function capAtCurrentSize(): Promise<void> {
    const [row] = (await store.knex.raw('pragma page_count')) as Array<{ page_count: number }>;
    await store.knex.raw(`pragma max_page_count = ${row!.page_count}`);
  }

  it('answers a write that does not fit with 507 UNAVAILABLE, keeps what it had and takes writes once there is room', async () => {
    const earlier = manifestWrite('app', { tag: 'v1' });
    await store.putManifest(earlier);
    await capAtCurrentSize();

    const big = manifestWrite('app', { tag: 'big', content: new Uint8Array(256 * 1024).fill(7) });
    const error = await rejection(store.putManifest(big));
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 507, message: STORAGE_FULL });
    expect((error as RegistryError).cause).toMatchObject({ code: 'SQLITE_FULL' });

    // Nothing of the refused write, everything from before, and the connection is usable (no transaction left open).
    expect(await store.getManifest('app', big.manifest.digest)).toBeUndefined();
    expect(await store.resolveTag('app', 'big')).toBeUndefined();
    expect(await store.resolveTag('app', 'v1')).toBe(earlier.manifest.digest);

    await store.knex.raw('pragma max_page_count = 1073741823');
    await store.putManifest(big);
    expect(await store.resolveTag('app', 'big')).toBe(big.manifest.digest);
    await store.close();

    const raw = new Database(filename, { readonly: true });
    try {
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      raw.close();
    }
    store = await openSqliteMetadataStore({ filename });
    expect(await store.resolveTag('app', 'v1')).toBe(earlier.manifest.digest);
    expect(Buffer.from((await store.getManifest('app', big.manifest.digest))!.content).equals(Buffer.from(big.manifest.content))).toBe(true);
  });

  it('answers every kind of write the same way (an upload session, a blob link, a setting)', async () => {
    await capAtCurrentSize();
    // Rows bigger than a page: each needs pages the file may not grow by.
    const long = 'x'.repeat(64 * 1024);
    for (const write of [
      () => store.createUploadSession({ id: 'a'.repeat(36), repository: long, startedAt: new Date() }),
      () => store.linkBlob(long, `sha256:${'0'.repeat(64)}`, 1),
      () => store.getOrSetSetting('big', long),
    ]) {
      expect(await rejection(write())).toMatchObject({ code: 'UNAVAILABLE', status: 507, message: STORAGE_FULL });
    }
    expect(await store.getUploadSession('a'.repeat(36))).toBeUndefined();
  });
});

describe('the SQLite dialect: which errors mean "full"', () => {
  const sqliteError = (code: string) => Object.assign(new Error(code), { code });

  it('SQLITE_FULL always, other errors never', async () => {
    expect(sqliteDialect.isStorageFull?.(sqliteError('SQLITE_FULL'))).toBe(true);
    expect(sqliteDialect.isStorageFull?.(sqliteError('SQLITE_IOERR_WRITE'))).toBe(false);
    expect(sqliteDialect.isStorageFull?.(sqliteError('SQLITE_CONSTRAINT'))).toBe(false);
    expect(sqliteDialect.isStorageFull?.(new Error('no code'))).toBe(false);
  });

  it('a disk I/O error only when the file system has (almost) no room left', async () => {
    const roomy = sqliteDialectFor(tmpdir());
    expect(await roomy.isStorageFull?.(sqliteError('SQLITE_FULL'))).toBe(true);
    expect(await roomy.isStorageFull?.(sqliteError('SQLITE_IOERR_WRITE'))).toBe(false);
    expect(await roomy.isStorageFull?.(sqliteError('SQLITE_BUSY'))).toBe(false);
    // A directory that cannot be looked at: not taken for full.
    expect(await sqliteDialectFor(join(tmpdir(), 'does-not-exist-berth')).isStorageFull?.(sqliteError('SQLITE_IOERR_WRITE'))).toBe(false);
  });

  it('a disk I/O error on a full tmpfs counts as full (root only: it mounts one)', async (context) => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-sqlite-tmpfs-'));
    try {
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
      } catch {
        context.skip('cannot mount a tmpfs here (not root?)');
      }
      try {
        await writeFile(join(dir, 'filler'), Buffer.alloc(2 * 1024 * 1024)).catch(() => undefined);
        expect(await sqliteDialectFor(dir).isStorageFull?.(sqliteError('SQLITE_IOERR_SHMSIZE'))).toBe(true);
      } finally {
        execFileSync('umount', ['-l', dir]);
      }
    } finally {
      await rmdir(dir).catch(() => undefined);
    }
  });
});
