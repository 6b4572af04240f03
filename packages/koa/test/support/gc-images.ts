// Images pushed and pulled over HTTP the way clients do it, for the collector's tests.
import { randomBytes } from 'node:crypto';
import type request from 'supertest';
import { expect } from 'vitest';
import { DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, binary, pushBlob, sha256 } from './content.js';
import type { RegistryUnderTest } from './registry-under-test.js';

type Http = ReturnType<typeof request>;

export const ACCEPT_ALL = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, 'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ');

export interface Pushed {
  digest: string;
  /** Bytes of the manifest. */
  size: number;
  /** Every blob the manifest names. */
  blobs: string[];
}

export class PushRefused extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(`manifest PUT answered ${status} ${code ?? ''}`);
  }
}

/** An OCI image over the given layers (pushed here unless `pushLayers` is false) and a fresh config. */
export async function pushImage(
  http: Http,
  repository: string,
  reference: string,
  layers: readonly Buffer[],
  extra: Record<string, unknown> = {},
): Promise<Pushed> {
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }));
  const config = await pushBlob(http, repository, configBytes);
  const layerDigests: string[] = [];
  for (const layer of layers) layerDigests.push(await pushBlob(http, repository, layer));
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: config, size: configBytes.length },
    layers: layers.map((layer, index) => ({ mediaType: OCI_LAYER, digest: layerDigests[index], size: layer.length })),
    ...extra,
  });
  const response = await http.put(`/v2/${repository}/manifests/${reference}`).set('Content-Type', OCI_MANIFEST).send(body);
  if (response.status !== 201) throw new PushRefused(response.status, (response.body as { errors?: Array<{ code: string }> }).errors?.[0]?.code);
  return { digest: sha256(body), size: Buffer.byteLength(body), blobs: [config, ...layerDigests] };
}

/** The text of an OCI index over the children (pushed by the caller). */
export function indexOf(children: readonly Pushed[]): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map((child, index) => ({
      mediaType: OCI_MANIFEST,
      digest: child.digest,
      size: child.size,
      platform: { os: 'linux', architecture: index === 0 ? 'amd64' : 'arm64' },
    })),
  });
}


/** A blob's bytes over HTTP, checked against its digest. */
export async function pullBlob(http: Http, repository: string, digest: string): Promise<void> {
  const response = await http.get(`/v2/${repository}/blobs/${digest}`).buffer(true).parse(binary);
  expect(response.status, `blob ${digest} of ${repository}`).toBe(200);
  expect(sha256(response.body as Buffer)).toBe(digest);
}

/** Pulls a manifest and everything it names (children, recursively, and their blobs), like `skopeo copy --all`. */
export async function pullAll(http: Http, repository: string, reference: string): Promise<void> {
  const response = await http.get(`/v2/${repository}/manifests/${reference}`).set('Accept', ACCEPT_ALL).buffer(true).parse(binary);
  expect(response.status, `manifest ${repository}:${reference}`).toBe(200);
  const manifest = JSON.parse((response.body as Buffer).toString()) as {
    manifests?: Array<{ digest: string }>;
    config?: { digest: string };
    layers?: Array<{ digest: string }>;
  };
  for (const child of manifest.manifests ?? []) await pullAll(http, repository, child.digest);
  for (const blob of [manifest.config, ...(manifest.layers ?? [])]) if (blob) await pullBlob(http, repository, blob.digest);
}

export async function storedDigests(t: RegistryUnderTest): Promise<string[]> {
  const digests: string[] = [];
  for await (const blob of t.blobs.listBlobs!()) digests.push(blob.digest);
  return digests.sort();
}

export const sorted = (digests: Iterable<string>) => [...new Set(digests)].sort();
