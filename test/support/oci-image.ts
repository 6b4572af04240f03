// Builds real container images offline: gzip'd ustar layers, an image config whose diff_ids
// match the uncompressed tarballs, an OCI image manifest, and an OCI image layout directory
// that `skopeo copy oci:<dir>:<tag> ...` accepts. Content is derived from a seed, so the
// same parameters always give the same digests.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeTar, type TarEntry } from './ustar.js';
import { seededRandom } from './random.js';

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** The tag annotation an OCI layout's index.json uses to name its entries. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

export interface Blob {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly bytes: Buffer;
}

export interface Layer extends Blob {
  /** sha256 of the uncompressed tarball, as listed in the config's rootfs.diff_ids. */
  readonly diffId: string;
  readonly files: readonly string[];
}

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
}

export interface GeneratedImage {
  readonly platform: Platform;
  readonly config: Blob;
  readonly layers: readonly Layer[];
  readonly manifest: Blob;
}

export interface ImageLayout {
  readonly dir: string;
  readonly tag: string;
  /** skopeo reference to the tagged entry: `oci:<dir>:<tag>`. */
  readonly ref: string;
  /** What the tag points at: the image manifest, or the image index for a multi-arch layout. */
  readonly root: Blob;
  readonly images: readonly GeneratedImage[];
  /** Every blob in the layout (configs, layers, manifests, index) by digest. */
  readonly blobs: ReadonlyMap<string, Buffer>;
}

export interface ImageOptions {
  /** Number of filesystem layers (at least 1). */
  readonly layers?: number;
  readonly seed?: number;
  readonly platform?: Platform;
}

export interface LayoutOptions extends ImageOptions {
  /** Directory to create the layout in; it must not hold another layout. */
  readonly dir: string;
  readonly tag?: string;
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function generateImage(options: ImageOptions = {}): GeneratedImage {
  const layerCount = options.layers ?? 2;
  const seed = options.seed ?? 1;
  const platform = options.platform ?? { architecture: 'amd64', os: 'linux' };
  if (!Number.isInteger(layerCount) || layerCount < 1) throw new Error(`layer count must be >= 1, got ${layerCount}`);

  const random = seededRandom(seed);
  // Timestamps are whole seconds and derived from the seed, so images are reproducible.
  const baseTime = Date.UTC(2024, 0, 1) + (seed % 100_000) * 60_000;
  const at = (step: number) => new Date(baseTime + step * 1000);

  const layers: Layer[] = [];
  for (let i = 0; i < layerCount; i++) {
    layers.push(generateLayer(i, seed, platform, random, at(i + 1)));
  }

  // One empty_layer entry before the filesystem layers and one after, like a real build
  // (LABEL/ENV/CMD instructions record history without a layer).
  const history = [
    { created: at(0).toISOString(), created_by: `/bin/sh -c #(nop) LABEL org.example.seed=${seed}`, empty_layer: true },
    ...layers.map((_, i) => ({
      created: at(i + 1).toISOString(),
      created_by: `/bin/sh -c #(nop) ADD dir:layer-${i} in /`,
    })),
    { created: at(layerCount + 1).toISOString(), created_by: '/bin/sh -c #(nop) CMD ["/bin/sh"]', empty_layer: true },
  ];
  const configJson = {
    created: at(layerCount + 1).toISOString(),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh'],
      WorkingDir: '/',
      Labels: { 'org.example.seed': String(seed) },
    },
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
    history,
  };
  const config = blobOf(MediaType.ociConfig, Buffer.from(JSON.stringify(configJson)));

  const manifestJson = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: descriptorOf(config),
    layers: layers.map(descriptorOf),
    annotations: { 'org.opencontainers.image.created': configJson.created },
  };
  const manifest = blobOf(MediaType.ociManifest, Buffer.from(JSON.stringify(manifestJson)));
  return { platform, config, layers, manifest };
}

/** A single-platform image in an OCI image layout. */
export async function writeImageLayout(options: LayoutOptions): Promise<ImageLayout> {
  const image = generateImage(options);
  return writeLayout(options.dir, options.tag ?? 'latest', image.manifest, [image], []);
}

/** An OCI image index with linux/amd64 and linux/arm64/v8 images, in an OCI image layout. */
export async function writeMultiArchLayout(options: Omit<LayoutOptions, 'platform'>): Promise<ImageLayout> {
  const seed = options.seed ?? 1;
  const platforms: Platform[] = [
    { architecture: 'amd64', os: 'linux' },
    { architecture: 'arm64', os: 'linux', variant: 'v8' },
  ];
  // Distinct seeds so the two images share no layers, as real per-arch builds would.
  const images = platforms.map((platform, i) => generateImage({ layers: options.layers, seed: seed * 7 + i, platform }));
  const indexJson = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: images.map((image) => ({ ...descriptorOf(image.manifest), platform: image.platform })),
  };
  const index = blobOf(MediaType.ociIndex, Buffer.from(JSON.stringify(indexJson)));
  return writeLayout(options.dir, options.tag ?? 'latest', index, images, [index]);
}

async function writeLayout(
  dir: string,
  tag: string,
  root: Blob,
  images: readonly GeneratedImage[],
  extra: readonly Blob[],
): Promise<ImageLayout> {
  const blobs = new Map<string, Buffer>();
  for (const image of images) {
    for (const blob of [image.config, ...image.layers, image.manifest]) blobs.set(blob.digest, blob.bytes);
  }
  for (const blob of extra) blobs.set(blob.digest, blob.bytes);

  const blobDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  for (const [digest, bytes] of blobs) {
    await writeFile(join(blobDir, digest.slice('sha256:'.length)), bytes);
  }
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const indexJson = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [{ ...descriptorOf(root), annotations: { [REF_NAME_ANNOTATION]: tag } }],
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(indexJson));
  return { dir, tag, ref: `oci:${dir}:${tag}`, root, images, blobs };
}

function generateLayer(index: number, seed: number, platform: Platform, random: () => number, mtime: Date): Layer {
  const top = `layer-${index}`;
  const entries: TarEntry[] = [{ type: 'directory', name: top, mtime }];
  const text = `seed ${seed}, layer ${index}, ${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}\n`;
  entries.push({ type: 'file', name: `${top}/README`, mtime, content: Buffer.from(text) });
  // A couple of small random files keep layers a few KiB and distinct per seed.
  const fileCount = 1 + Math.floor(random() * 3);
  for (let f = 0; f < fileCount; f++) {
    const size = 256 + Math.floor(random() * 1792);
    const content = Buffer.alloc(size);
    for (let b = 0; b < size; b++) content[b] = Math.floor(random() * 256);
    entries.push({ type: 'file', name: `${top}/data-${f}.bin`, mode: 0o600, mtime, content });
  }
  const tar = writeTar(entries);
  const gz = gzipSync(tar);
  return {
    ...blobOf(MediaType.ociLayerGzip, gz),
    diffId: sha256Digest(tar),
    files: entries.map((entry) => entry.name),
  };
}

function blobOf(mediaType: string, bytes: Buffer): Blob {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.length, bytes };
}

function descriptorOf(blob: Blob): { mediaType: string; digest: string; size: number } {
  return { mediaType: blob.mediaType, digest: blob.digest, size: blob.size };
}

