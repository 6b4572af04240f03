import { RegistryError } from '@berth/core';
import type { KnexMetadataStore } from '@berth/storage-sql';
import { blobDigest, manifestWrite } from '@berth/storage-testing';
import knex, { type Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isConnectionFailure, openPostgresMetadataStore } from '../src/index.js';
import { createScratchDatabase, TEST_POSTGRES_ADMIN_URL, type ScratchDatabase } from '../src/testing.js';
import { TcpProxy } from './support/tcp-proxy.js';

// The store reaches PostgreSQL through a proxy the test closes and reopens: a real listener that
// goes away, real sockets that end mid-conversation. The database itself stays up throughout.

let database: ScratchDatabase;
let proxy: TcpProxy;
let store: KnexMetadataStore;
/** A direct connection (not through the proxy) to see what was committed. */
let direct: Knex;
let warnings: string[];

beforeEach(async () => {
  database = await createScratchDatabase();
  const server = new URL(TEST_POSTGRES_ADMIN_URL);
  proxy = await TcpProxy.start({ host: server.hostname, port: Number(server.port || 5432) });
  const viaProxy = new URL(database.url);
  viaProxy.host = `127.0.0.1:${proxy.port}`;
  warnings = [];
  // knex warns of each failed connection attempt; kept here rather than printed among test results.
  const log = { warn: (message: unknown) => warnings.push(String(message)), debug: () => undefined };
  store = await openPostgresMetadataStore({ connection: viaProxy.toString(), pool: { max: 3 }, log });
  direct = knex({ client: 'pg', connection: database.url, pool: { min: 0, max: 1 } });
});

afterEach(async () => {
  await store.close();
  await proxy.close();
  await direct.destroy();
  await database.drop();
});

/** The RegistryError an operation fails with. */
async function failure(operation: Promise<unknown>): Promise<RegistryError> {
  const error = await operation.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(RegistryError);
  return error as RegistryError;
}

describe('PostgreSQL metadata store during an outage', () => {
  it('answers UNAVAILABLE (503) while the server is unreachable, and recovers on its own', async () => {
    const before = manifestWrite('app', { tag: 'latest' });
    await store.putManifest(before);

    await proxy.cut();
    // Idle pooled connections died with the cut; new ones are refused. Reads and writes alike.
    for (const operation of [
      () => store.resolveTag('app', 'latest'),
      () => store.listTags('app', { limit: 10 }),
      () => store.putManifest(manifestWrite('app', { tag: 'during' })),
      () => store.linkBlob('app', blobDigest('layer'), 1),
      () => store.getOrSetSetting('key', 'value'),
    ]) {
      const error = await failure(operation());
      expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 503 });
      expect(error.toJSON().errors[0]?.code).toBe('UNAVAILABLE');
      // The cause is kept for logs, but the message says nothing of the internals.
      expect(isConnectionFailure(error.cause)).toBe(true);
      expect(error.message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|terminated/);
    }

    expect(warnings.some((warning) => warning.includes('ECONNREFUSED'))).toBe(true);

    await proxy.restore();
    // The same store object, no reopen: the pool makes new connections.
    expect(await store.resolveTag('app', 'latest')).toBe(before.manifest.digest);
    const after = manifestWrite('app', { tag: 'after' });
    await store.putManifest(after);
    expect(await store.listTags('app', { limit: 10 })).toEqual(['after', 'latest']);
    const tags: Array<{ name: string }> = await direct('tags').select('name').orderBy('name');
    expect(tags.map((row) => row.name)).toEqual(['after', 'latest']);
  });

  it('commits nothing of a manifest write whose connection is cut before the commit', async () => {
    const write = manifestWrite('app', {
      tag: 'latest',
      // Enough references for several insert batches before the commit.
      blobReferences: Array.from({ length: 450 }, (_, index) => blobDigest(String(index))),
    });
    // The cut happens when the client sends COMMIT: manifest, references and tag are all written
    // inside the transaction by then, and the server has not committed them.
    const cut = proxy.cutWhenClientSends('COMMIT');
    const error = await failure(store.putManifest(write));
    await cut;
    expect(error.code).toBe('UNAVAILABLE');

    const count = async (table: string) => Number(((await direct(table).count({ count: '*' })) as Array<{ count: string }>)[0]!.count);
    expect(await count('manifests')).toBe(0);
    expect(await count('manifest_references')).toBe(0);
    expect(await count('tags')).toBe(0);

    await proxy.restore();
    await store.putManifest(write);
    expect(await count('manifests')).toBe(1);
    expect(await count('manifest_references')).toBe(450);
    expect(await store.resolveTag('app', 'latest')).toBe(write.manifest.digest);
  });

  it('keeps telling a client error from an outage', async () => {
    // A foreign key violation is no outage: it stays what the store makes of it.
    const error = await failure(
      store.putConvertedManifest({
        repository: 'app',
        digest: blobDigest('converted'),
        sourceDigest: blobDigest('missing'),
        mediaType: 'application/x',
        content: new Uint8Array([1]),
      }),
    );
    expect(error.code).toBe('MANIFEST_UNKNOWN');
  });
});
