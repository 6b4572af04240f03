// The standalone server on PostgreSQL: `--database` / BERTH_DATABASE_URL select it, blobs stay in
// the data directory, and a database that goes away answers 503 with the JSON error body until it
// is back, with no restart. The outage is real: the database is renamed away and back.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adminQuery, createScratchDatabase, type ScratchDatabase } from '../../packages/storage-postgres/src/testing.js';
import { BERTH_MAIN, startBerth, type RunningRegistry } from '../support/servers.js';

let database: ScratchDatabase;
let dataDir: string;
const servers: RunningRegistry[] = [];

beforeEach(async () => {
  database = await createScratchDatabase();
  dataDir = await mkdtemp(join(tmpdir(), 'berth-standalone-pg-'));
});

afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
  await database.drop();
  await rm(dataDir, { recursive: true, force: true });
});

async function start(options: { args?: string[]; env?: Record<string, string> }): Promise<RunningRegistry> {
  const server = await startBerth({ dataDir, ...options });
  servers.push(server);
  return server;
}

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function pushBlob(url: string, repository: string, bytes: Uint8Array): Promise<Response> {
  return fetch(`${url}/v2/${repository}/blobs/uploads/?digest=${sha256(bytes)}`, { method: 'POST', body: bytes });
}

/** An OCI image manifest over one config blob (no layers). */
function manifestOver(config: Buffer): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [],
      annotations: { nonce: randomBytes(4).toString('hex') },
    }),
  );
}

async function putManifest(url: string, repository: string, tag: string, manifest: Buffer): Promise<Response> {
  return fetch(`${url}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
}

/** Pushes a config blob and a manifest over it under `tag`. */
async function pushImage(url: string, repository: string, tag: string): Promise<{ status: number; digest: string; config: Buffer }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', tag }));
  expect((await pushBlob(url, repository, config)).status).toBe(201);
  const manifest = manifestOver(config);
  const response = await putManifest(url, repository, tag, manifest);
  await response.arrayBuffer();
  return { status: response.status, digest: sha256(manifest), config };
}

async function rowCount(table: string): Promise<number> {
  const rows = await adminQuery<{ count: string }>(`select count(*) as count from ${table}`, [], database.url);
  return Number(rows[0]!.count);
}

/**
 * Renames a database, first ending the connections to it (a database in use cannot be renamed).
 * The server's pool may open a new one in between, so it tries again until the rename succeeds.
 */
async function renameDatabase(from: string, to: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    await adminQuery('select pg_terminate_backend(pid) from pg_stat_activity where datname = ? and pid <> pg_backend_pid()', [from]);
    try {
      await adminQuery(`alter database "${from}" rename to "${to}"`);
      return;
    } catch (error) {
      // 55006: object_in_use.
      if ((error as { code?: string }).code !== '55006' || attempt >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

describe('standalone server on PostgreSQL', () => {
  it('keeps metadata in the database named by --database and blobs in the data directory', async () => {
    const server = await start({ args: ['--database', database.url] });
    const { status, digest } = await pushImage(server.url, 'app', 'latest');
    expect(status).toBe(201);

    expect(await rowCount('manifests')).toBe(1);
    expect(await adminQuery('select name, digest from tags', [], database.url)).toEqual([{ name: 'latest', digest }]);
    expect(existsSync(join(dataDir, 'berth.sqlite'))).toBe(false);
    expect((await readdir(join(dataDir, 'blobs', 'blobs', 'sha256'))).length).toBe(1);
  });

  it('takes the database from BERTH_DATABASE_URL, the flag winning', async () => {
    const fromEnv = await start({ env: { BERTH_DATABASE_URL: database.url } });
    expect((await pushImage(fromEnv.url, 'app', 'env')).status).toBe(201);
    expect(await rowCount('tags')).toBe(1);

    // An unusable variable does not matter when the flag names the database.
    const fromFlag = await start({ args: ['--database', database.url], env: { BERTH_DATABASE_URL: 'mysql://nope' } });
    expect((await pushImage(fromFlag.url, 'app', 'flag')).status).toBe(201);
    expect(await rowCount('tags')).toBe(2);
  });

  it('refuses a database URL it cannot use, without echoing its password', async () => {
    const child = spawn(process.execPath, [BERTH_MAIN, '--port', '0', '--data', dataDir, '--database', 'mysql://user:s3cret@localhost/db']);
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(output).toMatch(/unsupported database URL scheme "mysql"/);
    expect(output).not.toContain('s3cret');
  });

  it('answers 503 with a JSON error while the database is gone, writes nothing, and recovers by itself', async () => {
    const server = await start({ args: ['--database', database.url] });
    const before = await pushImage(server.url, 'app', 'before');
    expect(before.status).toBe(201);

    const away = `${database.name}_away`;
    await renameDatabase(database.name, away);
    try {
      const tags = await fetch(`${server.url}/v2/app/tags/list`);
      expect(tags.status).toBe(503);
      expect(tags.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await tags.json()).toEqual({ errors: [{ code: 'UNAVAILABLE', message: expect.any(String) }] });

      const manifest = await fetch(`${server.url}/v2/app/manifests/${before.digest}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      expect(manifest.status).toBe(503);
      await manifest.arrayBuffer();

      // A valid push during the outage (its config is there) fails as a whole.
      const during = await putManifest(server.url, 'app', 'during', manifestOver(before.config));
      expect(during.status).toBe(503);
      expect(((await during.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('UNAVAILABLE');

      // An upload cannot start without its session: no orphan upload is left in the data directory.
      const upload = await fetch(`${server.url}/v2/app/blobs/uploads/`, { method: 'POST' });
      expect(upload.status).toBe(503);
      await upload.arrayBuffer();
      expect(await readdir(join(dataDir, 'blobs', 'uploads'))).toEqual([]);
    } finally {
      await renameDatabase(away, database.name);
    }

    // The same process serves again, and nothing of the failed push is there.
    const tags = await fetch(`${server.url}/v2/app/tags/list`);
    expect(tags.status).toBe(200);
    expect(await tags.json()).toEqual({ name: 'app', tags: ['before'] });
    expect(await rowCount('manifests')).toBe(1);
    expect((await pushImage(server.url, 'app', 'after')).status).toBe(201);
  });
});
