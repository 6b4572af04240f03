// The registry operations the workloads time, written against the distribution spec so that the same
// calls work on berth and on the reference.
import { createHash } from 'node:crypto';
import { Agent } from 'node:http';
import { CHUNK_SIZE } from './blob-data.mjs';
import { absoluteLocation, expectStatus, request, withQuery } from './http.mjs';

export const SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json';
export const SCHEMA2_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

/** Starts an upload session and returns its absolute Location. */
async function startUpload(server, repository, agent) {
  const started = await request('POST', `${server.url}/v2/${repository}/blobs/uploads/`, {
    headers: { 'content-length': '0' },
    ...(agent && { agent }),
  });
  expectStatus(started, 202, `start upload on ${server.name}`);
  return absoluteLocation(server.url, started);
}

/** The spec's monolithic upload as clients do it: POST for a session, then one PUT with the whole blob. */
export async function pushMonolithic(server, repository, source, digest) {
  const location = await startUpload(server, repository);
  const done = await request('PUT', withQuery(location, 'digest', digest), {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(source.size) },
    body: source.chunks(),
  });
  expectStatus(done, 201, `monolithic PUT on ${server.name}`);
}

/** A chunked upload: PATCHes of `chunkBytes` (a multiple of 1 MiB) on one kept-alive connection, then PUT. */
export async function pushChunked(server, repository, source, digest, chunkBytes) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    let location = await startUpload(server, repository, agent);
    const perPatch = chunkBytes / CHUNK_SIZE;
    const chunks = source.chunks();
    for (let start = 0; start < source.size; start += chunkBytes) {
      const length = Math.min(chunkBytes, source.size - start);
      const body = (function* () {
        for (let i = 0; i < perPatch; i++) {
          const next = chunks.next();
          if (next.done) return;
          yield next.value;
        }
      })();
      const patched = await request('PATCH', location, {
        agent,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(length),
          'content-range': `${start}-${start + length - 1}`,
        },
        body,
      });
      expectStatus(patched, 202, `PATCH at ${start} on ${server.name}`);
      location = absoluteLocation(server.url, patched);
    }
    const done = await request('PUT', withQuery(location, 'digest', digest), {
      agent,
      headers: { 'content-length': '0' },
    });
    expectStatus(done, 201, `chunked PUT on ${server.name}`);
  } finally {
    agent.destroy();
  }
}

/** A small blob pushed in one go; returns its digest. */
export async function pushSmallBlob(server, repository, bytes) {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const location = await startUpload(server, repository);
  const done = await request('PUT', withQuery(location, 'digest', digest), {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.byteLength) },
    body: bytes,
  });
  expectStatus(done, 201, `small blob PUT on ${server.name}`);
  return { digest, size: bytes.byteLength };
}

/** Downloads a blob, counting the bytes without keeping them. */
export async function pullBlob(server, repository, digest, expectedSize, agent) {
  const response = await request('GET', `${server.url}/v2/${repository}/blobs/${digest}`, {
    collect: false,
    ...(agent && { agent }),
  });
  if (response.status !== 200 || response.bytes !== expectedSize) {
    throw new Error(`pull from ${server.name}: HTTP ${response.status}, ${response.bytes} of ${expectedSize} bytes`);
  }
}

export async function putManifest(server, repository, reference, body, mediaType, agent) {
  const response = await request('PUT', `${server.url}/v2/${repository}/manifests/${reference}`, {
    headers: { 'content-type': mediaType, 'content-length': String(body.byteLength) },
    body,
    ...(agent && { agent }),
  });
  expectStatus(response, 201, `manifest PUT ${repository}:${reference} on ${server.name}`);
  return response.headers['docker-content-digest'];
}

/**
 * Pushes a one-layer schema2 image whose config has the history and rootfs a schema1 conversion needs.
 * Returns the manifest's bytes and digest.
 */
export async function pushImage(server, repository, tag) {
  const layerBytes = Buffer.alloc(4096, 7);
  const layer = await pushSmallBlob(server, repository, layerBytes);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [`sha256:${createHash('sha256').update('bench layer').digest('hex')}`] },
      history: [{ created: '2024-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:bench in /' }],
      created: '2024-01-01T00:00:00Z',
    }),
  );
  const configBlob = await pushSmallBlob(server, repository, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: SCHEMA2,
      config: { mediaType: SCHEMA2_CONFIG, size: configBlob.size, digest: configBlob.digest },
      layers: [{ mediaType: LAYER, size: layer.size, digest: layer.digest }],
    }),
  );
  const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  await putManifest(server, repository, tag, manifest, SCHEMA2);
  return { manifest, digest };
}
