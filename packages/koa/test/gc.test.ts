// The online garbage collector (registry.service.gc) on real stores (SQLite or PostgreSQL, and the
// filesystem), driven through the Koa registry over HTTP: after a run exactly the unreachable set is
// gone (asserted on the blob store's own listing and over HTTP), and concurrent pushes racing a
// collector in a loop all pull completely afterwards.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryError, isRegistryError } from '@berth/core';
import { EMPTY_LAYER_DIGEST } from '@berth/core/internal';
import { isCollectorBusy } from '@berth/registry';
import { openPostgresMetadataStore } from '@berth/storage-postgres';
import { createScratchDatabase, type ScratchDatabase } from '@berth/storage-postgres/testing';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, pushBlob, sha256 } from './support/content.js';
import { createRegistry } from '../src/index.js';
import { metadataFactories, openRegistry, type RegistryUnderTest } from './support/registry-under-test.js';
import { ACCEPT_ALL, PushRefused, indexOf, pullAll, pullBlob, pushImage, sorted, storedDigests, type Pushed } from './support/gc-images.js';

type Http = ReturnType<typeof request>;

const SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

/** A schema2 image whose config converts to schema1 (one layer, one history entry). */
async function pushSchema2(http: Http, repository: string, tag: string): Promise<Pushed> {
  const layerBytes = randomBytes(40);
  const layer = await pushBlob(http, repository, layerBytes);
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [sha256(randomBytes(8))] },
    history: [
      { created: '2024-01-02T03:04:05Z', created_by: '/bin/sh -c #(nop) ADD file in /' },
      { created: '2024-01-02T03:04:06Z', created_by: '/bin/sh -c #(nop) CMD ["sh"]', empty_layer: true },
    ],
  });
  const configDigest = await pushBlob(http, repository, Buffer.from(config));
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: layer, size: layerBytes.length }],
  });
  await http.put(`/v2/${repository}/manifests/${tag}`).set('Content-Type', DOCKER_MANIFEST).send(body).expect(201);
  return { digest: sha256(body), size: Buffer.byteLength(body), blobs: [configDigest, layer] };
}

describe.each(['sqlite', 'postgres'])('garbage collection on %s', (storeName) => {
  let t: RegistryUnderTest | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('removes exactly the unreachable manifests, links and blobs, and every remaining tag pulls completely', async () => {
    t = await openRegistry(metadataFactories[storeName]!);
    const { http } = t;
    const gc = t.registry.service.gc;
    const shared = randomBytes(50);

    // app: an image sharing a layer with another repository, and a multi-arch index whose children share a layer.
    const image = await pushImage(http, 'app', 'a', [shared, randomBytes(30)]);
    const childLayer = randomBytes(20);
    const child1 = await pushImage(http, 'app', 'child-1', [childLayer, randomBytes(10)]);
    const child2 = await pushImage(http, 'app', 'child-2', [childLayer, randomBytes(10)]);
    const indexBody = indexOf([child1, child2]);
    await http.put('/v2/app/manifests/multi').set('Content-Type', OCI_INDEX).send(indexBody).expect(201);
    const index = sha256(indexBody);
    // The children are reachable through the index only.
    await http.delete('/v2/app/manifests/child-1').expect(202);
    await http.delete('/v2/app/manifests/child-2').expect(202);
    // A cosign-style signature on a child and an SBOM on the index: untagged, kept by their subjects.
    const signature = await pushImage(http, 'app', 'signature-tmp', [randomBytes(12)], {
      artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
      subject: { mediaType: OCI_MANIFEST, digest: child1.digest, size: child1.size },
    });
    await http.delete('/v2/app/manifests/signature-tmp').expect(202);
    const sbom = await pushImage(http, 'app', 'sbom-tmp', [randomBytes(12)], {
      artifactType: 'application/spdx+json',
      subject: { mediaType: OCI_INDEX, digest: index, size: indexBody.length },
    });
    await http.delete('/v2/app/manifests/sbom-tmp').expect(202);
    // A converted manifest: a schema2 image pulled as schema1 (its conversion names the empty-layer blob).
    const convertible = await pushSchema2(http, 'app', 's2');
    const schema1 = await http.get('/v2/app/manifests/s2').set('Accept', SCHEMA1).expect(200);
    const converted = schema1.headers['docker-content-digest'] as string;
    // Untagged: a deleted tag (with a referrer of its own), a push by digest only, a moved tag's old target.
    const detagged = await pushImage(http, 'app', 'old', [randomBytes(25)]);
    const detaggedReferrer = await pushImage(http, 'app', 'old-sig', [randomBytes(12)], {
      subject: { mediaType: OCI_MANIFEST, digest: detagged.digest, size: detagged.size },
    });
    await http.delete('/v2/app/manifests/old').expect(202);
    await http.delete('/v2/app/manifests/old-sig').expect(202);
    const moved = await pushImage(http, 'app', 'moving', [randomBytes(25)]);
    const movedTo = await pushImage(http, 'app', 'moving', [randomBytes(25)]);
    // A blob uploaded and never named.
    const orphan = await pushBlob(http, 'app', randomBytes(33));

    // other: the shared layer pushed again (same bytes), and a mount of app's config it never names.
    const other = await pushImage(http, 'other', 'b', [shared]);
    await http.post(`/v2/other/blobs/uploads/?mount=${image.blobs[0]}&from=app`).expect(201);
    // gone: an image whose manifest was deleted; its links stay until collected.
    const gone = await pushImage(http, 'gone', 'g', [randomBytes(44)]);
    await http.delete(`/v2/gone/manifests/${gone.digest}`).expect(202);

    const tagged = [image, child1, child2, convertible, movedTo, other];
    const untagged = [detagged, detaggedReferrer, moved];
    const referrers = [signature, sbom];

    // A dry run reports and removes nothing.
    const before = await storedDigests(t);
    const dry = await gc.run({ grace: 0, dryRun: true });
    expect(dry.dryRun).toBe(true);
    // It counts what it would remove now; blobs that removing those links would free are the real run's to count.
    expect(dry).toMatchObject({ manifestsDeleted: 0, linksDeleted: 4, blobsDeleted: 0 });
    expect(await storedDigests(t)).toEqual(before);

    const goneBytes = [orphan, ...gone.blobs].map((digest) => t!.blobs.stat(digest).then((blob) => blob!.size));
    const expectedFreed = (await Promise.all(goneBytes)).reduce((sum, size) => sum + size, 0);
    // Without deleteUntagged every manifest stays: what goes is the orphan, gone's blobs, and links nothing names.
    const first = await gc.run({ grace: 0 });
    expect(first.manifestsDeleted).toBe(0);
    expect(first.linksDeleted).toBe(4); // app's orphan, other's mount, gone's config and layer
    const allManifests = [...tagged, ...untagged, ...referrers];
    expect(await storedDigests(t)).toEqual(sorted([...allManifests.flatMap((m) => m.blobs), EMPTY_LAYER_DIGEST]));
    expect(first.blobsDeleted).toBe(3);
    expect(first).toMatchObject({ dryRun: false, bytesFreed: expectedFreed });
    await http.head(`/v2/app/blobs/${orphan}`).expect(404);
    await http.head(`/v2/other/blobs/${image.blobs[0]}`).expect(404);
    await http.head(`/v2/app/blobs/${image.blobs[0]}`).expect(200);
    await http.get(`/v2/app/manifests/${detagged.digest}`).set('Accept', ACCEPT_ALL).expect(200);

    // With deleteUntagged the untagged manifests (and the referrer of one) go, then what only they named.
    const second = await gc.run({ grace: 0, deleteUntagged: true });
    expect(second.manifestsDeleted).toBe(untagged.length);
    // The tagged manifests (the children through the index), the index and the two referrers.
    expect(second.reachableManifests).toBe(tagged.length + 1 + referrers.length);
    const kept = [...tagged, ...referrers];
    expect(await storedDigests(t)).toEqual(sorted([...kept.flatMap((m) => m.blobs), EMPTY_LAYER_DIGEST]));
    for (const manifest of untagged) {
      await http.get(`/v2/app/manifests/${manifest.digest}`).set('Accept', ACCEPT_ALL).expect(404);
      for (const blob of manifest.blobs) await http.head(`/v2/app/blobs/${blob}`).expect(404);
    }

    // Everything reachable pulls completely: tags (the index with its children), referrers, the conversion.
    for (const tag of ['a', 'multi', 's2', 'moving']) await pullAll(http, 'app', tag);
    await pullAll(http, 'other', 'b');
    for (const referrer of referrers) await pullAll(http, 'app', referrer.digest);
    const listed = await http.get(`/v2/app/referrers/${child1.digest}`).expect(200);
    expect((listed.body as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest)).toEqual([signature.digest]);
    await http.get(`/v2/app/manifests/${converted}`).expect(200);
    await pullBlob(http, 'app', EMPTY_LAYER_DIGEST);

    // A third run finds nothing more.
    expect(await gc.run({ grace: 0, deleteUntagged: true })).toMatchObject({ manifestsDeleted: 0, linksDeleted: 0, blobsDeleted: 0 });
  });
});

/** An image push as a client makes it, retried from the blobs when the manifest finds one gone (as docker does). */
async function pushWithRetry(http: Http, repository: string, tag: string, layers: readonly Buffer[]): Promise<Pushed & { attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { ...(await pushImage(http, repository, tag, layers)), attempts: attempt };
    } catch (error) {
      // Only a manifest naming a blob the collector removed in between may fail; anything else fails the test.
      if (attempt >= 5 || !(error instanceof PushRefused) || error.status !== 400 || error.code !== 'MANIFEST_BLOB_UNKNOWN') throw error;
    }
  }
}

describe.each(['sqlite', 'postgres'])('garbage collection racing pushes on %s', (storeName) => {
  let t: RegistryUnderTest | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('runs one collector at a time: refused while another holds the lease, taken over once it expired', async () => {
    t = await openRegistry(metadataFactories[storeName]!);
    const orphan = await pushBlob(t.http, 'app', randomBytes(10));
    // Another instance's collector, running.
    expect(await t.metadata.claimCollectorLease('other instance', new Date(Date.now() + 60_000))).toBe(true);
    const refusal = await t.registry.service.gc.run({ grace: 0 }).catch((error: unknown) => error);
    expect(refusal).toMatchObject({ code: 'UNAVAILABLE' });
    // Told apart from a database that is down, which is UNAVAILABLE too.
    expect(isCollectorBusy(refusal)).toBe(true);
    expect(isCollectorBusy(new RegistryError('UNAVAILABLE', 'the metadata store is unavailable'))).toBe(false);
    expect(await t.blobs.stat(orphan)).toBeDefined();
    // Killed (kill -9) without releasing: its lease runs out, and the next collector takes over.
    expect(await t.metadata.claimCollectorLease('other instance', new Date(Date.now() - 1))).toBe(true);
    expect(await t.registry.service.gc.run({ grace: 0 })).toMatchObject({ linksDeleted: 1, blobsDeleted: 1, bytesFreed: 10 });
    expect(await t.blobs.stat(orphan)).toBeUndefined();
    // Reported to the metrics: the refused run is not counted, the finished one is.
    const counter = async (name: string) => (await t!.registry.metrics!.getSingleMetric(name)!.get()).values[0]?.value;
    expect(await counter('berth_gc_runs_total')).toBe(1);
    expect(await counter('berth_gc_deleted_blobs_total')).toBe(1);
    expect(await counter('berth_gc_freed_bytes_total')).toBe(10);
    // And it gave the lease up when done.
    expect(await t.metadata.claimCollectorLease('third', new Date(Date.now() + 60_000))).toBe(true);
  });

  it('keeps every push that succeeded complete while collectors run in a loop on two registries', async () => {
    t = await openRegistry(metadataFactories[storeName]!);
    const { http } = t;
    // A second registry over the same stores: its collector competes for the lease.
    const second = createRegistry({ metadata: t.metadata, blobs: t.blobs });
    const collectors = [t.registry.service.gc, second.service.gc];
    const base = Array.from({ length: 4 }, () => randomBytes(64));
    const clients = 20;
    const pushesPerClient = 4;

    let pushing = true;
    const collected = { runs: 0, busy: 0, manifests: 0, links: 0, blobs: 0 };
    // One loop per registry, at once: they compete for the lease, and whoever holds it collects.
    const collecting = Promise.all(
      collectors.map(async (gc) => {
        while (pushing) {
          try {
            const summary = await gc.run({ grace: 0, deleteUntagged: true, batchSize: 7 });
            collected.runs++;
            collected.manifests += summary.manifestsDeleted;
            collected.links += summary.linksDeleted;
            collected.blobs += summary.blobsDeleted;
          } catch (error) {
            // The other registry's collector holds the lease: one at a time.
            if (!/another garbage collection is running/.test(String(error))) throw error;
            collected.busy++;
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    const kept: Array<{ repository: string; tag: string }> = [];
    let retried = 0;
    const pushers = Array.from({ length: clients }, async (_, client) => {
      const repository = `race/c${client % 10}`;
      let previous: string | undefined;
      for (let push = 0; push < pushesPerClient; push++) {
        const tag = `c${client}-${push}`;
        const layers = [base[(client + push) % base.length]!, base[(client + push + 1) % base.length]!, randomBytes(32)];
        const pushed = await pushWithRetry(http, repository, tag, layers);
        retried += pushed.attempts - 1;
        // Garbage for the collector: the previous image loses its tag, and a blob nothing will name.
        if (previous !== undefined && client % 2 === 0) await http.delete(`/v2/${repository}/manifests/${previous}`).expect(202);
        else if (previous !== undefined) kept.push({ repository, tag: previous });
        await pushBlob(http, `race/scratch-${client}`, randomBytes(16));
        previous = tag;
      }
      kept.push({ repository, tag: previous! });
    });
    try {
      await Promise.all(pushers);
    } finally {
      pushing = false;
      await collecting;
    }

    console.log(
      `[gc race ${storeName}] ${collected.runs} collections (${collected.busy} refused while another ran) removed ` +
        `${collected.manifests} manifests, ${collected.links} links and ${collected.blobs} blobs during ` +
        `${clients * pushesPerClient} pushes (${retried} pushes retried after MANIFEST_BLOB_UNKNOWN)`,
    );
    expect(collected.runs).toBeGreaterThan(0);
    for (const { repository, tag } of kept) await pullAll(http, repository, tag);

    // Once quiet, a last collection leaves exactly the kept images' blobs.
    await collectors[0]!.run({ grace: 0, deleteUntagged: true });
    for (const { repository, tag } of kept) await pullAll(http, repository, tag);
    const keptBlobs = new Set<string>();
    for (const { repository, tag } of kept) {
      const manifest = await http.get(`/v2/${repository}/manifests/${tag}`).set('Accept', OCI_MANIFEST).expect(200);
      const parsed = JSON.parse(manifest.text) as { config: { digest: string }; layers: Array<{ digest: string }> };
      for (const blob of [parsed.config, ...parsed.layers]) keptBlobs.add(blob.digest);
    }
    expect(await storedDigests(t)).toEqual(sorted(keptBlobs));
    await second.close();
  }, 120_000);
});

const GC_CHILD = join(import.meta.dirname, 'support', 'gc-child.mjs');

describe.each(['sqlite', 'postgres'])('a collector killed (kill -9) mid-sweep on %s', (storeName) => {
  let t: RegistryUnderTest | undefined;
  let database: ScratchDatabase | undefined;
  afterEach(async () => {
    await t?.close();
    await database?.drop();
    t = undefined;
    database = undefined;
  });

  it('loses nothing reachable, and the next run collects the rest', async () => {
    let location = '';
    t = await openRegistry(async (dir) => {
      if (storeName === 'sqlite') {
        location = join(dir, 'berth.sqlite');
        return openSqliteMetadataStore({ filename: location });
      }
      database = await createScratchDatabase();
      location = database.url;
      return openPostgresMetadataStore({ connection: location });
    });
    const { http } = t;
    const image = await pushImage(http, 'app', 'v1', [randomBytes(20), randomBytes(20)]);
    const orphans: string[] = [];
    for (let index = 0; index < 10; index++) orphans.push(await pushBlob(http, 'junk', randomBytes(16)));

    // The collector process removes two blobs, then stops inside the next batch's transaction (the fourth's
    // bytes gone, its row and the third's not yet, the third's bytes left), and is killed there.
    const child = spawn(process.execPath, [GC_CHILD, storeName, location, join(t.dir, 'blobs'), '3'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    for await (const line of createInterface({ input: child.stdout! })) {
      expect(line, 'the collector stops mid-sweep').toBe('hung');
      break;
    }
    child.kill('SIGKILL');
    await exited;

    const left = await storedDigests(t);
    expect(left).toEqual(expect.arrayContaining(image.blobs));
    expect(orphans.filter((digest) => left.includes(digest))).toHaveLength(orphans.length - 3);
    await pullAll(http, 'app', 'v1');

    // The next collector waits for the dead one's lease to run out, then finishes the work: the rows the
    // killed run left (the third's and fourth's rolled back with their transaction) go, bytes already gone or not.
    let summary;
    for (;;) {
      try {
        summary = await t.registry.service.gc.run({ grace: 0 });
        break;
      } catch (error) {
        if (!isRegistryError(error) || error.code !== 'UNAVAILABLE') throw error;
        await sleep(100);
      }
    }
    expect(summary).toMatchObject({ linksDeleted: 0, blobsDeleted: orphans.length - 2 });
    expect(await storedDigests(t)).toEqual(sorted(image.blobs));
    await pullAll(http, 'app', 'v1');
  }, 60_000);
});
