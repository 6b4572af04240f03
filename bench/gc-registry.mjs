// A generated registry for the collector's benchmark: blob files written straight into the blob store's
// layout and metadata written through the MetadataStore interface (linkBlob, putManifest, deleteManifest),
// never through HTTP, so 100,000 blobs take seconds to minutes rather than an hour. Alongside it comes what
// a collection with `--grace 0 --delete-untagged` must remove, counted while generating, so the bench can
// check the run as well as time it.
//
// Per repository (the registry is `blobs / 500` of them), 100 manifests kept and about 510 blobs:
//   10 tagged indexes over 2 untagged child images each    55 tagged images
//    5 cosign-style signatures on tagged images (untagged)  10 untagged images (pushed by digest): garbage
//    5 images pushed and deleted again (their links stay): garbage
//   75 blobs uploaded and linked, never named: garbage      50 blob files no row knows (from before the
//                                                              collector, or a crash): adopted, then garbage
// An image is a config and three layers of its own plus two base layers from a pool shared by every
// repository (5 per repository), so links and blobs are shared across repositories as in real life.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const BLOBS_PER_REPOSITORY = 500;
export const MANIFESTS_PER_REPOSITORY = 100;
const BASE_LAYERS_PER_REPOSITORY = 5;

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const COSIGN = 'application/vnd.dev.cosign.artifact.sig.v1+json';

const FILLER = Buffer.alloc(1024, 'berth gc bench ');

/** Blob number `n`: 200 to 1,223 bytes, different for every n. */
function blobBytes(n) {
  const head = Buffer.from(`blob ${n}\n`);
  return Buffer.concat([head, FILLER.subarray(0, 200 - head.length + (n % 1024))]);
}

const sha256 = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * Fills `dataDir` (the standalone server's data directory: blobs under blobs/, SQLite or the given store)
 * with a registry of about `blobCount` blobs and `blobCount / 5` manifests.
 * @param {import('@berth/core').MetadataStore} metadata  an open store; left open
 * @param {{ dataDir: string, blobCount: number, concurrency?: number, log?: (message: string) => void }} options
 * @returns what is stored and what a collection (grace 0, deleteUntagged) must remove
 */
export async function generateGcRegistry(metadata, { dataDir, blobCount, concurrency = 1, log = () => undefined }) {
  const repositories = Math.max(1, Math.round(blobCount / BLOBS_PER_REPOSITORY));
  const baseCount = repositories * BASE_LAYERS_PER_REPOSITORY;
  const blobsDir = join(dataDir, 'blobs', 'blobs', 'sha256');
  for (let prefix = 0; prefix < 256; prefix++) await mkdir(join(blobsDir, prefix.toString(16).padStart(2, '0')), { recursive: true });

  let nextBlob = 0;
  const totals = { blobs: 0, bytes: 0, links: 0, manifests: 0 };
  const kept = { blobs: 0, bytes: 0, links: 0, manifests: 0 };
  /** File writes in flight: awaited once per repository, so the disk works while the store does. */
  let writes = [];
  /** Starts writing a new blob's file and returns its descriptor. */
  const newBlob = async (mediaType = OCI_LAYER) => {
    const bytes = blobBytes(nextBlob++);
    const digest = sha256(bytes);
    const hex = digest.slice('sha256:'.length);
    writes.push(writeFile(join(blobsDir, hex.slice(0, 2), hex), bytes));
    totals.blobs++;
    totals.bytes += bytes.length;
    return { mediaType, digest, size: bytes.length };
  };
  const base = [];
  for (let index = 0; index < baseCount; index++) base.push(await newBlob());
  await Promise.all(writes);
  writes = [];
  /** Base layers a kept manifest names, and [repository, base index] pairs of kept links. */
  const keptBase = new Set();
  const keptBaseLinks = new Set();

  /** [repository, base index] pairs linked: linking one again is no new row. */
  const baseLinks = new Set();
  const link = async (repository, blob) => {
    await metadata.linkBlob(repository, blob.digest, blob.size);
    totals.links++;
  };
  const put = async (repository, body, mediaType, { tag, blobs = [], children = [], subject, artifactType } = {}) => {
    const content = Buffer.from(JSON.stringify(body));
    const digest = sha256(content);
    await metadata.putManifest({
      manifest: {
        repository,
        digest,
        mediaType,
        size: content.length,
        content,
        ...(subject && { subject: subject.digest }),
        ...(artifactType && { artifactType }),
      },
      blobReferences: blobs.map((blob) => blob.digest),
      manifestReferences: children.map((child) => child.digest),
      ...(tag !== undefined && { tag }),
      requireReferences: true,
    });
    totals.manifests++;
    return { mediaType, digest, size: content.length };
  };
  /**
   * Pushes an image as a client would (links first, then the manifest) and counts what of it survives a
   * collection: everything when `survives`, else only base layers another kept manifest names.
   */
  const image = async (repository, r, number, { tag, survives, subject } = {}) => {
    const own = [await newBlob(OCI_CONFIG), await newBlob(), await newBlob(), await newBlob()];
    const shared = [(r * BASE_LAYERS_PER_REPOSITORY + number) % baseCount, (r * 3 + number * 7 + 1) % baseCount];
    for (const blob of own) await link(repository, blob);
    for (const index of shared) {
      await metadata.linkBlob(repository, base[index].digest, base[index].size);
      baseLinks.add(`${r}:${index}`);
    }
    const body = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      ...(subject && { artifactType: COSIGN }),
      config: own[0],
      layers: subject ? own.slice(1, 2) : [base[shared[0]], base[shared[1]], ...own.slice(1)],
      ...(subject && { subject }),
      annotations: { 'org.example.image': `${repository} ${number}` },
    };
    const named = subject ? own.slice(0, 2) : [...own, base[shared[0]], base[shared[1]]];
    const manifest = await put(repository, body, OCI_MANIFEST, { tag, blobs: named, subject, ...(subject && { artifactType: COSIGN }) });
    if (survives) {
      kept.manifests++;
      for (const blob of own.slice(0, subject ? 2 : 4)) {
        kept.blobs++;
        kept.bytes += blob.size;
        kept.links++;
      }
      if (!subject) {
        for (const index of shared) {
          keptBase.add(index);
          keptBaseLinks.add(`${r}:${index}`);
        }
      }
    }
    return manifest;
  };

  const fillRepository = async (r) => {
    const repository = `bench/repo-${String(r).padStart(4, '0')}`;
    let number = 0;
    for (let i = 0; i < 10; i++) {
      const children = [await image(repository, r, number++, { survives: true }), await image(repository, r, number++, { survives: true })];
      const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: children.map((child, k) => ({ ...child, platform: { os: 'linux', architecture: k === 0 ? 'amd64' : 'arm64' } })) };
      await put(repository, index, OCI_INDEX, { tag: `multi-${i}`, children });
      kept.manifests++;
    }
    const tagged = [];
    for (let i = 0; i < 55; i++) tagged.push(await image(repository, r, number++, { tag: `v${i}`, survives: true }));
    for (let i = 0; i < 5; i++) await image(repository, r, number++, { survives: true, subject: tagged[i * 11] });
    for (let i = 0; i < 10; i++) await image(repository, r, number++, { survives: false });
    for (let i = 0; i < 5; i++) {
      const deleted = await image(repository, r, number++, { tag: `gone-${i}`, survives: false });
      await metadata.deleteManifest(repository, deleted.digest);
      totals.manifests--;
    }
    for (let i = 0; i < 75; i++) await link(repository, await newBlob());
    // Files only: no row, no link.
    for (let i = 0; i < 50; i++) await newBlob();
    const written = writes;
    writes = [];
    await Promise.all(written);
  };

  let nextRepository = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (nextRepository < repositories) {
        await fillRepository(nextRepository++);
        if (++done % 20 === 0) log(`generated ${done}/${repositories} repositories, ${totals.blobs} blobs, ${totals.manifests} manifests`);
      }
    }),
  );
  for (const index of keptBase) {
    kept.blobs++;
    kept.bytes += base[index].size;
  }
  kept.links += keptBaseLinks.size;
  totals.links += baseLinks.size;
  return {
    repositories,
    ...totals,
    expected: {
      manifestsDeleted: totals.manifests - kept.manifests,
      linksDeleted: totals.links - kept.links,
      blobsDeleted: totals.blobs - kept.blobs,
      bytesFreed: totals.bytes - kept.bytes,
    },
  };
}
