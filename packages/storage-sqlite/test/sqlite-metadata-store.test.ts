import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { digestOf, type MetadataStore } from '@berth/core';
import { MIGRATION_NAMES, MIGRATIONS_TABLE, TABLES, metadataMigrationSource, openKnexMetadataStore } from '@berth/storage-sql';
import { blobDigest, manifestWrite, metadataStoreContract } from '@berth/storage-testing';
import Database from 'better-sqlite3';
import knex from 'knex';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqlInspector } from '../../storage-sql/test/support/sql-inspector.js';
import { openSqliteMetadataStore } from '../src/index.js';
import { sqliteDialect } from '../src/sqlite-dialect.js';

const folders: string[] = [];

async function tmpFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'berth-sqlite-'));
  folders.push(folder);
  return folder;
}

afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});

const runner = { describe, it, beforeEach, afterEach };

metadataStoreContract(
  runner,
  async () => {
    const filename = join(await tmpFolder(), 'metadata.db');
    const store = await openSqliteMetadataStore({ filename });
    // A connection of its own, read-only, to see what really is in the file.
    const raw = knex({ client: 'better-sqlite3', connection: { filename, options: { readonly: true } }, useNullAsDefault: true });
    return {
      store,
      reopen: async () => {
        await store.close();
        return openSqliteMetadataStore({ filename });
      },
      inspect: sqlInspector(raw),
      dispose: () => raw.destroy(),
    };
  },
  {
    name: 'SQLite file',
    // better-sqlite3 is synchronous: a second connection in the same process that waits for the
    // first one's write lock blocks the very event loop the first needs to commit, so two store
    // objects in one process cannot share a file. (Separate processes can, through WAL and
    // busy_timeout; several instances are what PostgreSQL is for.)
    skip: ['sharing'],
  },
);

metadataStoreContract(runner, async () => ({ store: await openSqliteMetadataStore({ filename: ':memory:' }) }), {
  name: 'SQLite in memory',
  // Nothing outlives the connection, and nothing else can open it.
  skip: ['persistence', 'sharing', 'inspection'],
});

// A dialect without queryPrepared: the store runs its request-path statements through knex.raw instead.
metadataStoreContract(
  runner,
  async () => {
    const db = knex({
      client: 'better-sqlite3',
      connection: { filename: ':memory:' },
      useNullAsDefault: true,
      pool: {
        min: 1,
        max: 1,
        afterCreate(connection: Database.Database, done: (error: Error | null, connection: unknown) => void) {
          connection.pragma('foreign_keys = ON');
          done(null, connection);
        },
      },
    });
    const { queryPrepared: _prepared, ...unprepared } = sqliteDialect;
    return { store: await openKnexMetadataStore(db, { dialect: unprepared }) };
  },
  { name: 'SQLite in memory, statements through knex.raw', skip: ['persistence', 'sharing', 'inspection'] },
);

describe('openSqliteMetadataStore', () => {
  let filename: string;
  let store: MetadataStore | undefined;
  /** A connection of its own, bypassing the adapter, to see what really is in the file. */
  let raw: Database.Database | undefined;

  beforeEach(async () => {
    filename = join(await tmpFolder(), 'nested', 'deeper', 'metadata.db');
  });

  afterEach(async () => {
    raw?.close();
    raw = undefined;
    await store?.close();
    store = undefined;
  });

  it('creates the missing folders of the file', async () => {
    store = await openSqliteMetadataStore({ filename });
    expect((await stat(filename)).isFile()).toBe(true);
  });

  it('sets the pragmas on its connection', async () => {
    const sqlite = await openSqliteMetadataStore({ filename });
    store = sqlite;
    const pragma = async (name: string) => Object.values((await sqlite.knex.raw(`pragma ${name}`))[0] as object)[0];
    expect(await pragma('journal_mode')).toBe('wal');
    expect(await pragma('synchronous')).toBe(1); // NORMAL
    expect(await pragma('foreign_keys')).toBe(1);
    expect(await pragma('busy_timeout')).toBe(5000);
  });

  it('applies each migration once, however often the file is opened', async () => {
    store = await openSqliteMetadataStore({ filename });
    await store.putManifest(manifestWrite('app', { tag: 'latest' }));
    await store.close();
    store = await openSqliteMetadataStore({ filename });
    await store.close();
    store = await openSqliteMetadataStore({ filename });

    raw = new Database(filename, { readonly: true });
    const applied = raw.prepare(`select name from ${MIGRATIONS_TABLE} order by id`).all() as Array<{ name: string }>;
    expect(applied.map((row) => row.name)).toEqual([...MIGRATION_NAMES]);
    expect(await store.listTags('app', { limit: 10 })).toEqual(['latest']);
  });

  it('gives the tags of an older schema the creation time of their manifest as push time (0006)', async () => {
    // A file migrated up to 0005 with one tagged manifest in it, as a previous version left it.
    await mkdir(dirname(filename), { recursive: true });
    const old = knex({ client: 'better-sqlite3', connection: { filename }, useNullAsDefault: true });
    const source = metadataMigrationSource(sqliteDialect);
    const upTo0005 = { ...source, getMigrations: async () => (await source.getMigrations([])).filter((step) => step.name < '0006') };
    await old.migrate.latest({ migrationSource: upTo0005, tableName: MIGRATIONS_TABLE });
    const created = Date.UTC(2024, 0, 2, 3, 4, 5);
    const digest = digestOf('old manifest');
    await old(TABLES.manifests).insert({ repository: 'app', digest, media_type: 'application/vnd.oci.image.manifest.v1+json', size: 12, content: Buffer.from('old manifest'), created_at: created, touched_at: created });
    await old(TABLES.tags).insert({ repository: 'app', name: 'v1', digest });
    await old.destroy();

    store = await openSqliteMetadataStore({ filename });
    expect(await store.listTagRecords('app', { limit: 10 })).toEqual([{ name: 'v1', digest, pushedAt: new Date(created) }]);
  });

  it('writes manifests, references and tags to the file, and cascades their deletion', async () => {
    store = await openSqliteMetadataStore({ filename });
    const child = manifestWrite('app');
    const write = manifestWrite('app', {
      mediaType: 'application/vnd.oci.image.index.v1+json',
      tag: 'latest',
      blobReferences: [blobDigest('config'), blobDigest('layer'), blobDigest('layer')],
      manifestReferences: [child.manifest.digest],
    });
    await store.putManifest(child);
    await store.putManifest(write);
    await store.putConvertedManifest({
      repository: 'app',
      digest: digestOf('converted'),
      sourceDigest: write.manifest.digest,
      mediaType: 'application/x',
      content: new Uint8Array([1, 2, 3]),
    });

    raw = new Database(filename, { readonly: true });
    const manifest = raw
      .prepare('select content, size, media_type, created_at from manifests where repository = ? and digest = ?')
      .get('app', write.manifest.digest) as { content: Buffer; size: number; media_type: string; created_at: number };
    expect(Buffer.compare(manifest.content, Buffer.from(write.manifest.content))).toBe(0);
    expect(manifest.size).toBe(write.manifest.content.byteLength);
    expect(manifest.media_type).toBe('application/vnd.oci.image.index.v1+json');
    expect(Number.isInteger(manifest.created_at)).toBe(true);

    const references = (sql: string) => raw!.prepare(sql).all('app', write.manifest.digest);
    expect(
      references(
        'select referenced_digest, kind from manifest_references where repository = ? and manifest_digest = ? order by referenced_digest',
      ),
    ).toEqual(
      [
        { referenced_digest: blobDigest('config'), kind: 'blob' },
        { referenced_digest: blobDigest('layer'), kind: 'blob' },
        { referenced_digest: child.manifest.digest, kind: 'manifest' },
      ].sort((a, b) => (a.referenced_digest < b.referenced_digest ? -1 : 1)),
    );
    expect(references('select name from tags where repository = ? and digest = ?')).toEqual([{ name: 'latest' }]);
    expect(references('select digest from converted_manifests where repository = ? and source_digest = ?')).toHaveLength(1);

    expect(await store.deleteManifest('app', write.manifest.digest)).toBe(true);
    expect(references('select * from manifests where repository = ? and digest = ?')).toEqual([]);
    expect(references('select * from manifest_references where repository = ? and manifest_digest = ?')).toEqual([]);
    expect(references('select * from tags where repository = ? and digest = ?')).toEqual([]);
    expect(references('select * from converted_manifests where repository = ? and source_digest = ?')).toEqual([]);
    // The child is a manifest of its own and stays.
    expect(raw.prepare('select count(*) as count from manifests').get()).toEqual({ count: 1 });
  });
});
