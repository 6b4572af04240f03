// A minimal registry client over fetch, for pulls that would be too heavy with a CLI per pull (20 at
// once): resolves a reference to one image (the host's platform from an index), then streams the
// config and every layer through sha256 without keeping them, and checks digest and size.
import { createHash } from 'node:crypto';
import { hostPlatform } from './client-image.js';
import { sha256Digest } from './oci-image.js';
import { ACCEPT_ALL_MANIFESTS } from './registry-http.js';

interface Descriptor {
  readonly mediaType?: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: { architecture: string; os: string; variant?: string };
}

export interface PulledImage {
  /** Digest of the manifest the reference resolved to (the index's, for a multi-platform image). */
  readonly digest: string;
  /** Digest of the image manifest pulled (the host platform's child of an index). */
  readonly imageDigest: string;
  /** The config and layers, each fetched completely and verified. */
  readonly blobs: readonly Descriptor[];
}

export class PullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PullError';
  }
}

/** Pulls `repository:reference` (tag or digest) from `baseUrl`; throws a PullError on any failure or mismatch. */
export async function pullOverHttp(baseUrl: string, repository: string, reference: string): Promise<PulledImage> {
  const root = await getManifest(baseUrl, repository, reference);
  let image = root;
  const index = root.json as { manifests?: Descriptor[] };
  if (Array.isArray(index.manifests)) {
    const platform = hostPlatform();
    const child = index.manifests.find((entry) => entry.platform?.architecture === platform.architecture && entry.platform.os === platform.os);
    if (child === undefined) throw new PullError(`${repository}:${reference} has no ${platform.os}/${platform.architecture} image`);
    image = await getManifest(baseUrl, repository, child.digest);
  }
  const manifest = image.json as { config: Descriptor; layers: Descriptor[] };
  const blobs = [manifest.config, ...manifest.layers];
  for (const blob of blobs) await fetchBlob(baseUrl, repository, blob);
  return { digest: root.digest, imageDigest: image.digest, blobs };
}

/** GETs a blob and checks that it is complete and has the right digest. */
export async function fetchBlob(baseUrl: string, repository: string, blob: Pick<Descriptor, 'digest' | 'size'>): Promise<void> {
  const response = await fetchOrExplain(`${baseUrl}/v2/${repository}/blobs/${blob.digest}`, { signal: AbortSignal.timeout(100_000) });
  if (response.status !== 200 || response.body === null) {
    throw new PullError(`GET blob ${blob.digest}: HTTP ${response.status} ${await response.text()}`);
  }
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of response.body) {
    hash.update(chunk);
    size += chunk.length;
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (digest !== blob.digest || size !== blob.size) {
    throw new PullError(`GET blob ${blob.digest}: got ${size} bytes with digest ${digest}, expected ${blob.size} bytes`);
  }
}

async function getManifest(baseUrl: string, repository: string, reference: string): Promise<{ digest: string; json: unknown }> {
  const response = await fetchOrExplain(`${baseUrl}/v2/${repository}/manifests/${reference}`, {
    headers: { accept: ACCEPT_ALL_MANIFESTS },
    signal: AbortSignal.timeout(100_000),
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) throw new PullError(`GET manifest ${repository}:${reference}: HTTP ${response.status} ${bytes.toString('utf8')}`);
  const digest = sha256Digest(bytes);
  if (reference.startsWith('sha256:') && digest !== reference) throw new PullError(`manifest ${reference} came back as ${digest}`);
  return { digest, json: JSON.parse(bytes.toString('utf8')) };
}

/** fetch, with undici's bare "fetch failed" replaced by its cause (a reset, a refused connection). */
async function fetchOrExplain(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    throw new PullError(`${init.method ?? 'GET'} ${url}: ${cause instanceof Error ? cause.message : String(error)}`);
  }
}
