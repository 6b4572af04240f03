// Retention rules applied by the collector (registry.service.gc.run({ retention })) on real stores,
// through the Koa registry over HTTP: tags pushed at different times, signatures on them (an OCI referrer
// and a cosign-style `sha256-<hex>.sig` tag). After a run exactly the expected tags, manifests and blobs
// are gone, the tag deletes were events like a DELETE's, and everything else pulls completely.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { RegistryEvent, RetentionRule } from '@berth/core';
import type { RetentionRemoval } from '@berth/registry';
import { OCI_INDEX, OCI_MANIFEST, sha256 } from './support/content.js';
import { ACCEPT_ALL, indexOf, pullAll, pushImage, sorted, storedDigests, type Pushed } from './support/gc-images.js';
import { metadataFactories, openRegistry, type RegistryUnderTest } from './support/registry-under-test.js';

const RULES: RetentionRule[] = [
  // prod is exempt: the catch-all below would otherwise keep one tag there.
  { repositories: ['prod/**'] },
  { repositories: ['ci/**'], keepNewest: 2, keepTags: ['release-*'] },
  { repositories: ['**'], keepNewest: 1 },
];

const byKey = (removals: readonly RetentionRemoval[]) =>
  [...removals].sort((a, b) => `${a.repository} ${a.tag}`.localeCompare(`${b.repository} ${b.tag}`));

describe.each(['sqlite', 'postgres'])('retention on %s', (storeName) => {
  let t: RegistryUnderTest | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('removes exactly the tags the first matching rule selects, and in the same run what only they reached', async () => {
    t = await openRegistry(metadataFactories[storeName]!);
    const { http } = t;
    const gc = t.registry.service.gc;
    // Push times only need an order: a few milliseconds between tag pushes give each its own.
    const tick = () => sleep(5);
    const shared = randomBytes(40);

    // ci/app, oldest first. build-1 is signed twice: an OCI referrer (subject) and a cosign tag.
    const build1 = await pushImage(http, 'ci/app', 'build-1', [shared, randomBytes(30)]);
    const referrer = await pushImage(http, 'ci/app', 'referrer-tmp', [randomBytes(12)], {
      artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
      subject: { mediaType: OCI_MANIFEST, digest: build1.digest, size: build1.size },
    });
    await http.delete('/v2/ci/app/manifests/referrer-tmp').expect(202);
    const signatureTag = `sha256-${build1.digest.slice('sha256:'.length)}.sig`;
    const signature = await pushImage(http, 'ci/app', signatureTag, [randomBytes(12)]);
    await tick();
    const release1 = await pushImage(http, 'ci/app', 'release-1', [randomBytes(30)]);
    await tick();
    const build2 = await pushImage(http, 'ci/app', 'build-2', [shared, randomBytes(30)]);
    await tick();
    // build-3: an index whose children were pushed by digest (through a tag removed again).
    const child1 = await pushImage(http, 'ci/app', 'child-tmp-1', [randomBytes(20)]);
    const child2 = await pushImage(http, 'ci/app', 'child-tmp-2', [randomBytes(20)]);
    for (const tag of ['child-tmp-1', 'child-tmp-2']) await http.delete(`/v2/ci/app/manifests/${tag}`).expect(202);
    const indexBody = indexOf([child1, child2]);
    await http.put('/v2/ci/app/manifests/build-3').set('Content-Type', OCI_INDEX).send(indexBody).expect(201);
    const index: Pushed = { digest: sha256(indexBody), size: Buffer.byteLength(indexBody), blobs: [] };
    await tick();
    const build4 = await pushImage(http, 'ci/app', 'build-4', [randomBytes(30)]);
    await tick();
    const build5 = await pushImage(http, 'ci/app', 'build-5', [randomBytes(30)]);
    // Untagged by a client, not by retention: stays without deleteUntagged.
    const byDigest = await pushImage(http, 'ci/app', 'by-digest-tmp', [randomBytes(30)]);
    await http.delete('/v2/ci/app/manifests/by-digest-tmp').expect(202);

    // prod/app (exempt) shares a layer with build-1 and has two tags; other (catch-all) has two.
    const prodOld = await pushImage(http, 'prod/app', 'v1', [shared]);
    await tick();
    const prodNew = await pushImage(http, 'prod/app', 'v2', [randomBytes(30)]);
    const otherOld = await pushImage(http, 'other', 'o1', [randomBytes(30)]);
    await tick();
    const otherNew = await pushImage(http, 'other', 'o2', [randomBytes(30)]);

    const removal = (repository: string, tag: string, digest: string, rule: number, reason: RetentionRemoval['reason']) => ({
      repository,
      tag,
      digest,
      rule,
      reason,
    });
    const expectedRemovals = byKey([
      removal('ci/app', 'build-1', build1.digest, 1, 'not-newest'),
      removal('ci/app', 'build-2', build2.digest, 1, 'not-newest'),
      removal('ci/app', 'build-3', index.digest, 1, 'not-newest'),
      removal('ci/app', signatureTag, signature.digest, 1, 'subject-removed'),
      removal('other', 'o1', otherOld.digest, 2, 'not-newest'),
    ]);

    // A dry run reports what each rule would remove and removes nothing.
    const before = await storedDigests(t);
    const dry = await gc.run({ grace: 0, dryRun: true, retention: RULES });
    expect(byKey(dry.retention!.removals)).toEqual(expectedRemovals);
    expect(dry.retention!.tagsRemoved).toBe(expectedRemovals.length);
    expect(await storedDigests(t)).toEqual(before);
    for (const tag of ['build-1', 'build-2', 'build-3', signatureTag]) await http.head(`/v2/ci/app/manifests/${tag}`).set('Accept', ACCEPT_ALL).expect(200);

    const deleteEvents: RegistryEvent[] = [];
    t.registry.service.events.hub.on('delete', (event) => void deleteEvents.push(event));
    const summary = await gc.run({ grace: 0, retention: RULES });
    expect(byKey(summary.retention!.removals)).toEqual(expectedRemovals);
    // A DELETE of each tag, as events.
    expect(deleteEvents.map((event) => `${event.target.repository}:${event.target.tag}`).sort()).toEqual(
      expectedRemovals.map((entry) => `${entry.repository}:${entry.tag}`).sort(),
    );
    // build-1 with both signatures, build-2, the index with its children, o1: gone without deleteUntagged.
    const goneManifests = [build1, referrer, signature, build2, index, child1, child2, otherOld];
    expect(summary.manifestsDeleted).toBe(goneManifests.length);
    const kept = [release1, build4, build5, byDigest, prodOld, prodNew, otherNew];
    // Exactly the blobs of what is left: the layer build-1 shared with prod stays, its own go.
    expect(await storedDigests(t)).toEqual(sorted(kept.flatMap((manifest) => manifest.blobs)));
    expect(summary.blobsDeleted).toBe(sorted(goneManifests.flatMap((m) => m.blobs)).filter((digest) => !kept.some((k) => k.blobs.includes(digest))).length);

    for (const tag of ['build-1', 'build-2', 'build-3', signatureTag]) await http.head(`/v2/ci/app/manifests/${tag}`).set('Accept', ACCEPT_ALL).expect(404);
    await http.head('/v2/other/manifests/o1').set('Accept', ACCEPT_ALL).expect(404);
    for (const manifest of goneManifests) {
      const repository = manifest === otherOld ? 'other' : 'ci/app';
      await http.get(`/v2/${repository}/manifests/${manifest.digest}`).set('Accept', ACCEPT_ALL).expect(404);
    }
    for (const tag of ['release-1', 'build-4', 'build-5']) await pullAll(http, 'ci/app', tag);
    await pullAll(http, 'ci/app', byDigest.digest);
    for (const tag of ['v1', 'v2']) await pullAll(http, 'prod/app', tag);
    await pullAll(http, 'other', 'o2');

    // The next run finds nothing more to remove.
    const again = await gc.run({ grace: 0, retention: RULES });
    expect(again.retention).toEqual({ tagsRemoved: 0, removals: [] });
    expect(again).toMatchObject({ manifestsDeleted: 0, linksDeleted: 0, blobsDeleted: 0 });
  }, 60_000);

  it('leaves tags pushed within the grace period, and a manifest another tag still reaches', async () => {
    t = await openRegistry(metadataFactories[storeName]!);
    const { http } = t;
    const old = await pushImage(http, 'app', 'old', [randomBytes(30)]);
    await http.put('/v2/app/manifests/old-alias').set('Content-Type', OCI_MANIFEST).send(await manifestBody(t, 'app', old.digest)).expect(201);
    await sleep(5);
    await pushImage(http, 'app', 'new', [randomBytes(30)]);
    const rules: RetentionRule[] = [{ repositories: ['app'], keepNewest: 1, keepTags: ['old-alias'] }];

    // Within an hour's grace every tag is young: nothing goes.
    const graced = await t.registry.service.gc.run({ grace: 3_600_000, retention: rules });
    expect(graced.retention).toEqual({ tagsRemoved: 0, removals: [] });

    // Without grace `old` goes, but its manifest stays: the kept `old-alias` reaches it.
    const summary = await t.registry.service.gc.run({ grace: 0, retention: rules });
    expect(summary.retention!.removals.map((entry) => entry.tag)).toEqual(['old']);
    expect(summary.manifestsDeleted).toBe(0);
    expect(summary.blobsDeleted).toBe(0);
    await pullAll(http, 'app', 'old-alias');
    await http.head('/v2/app/manifests/old').set('Accept', ACCEPT_ALL).expect(404);
  }, 30_000);
});

/** The exact bytes of a stored manifest (to tag it again with a PUT). */
async function manifestBody(t: RegistryUnderTest, repository: string, digest: string): Promise<string> {
  const stored = await t.metadata.getManifest(repository, digest);
  return Buffer.from(stored!.content).toString();
}
