import { createHash, randomBytes } from 'node:crypto';
import type request from 'supertest';
import { expect } from 'vitest';

export const sha256 = (bytes: Uint8Array | string): string =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

type Http = ReturnType<typeof request>;

/** Pushes bytes as a blob in one request and returns their digest. */
export async function pushBlob(http: Http, repository: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  await http
    .post(`/v2/${repository}/blobs/uploads/?digest=${digest}`)
    .set('Content-Type', 'application/octet-stream')
    .send(bytes)
    .expect(201);
  return digest;
}

export interface PushedImage {
  digest: string;
  /** The manifest text (sent as a string: superagent would JSON-encode a Buffer under a +json type). */
  body: string;
  config: string;
  layers: string[];
}

/** An OCI image manifest over a fresh config and layer, pushed to the repository. */
export async function pushImage(
  http: Http,
  repository: string,
  reference: string,
  extra: Record<string, unknown> = {},
): Promise<PushedImage> {
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layerBytes = randomBytes(64);
  const config = await pushBlob(http, repository, configBytes);
  const layer = await pushBlob(http, repository, layerBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: config, size: configBytes.length },
    layers: [{ mediaType: OCI_LAYER, digest: layer, size: layerBytes.length }],
    ...extra,
  };
  const body = JSON.stringify(manifest);
  const response = await http
    .put(`/v2/${repository}/manifests/${reference}`)
    .set('Content-Type', OCI_MANIFEST)
    .send(body)
    .expect(201);
  expect(response.headers['docker-content-digest']).toBe(sha256(body));
  return { digest: sha256(body), body, config, layers: [layer] };
}

/** The spec's error body: exactly one entry here, with the expected code. */
export function expectError(response: request.Response, status: number, code: string): void {
  expect(response.status).toBe(status);
  expect(response.headers['docker-distribution-api-version']).toBe('registry/2.0');
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  // A HEAD response carries the error's headers but no body.
  if ((response as unknown as { req: { method: string } }).req.method === 'HEAD') return;
  const body = JSON.parse(response.text) as { errors: Array<{ code: string; message: string }> };
  expect(body.errors[0]?.code).toBe(code);
  expect(typeof body.errors[0]?.message).toBe('string');
}

/** Collects a binary response body as a Buffer (supertest only buffers text types by default). */
export function binary(response: request.Response, callback: (error: Error | null, body: Buffer) => void): void {
  const stream = response as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => callback(null, Buffer.concat(chunks)));
}
