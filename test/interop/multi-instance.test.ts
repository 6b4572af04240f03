// Two standalone processes on two ports share one PostgreSQL database and one data directory, as
// operators run berth behind a load balancer. Whatever goes in through one comes out of the other;
// concurrent pushes split across both lose nothing; an upload may hop between them; and at the end
// the database and the blob directory agree: no tag on a missing manifest, no reference to a
// missing blob, no partial blob, no leftover upload.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery, createScratchDatabase, type ScratchDatabase } from '../../packages/storage-postgres/src/testing.js';
import { readDirImage } from '../support/image-readback.js';
import { generateImage, MediaType, sha256Digest, writeImageLayout } from '../support/oci-image.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { startBerth, type RunningRegistry } from '../support/servers.js';
import { createSkopeo, dockerRef, type Skopeo } from '../support/skopeo.js';

let database: ScratchDatabase;
let scratch: Scratch;
let dataDir: string;
let a: RunningRegistry;
let b: RunningRegistry;
let skopeo: Skopeo;

beforeAll(async () => {
  database = await createScratchDatabase();
  scratch = await createScratch('berth-multi-instance-');
  dataDir = scratch.child('shared-data');
  // Both start at once: their migrations of the empty database must take turns, not fail.
  const start = () => startBerth({ dataDir, args: ['--database', database.url, '--log-level', 'warn'] });
  [a, b] = await Promise.all([start(), start()]);
  skopeo = await createSkopeo();
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await skopeo?.dispose();
  await database?.drop();
  await scratch?.dispose();
});

const sql = <T>(query: string, bindings: readonly (string | number)[] = []) => adminQuery<T>(query, bindings, database.url);

async function send(url: string, init: RequestInit & { expect: number }): Promise<Response> {
  const response = await fetch(url, init);
  if (response.status !== init.expect) {
    throw new Error(`${init.method ?? 'GET'} ${url}: expected ${init.expect}, got ${response.status}: ${await response.text()}`);
  }
  return response;
}

/** A monolithic blob push (POST with ?digest=). */
async function pushBlob(server: RunningRegistry, repository: string, bytes: Uint8Array): Promise<void> {
  await send(`${server.url}/v2/${repository}/blobs/uploads/?digest=${sha256Digest(bytes)}`, { method: 'POST', body: bytes, expect: 201 });
}

async function pushManifest(server: RunningRegistry, repository: string, tag: string, bytes: Uint8Array, mediaType: string): Promise<void> {
  await send(`${server.url}/v2/${repository}/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': mediaType }, body: bytes, expect: 201 });
}

async function get(server: RunningRegistry, path: string, accept?: string): Promise<{ status: number; body: Buffer; digest: string | null }> {
  const response = await fetch(`${server.url}${path}`, accept === undefined ? {} : { headers: { Accept: accept } });
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()), digest: response.headers.get('docker-content-digest') };
}

describe('two instances on one PostgreSQL database and one blob directory', () => {
  it('serves through one what skopeo pushed through the other', async () => {
    const layout = await writeImageLayout({ dir: scratch.child('layout'), layers: 3, seed: 401, tag: 'v1' });
    const pushed = await skopeo.copy(layout.ref, dockerRef(a.host, 'shared/app', 'v1'));
    expect(pushed.digest).toBe(layout.root.digest);

    const pulledDir = scratch.child('pulled');
    const pulled = await skopeo.copy(dockerRef(b.host, 'shared/app', 'v1'), `dir:${pulledDir}`);
    expect(pulled.digest).toBe(layout.root.digest);
    const image = await readDirImage(pulledDir);
    expect(image.manifest.equals(layout.root.bytes)).toBe(true);
    for (const blob of [layout.images[0]!.config, ...layout.images[0]!.layers]) {
      expect(image.blobs.get(blob.digest)?.equals(blob.bytes), `blob ${blob.digest}`).toBe(true);
    }
  });

  it('takes 20 concurrent pushes of different tags sharing layers, split across both, and loses none', async () => {
    // Every image has the same two base layers and one of its own; every push uploads all of
    // them, so the shared ones race each other into the shared blob directory from both processes.
    const base = generateImage({ layers: 2, seed: 500 });
    const images = Array.from({ length: 20 }, (_, index) => {
      const own = generateImage({ layers: 1, seed: 600 + index }).layers[0]!;
      const layers = [...base.layers, own];
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) }, index }));
      const descriptor = (mediaType: string, bytes: Buffer) => ({ mediaType, digest: sha256Digest(bytes), size: bytes.length });
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociManifest,
          config: descriptor(MediaType.ociConfig, config),
          layers: layers.map((layer) => descriptor(MediaType.ociLayerGzip, layer.bytes)),
        }),
      );
      return { tag: `build-${String(index).padStart(2, '0')}`, layers, config, manifest, via: index % 2 === 0 ? a : b };
    });

    await Promise.all(
      images.map(async (image) => {
        await Promise.all([image.config, ...image.layers.map((layer) => layer.bytes)].map((bytes) => pushBlob(image.via, 'shared/builds', bytes)));
        await pushManifest(image.via, 'shared/builds', image.tag, image.manifest, MediaType.ociManifest);
      }),
    );

    for (const server of [a, b]) {
      const tags = await get(server, '/v2/shared/builds/tags/list');
      expect(JSON.parse(tags.body.toString())).toEqual({ name: 'shared/builds', tags: images.map((image) => image.tag) });
    }
    // Each image comes back whole from the instance that did not take its push.
    for (const image of images) {
      const other = image.via === a ? b : a;
      const manifest = await get(other, `/v2/shared/builds/manifests/${image.tag}`, MediaType.ociManifest);
      expect(manifest.status).toBe(200);
      expect(manifest.body.equals(image.manifest)).toBe(true);
      for (const bytes of [image.config, ...image.layers.map((layer) => layer.bytes)]) {
        const blob = await get(other, `/v2/shared/builds/blobs/${sha256Digest(bytes)}`);
        expect(blob.status).toBe(200);
        expect(sha256Digest(blob.body)).toBe(sha256Digest(bytes));
      }
    }
  });

  it('finishes on one instance a chunked upload begun on the other, showing no blob before the end', async () => {
    const parts = [Buffer.alloc(300_000, 1), Buffer.alloc(200_000, 2), Buffer.alloc(5, 3)];
    const content = Buffer.concat(parts);
    const digest = sha256Digest(content);

    const begun = await send(`${a.url}/v2/shared/chunked/blobs/uploads/`, { method: 'POST', expect: 202 });
    let location = begun.headers.get('location')!;
    let offset = 0;
    // Chunks alternate between the instances: b, a, then b again for the last one with the digest.
    for (const [index, part] of parts.slice(0, 2).entries()) {
      const server = index % 2 === 0 ? b : a;
      const url = new URL(location, server.url);
      url.host = server.host;
      const patched = await send(url.toString(), {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + part.length - 1}` },
        body: part,
        expect: 202,
      });
      offset += part.length;
      expect(patched.headers.get('range')).toBe(`0-${offset - 1}`);
      location = patched.headers.get('location')!;

      // Half an upload is nowhere to be seen, through either instance.
      for (const server of [a, b]) expect((await get(server, `/v2/shared/chunked/blobs/${digest}`)).status).toBe(404);
    }
    const status = await send(new URL(location, a.url).toString(), { method: 'GET', expect: 204 });
    expect(status.headers.get('range')).toBe(`0-${offset - 1}`);

    const last = new URL(location, b.url);
    last.searchParams.set('digest', digest);
    await send(last.toString(), {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + parts[2]!.length - 1}` },
      body: parts[2],
      expect: 201,
    });
    for (const server of [a, b]) {
      const blob = await get(server, `/v2/shared/chunked/blobs/${digest}`);
      expect(blob.status).toBe(200);
      expect(sha256Digest(blob.body)).toBe(digest);
    }
  });

  it('leaves the database and the blob directory consistent with each other', async () => {
    // No tag points at a missing manifest.
    expect(await sql('select t.repository, t.name from tags t left join manifests m on m.repository = t.repository and m.digest = t.digest where m.digest is null')).toEqual([]);
    expect(Number((await sql<{ count: string }>('select count(*) as count from tags'))[0]!.count)).toBe(21);

    // Every blob a manifest references is linked to its repository and present in the blob directory, whole.
    const blobsRoot = join(dataDir, 'blobs', 'blobs');
    const referenced = await sql<{ repository: string; digest: string; size: string | null }>(
      `select r.repository, r.referenced_digest as digest, l.size from manifest_references r
       left join blob_links l on l.repository = r.repository and l.digest = r.referenced_digest where r.kind = 'blob'`,
    );
    expect(referenced.length).toBeGreaterThan(20);
    for (const row of referenced) {
      expect(row.size, `${row.repository} references ${row.digest} without linking it`).not.toBeNull();
      const hex = row.digest.slice('sha256:'.length);
      expect((await stat(join(blobsRoot, 'sha256', hex.slice(0, 2), hex))).size).toBe(Number(row.size));
    }

    // Every file in the blob directory is a whole blob: its bytes hash to its name.
    const files = (await readdir(blobsRoot, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) {
      const bytes = await readFile(join(file.parentPath, file.name));
      expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(`sha256:${file.name}`);
    }

    // No upload is left half-done: not in the database, not on disk.
    expect(await sql('select id from upload_sessions')).toEqual([]);
    expect(await readdir(join(dataDir, 'blobs', 'uploads'))).toEqual([]);
  });
});
