// The collector against the built standalone server and real clients: after `berth gc` (run beside the
// server, as an operator runs it) every tag left pulls completely with `skopeo copy --all`; and two
// instances on one PostgreSQL database and one blob directory, each collecting in a loop (--gc-interval),
// lose no push that succeeded while 20 clients push images sharing layers through both.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../../packages/storage-postgres/src/testing.js';
import { readOciLayout } from '../support/image-readback.js';
import { generateImage, MediaType, sha256Digest, type Blob, type GeneratedImage } from '../support/oci-image.js';
import { ACCEPT_ALL_MANIFESTS } from '../support/registry-http.js';
import { generateSchema2Image, pushBlob, pushSchema2Image, putManifest } from '../support/schema2-images.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { BERTH_CLI, REPO_ROOT, startBerth, type RunningBerth } from '../support/servers.js';
import { createSkopeo, dockerRef, type Skopeo } from '../support/skopeo.js';

const SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

interface Pushed {
  digest: string;
  size: number;
  bytes: Buffer;
}

/** An OCI image manifest over the config and layers, with extra fields (subject, artifactType). */
function imageManifest(config: Blob, layers: readonly Blob[], extra: Record<string, unknown> = {}): Buffer {
  const descriptor = (blob: Blob) => ({ mediaType: blob.mediaType, digest: blob.digest, size: blob.size });
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: descriptor(config), layers: layers.map(descriptor), ...extra }));
}

/** Uploads the blobs, then PUTs the manifest by tag or digest; throws unless the registry took it (201). */
async function push(url: string, repository: string, reference: string | undefined, blobs: readonly Blob[], manifest: Buffer, mediaType: string): Promise<Pushed> {
  for (const blob of blobs) await pushBlob(url, repository, blob.bytes);
  const digest = sha256Digest(manifest);
  const answer = await putManifest(url, repository, reference ?? digest, manifest, mediaType);
  if (answer.status !== 201) throw Object.assign(new Error(`PUT ${repository}:${reference ?? digest}: HTTP ${answer.status} ${answer.body}`), { answer });
  return { digest, size: manifest.length, bytes: manifest };
}

function pushImage(url: string, repository: string, reference: string | undefined, image: GeneratedImage, extra: Record<string, unknown> = {}): Promise<Pushed> {
  return push(url, repository, reference, [image.config, ...image.layers], imageManifest(image.config, image.layers, extra), MediaType.ociManifest);
}

async function ok(response: Response, what: string): Promise<Response> {
  if (!response.ok) throw new Error(`${what}: HTTP ${response.status} ${await response.text()}`);
  return response;
}

/** Every repository and its tags, through the catalog and tags/list. */
async function allTags(url: string): Promise<Map<string, string[]>> {
  const catalog = (await (await ok(await fetch(`${url}/v2/_catalog`), 'catalog')).json()) as { repositories: string[] };
  const tags = new Map<string, string[]>();
  for (const repository of catalog.repositories) {
    const listed = (await (await ok(await fetch(`${url}/v2/${repository}/tags/list`), `tags of ${repository}`)).json()) as { tags: string[] | null };
    if ((listed.tags ?? []).length > 0) tags.set(repository, [...(listed.tags ?? [])].sort());
  }
  return tags;
}

/**
 * Checks an OCI layout skopeo wrote: every file hashes to its name, and every manifest in it (the tagged
 * one, recursively its children) finds each blob and child it names in the layout.
 */
async function expectCompleteLayout(dir: string, tag: string): Promise<number> {
  const { manifest, blobs } = await readOciLayout(dir, tag);
  for (const [digest, bytes] of blobs) expect(sha256Digest(bytes), `${dir}: file ${digest}`).toBe(digest);
  let count = 0;
  const walk = (bytes: Buffer) => {
    count++;
    const parsed = JSON.parse(bytes.toString()) as { manifests?: Array<{ digest: string }>; config?: { digest: string }; layers?: Array<{ digest: string }> };
    for (const child of parsed.manifests ?? []) {
      const childBytes = blobs.get(child.digest);
      expect(childBytes, `${dir}: child manifest ${child.digest}`).toBeDefined();
      walk(childBytes!);
    }
    for (const blob of [parsed.config, ...(parsed.layers ?? [])]) {
      if (blob) expect(blobs.has(blob.digest), `${dir}: blob ${blob.digest}`).toBe(true);
    }
  };
  walk(manifest);
  return count;
}

async function runGc(args: readonly string[]): Promise<{ manifestsDeleted: number; linksDeleted: number; blobsDeleted: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, [BERTH_CLI, 'gc', ...args, '--json'], { cwd: REPO_ROOT, timeout: 60_000 });
  return JSON.parse(stdout) as { manifestsDeleted: number; linksDeleted: number; blobsDeleted: number };
}

async function storedBlobs(dataDir: string): Promise<string[]> {
  const root = join(dataDir, 'blobs', 'blobs', 'sha256');
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => `sha256:${entry.name}`);
}

describe('berth gc beside a running server, then skopeo copy --all of every tag left', () => {
  let scratch: Scratch;
  let server: RunningBerth;
  let skopeo: Skopeo;
  let dataDir: string;
  beforeAll(async () => {
    scratch = await createScratch('berth-gc-interop-');
    dataDir = scratch.child('data');
    server = await startBerth({ dataDir, args: ['--log-level', 'warn'] });
    skopeo = await createSkopeo();
  });
  afterAll(async () => {
    await server?.stop();
    await skopeo?.dispose();
    await scratch?.dispose();
  });

  it('leaves every remaining tag (indexes, referrers, conversions, shared and mounted blobs) complete', async () => {
    const { url } = server;
    // app: an image sharing its layers with other/b; a multi-arch index whose children are reachable only through it.
    const shared = generateImage({ layers: 2, seed: 11 });
    await pushImage(url, 'app', 'a', shared);
    const children = [generateImage({ layers: 1, seed: 12 }), generateImage({ layers: 1, seed: 13, platform: { os: 'linux', architecture: 'arm64' } })];
    const pushedChildren = [];
    for (const child of children) pushedChildren.push(await pushImage(url, 'app', undefined, child));
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: pushedChildren.map((child, k) => ({ mediaType: MediaType.ociManifest, digest: child.digest, size: child.size, platform: children[k]!.platform })),
      }),
    );
    const pushedIndex = await push(url, 'app', 'multi', [], index, MediaType.ociIndex);
    // A cosign-style signature on a child and an SBOM on the index, untagged: kept by their subjects.
    const artifact = (seed: number) => generateImage({ layers: 1, seed });
    const signature = await pushImage(url, 'app', undefined, artifact(14), {
      artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
      subject: { mediaType: MediaType.ociManifest, digest: pushedChildren[0]!.digest, size: pushedChildren[0]!.size },
    });
    const sbom = await pushImage(url, 'app', undefined, artifact(15), {
      artifactType: 'application/spdx+json',
      subject: { mediaType: MediaType.ociIndex, digest: pushedIndex.digest, size: pushedIndex.size },
    });
    // A schema2 image pulled once as schema1, so a conversion is remembered (naming the empty-layer blob).
    await pushSchema2Image(url, generateSchema2Image(3, { repository: 'app', tag: 's2' }));
    await ok(await fetch(`${url}/v2/app/manifests/s2`, { headers: { Accept: SCHEMA1 } }), 'schema1 pull');
    // Garbage: a deleted tag's image, an image pushed by digest only, a blob nothing names.
    const detagged = await pushImage(url, 'app', 'old', generateImage({ layers: 1, seed: 16 }));
    await ok(await fetch(`${url}/v2/app/manifests/old`, { method: 'DELETE' }), 'tag delete');
    const untagged = await pushImage(url, 'app', undefined, generateImage({ layers: 1, seed: 17 }));
    const orphan = await pushBlob(url, 'app', randomBytes(100));
    // other: the shared layers again, and a mount of app's config that other never names.
    await pushImage(url, 'other', 'b', { ...generateImage({ layers: 1, seed: 18 }), layers: shared.layers });
    await ok(await fetch(`${url}/v2/other/blobs/uploads/?mount=${shared.config.digest}&from=app`, { method: 'POST' }), 'mount');
    // gone: a repository whose only manifest was deleted.
    const gone = await pushImage(url, 'gone', 'g', generateImage({ layers: 1, seed: 19 }));
    await ok(await fetch(`${url}/v2/gone/manifests/${gone.digest}`, { method: 'DELETE' }), 'manifest delete');

    const before = await storedBlobs(dataDir);
    const summary = await runGc(['--data', dataDir, '--grace', '0', '--delete-untagged']);
    // The two untagged images (the deleted tag's and the one pushed by digest) went, and their blobs, the orphan and gone's.
    expect(summary.manifestsDeleted).toBe(2);
    const after = await storedBlobs(dataDir);
    expect(before.length - after.length).toBe(summary.blobsDeleted);
    expect(after).not.toContain(orphan);
    for (const manifest of [detagged, untagged]) {
      expect((await fetch(`${url}/v2/app/manifests/${manifest.digest}`, { headers: { Accept: ACCEPT_ALL_MANIFESTS } })).status).toBe(404);
    }

    const tags = await allTags(url);
    expect(Object.fromEntries(tags)).toEqual({ app: ['a', 'multi', 's2'], other: ['b'] });
    let copied = 0;
    for (const [repository, names] of tags) {
      for (const tag of names) {
        const layout = scratch.child(`${repository}-${tag}`);
        const result = await skopeo.copy(dockerRef(server.host, repository, tag), `oci:${layout}:${tag}`, { all: true });
        expect(await expectCompleteLayout(layout, tag)).toBeGreaterThan(0);
        // An OCI manifest is copied as it is served; a Docker one skopeo rewrites for the OCI layout.
        const served = await fetch(`${url}/v2/${repository}/manifests/${tag}`, { headers: { Accept: ACCEPT_ALL_MANIFESTS } });
        if (served.headers.get('content-type')?.startsWith('application/vnd.oci.')) expect(result.digest).toBe(served.headers.get('docker-content-digest'));
        copied++;
      }
    }
    expect(copied).toBe(4);
    // The referrers stay pullable by digest, and the index still lists its SBOM.
    for (const referrer of [signature, sbom]) {
      const layout = scratch.child('referrer');
      await skopeo.copy(dockerRef(server.host, 'app', referrer.digest), `oci:${layout}:r`, { all: true });
      expect(await expectCompleteLayout(layout, 'r')).toBe(1);
    }
    const referrers = (await (await ok(await fetch(`${url}/v2/app/referrers/${pushedIndex.digest}`), 'referrers')).json()) as { manifests: Array<{ digest: string }> };
    expect(referrers.manifests.map((m) => m.digest)).toEqual([sbom.digest]);
  });
});

describe('two instances on PostgreSQL sharing a blob directory, collecting in a loop while 20 clients push', () => {
  let database: ScratchDatabase;
  let scratch: Scratch;
  let instances: RunningBerth[] = [];
  beforeAll(async () => {
    database = await createScratchDatabase();
    scratch = await createScratch('berth-gc-race-');
    const dataDir = scratch.child('shared-data');
    const start = () =>
      startBerth({
        dataDir,
        args: ['--database', database.url, '--log-level', 'warn', '--gc-interval', '50ms', '--gc-grace', '0', '--gc-delete-untagged'],
      });
    instances = await Promise.all([start(), start()]);
  });
  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
    await database?.drop();
    await scratch?.dispose();
  });

  /** A counter of an instance's /metrics (0 before the first collection). */
  async function counter(instance: RunningBerth, name: string): Promise<number> {
    const text = await (await ok(await fetch(`${instance.url}/metrics`), 'metrics')).text();
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return match ? Number(match[1]) : 0;
  }

  /** Pulls a manifest and every blob it names through `instance`, checking each against its digest. */
  async function pullComplete(instance: RunningBerth, repository: string, tag: string, expected: Pushed): Promise<void> {
    const manifest = await ok(await fetch(`${instance.url}/v2/${repository}/manifests/${tag}`, { headers: { Accept: MediaType.ociManifest } }), `${repository}:${tag}`);
    const bytes = Buffer.from(await manifest.arrayBuffer());
    expect(bytes.equals(expected.bytes), `${repository}:${tag}`).toBe(true);
    const parsed = JSON.parse(bytes.toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
    for (const blob of [parsed.config, ...parsed.layers]) {
      const response = await ok(await fetch(`${instance.url}/v2/${repository}/blobs/${blob.digest}`), `${repository} ${blob.digest}`);
      expect(`sha256:${createHash('sha256').update(Buffer.from(await response.arrayBuffer())).digest('hex')}`).toBe(blob.digest);
    }
  }

  it('keeps every push that succeeded complete, and the collectors really collected meanwhile', async () => {
    const base = [generateImage({ layers: 3, seed: 900 })].flatMap((image) => image.layers);
    const clients = 20;
    const pushesPerClient = 4;
    const succeeded: Array<{ repository: string; tag: string; pushed: Pushed }> = [];
    let retried = 0;
    await Promise.all(
      Array.from({ length: clients }, async (_, client) => {
        const repository = `race/r${client % 5}`;
        let previous: string | undefined;
        for (let round = 0; round < pushesPerClient; round++) {
          const instance = instances[(client + round) % 2]!;
          const tag = `c${client}-${round}`;
          const own = generateImage({ layers: 1, seed: 1000 + client * 10 + round });
          const layers = [base[(client + round) % base.length]!, base[(client + round + 1) % base.length]!, ...own.layers];
          // A manifest naming a blob collected between its upload and the PUT fails with MANIFEST_BLOB_UNKNOWN; a client pushes again.
          for (let attempt = 1; ; attempt++) {
            try {
              const pushed = await push(instance.url, repository, tag, [own.config, ...layers], imageManifest(own.config, layers), MediaType.ociManifest);
              succeeded.push({ repository, tag, pushed });
              break;
            } catch (error) {
              const body = (error as { answer?: { status: number; body: string } }).answer;
              if (attempt >= 5 || body?.status !== 400 || !body.body.includes('MANIFEST_BLOB_UNKNOWN')) throw error;
              retried++;
            }
          }
          // Garbage for the collectors: every other client deletes its previous image, and each push leaves a blob nothing names.
          if (previous !== undefined && client % 2 === 0) {
            await ok(await fetch(`${instance.url}/v2/${repository}/manifests/${previous}`, { method: 'DELETE' }), 'delete');
            succeeded.splice(succeeded.findIndex((entry) => entry.repository === repository && entry.tag === previous), 1);
          }
          await pushBlob(instance.url, `race/scratch-${client}`, randomBytes(64));
          previous = tag;
        }
      }),
    );

    // Every push that succeeded (and was not deleted since) pulls completely, through either instance.
    for (const { repository, tag, pushed } of succeeded) {
      for (const instance of instances) await pullComplete(instance, repository, tag, pushed);
    }
    const runs = await Promise.all(instances.map((instance) => counter(instance, 'berth_gc_runs_total')));
    const blobs = await Promise.all(instances.map((instance) => counter(instance, 'berth_gc_deleted_blobs_total')));
    console.log(
      `[gc race, two instances on PostgreSQL] ${runs[0]} + ${runs[1]} collections removed ${blobs[0]} + ${blobs[1]} blobs during ` +
        `${clients * pushesPerClient} pushes (${retried} pushes retried after MANIFEST_BLOB_UNKNOWN); ${succeeded.length} images checked`,
    );
    expect(runs[0]! + runs[1]!).toBeGreaterThan(0);
    expect(blobs[0]! + blobs[1]!).toBeGreaterThan(0);
    expect(succeeded.length).toBe(clients * pushesPerClient - (clients / 2) * (pushesPerClient - 1));
  });
});
