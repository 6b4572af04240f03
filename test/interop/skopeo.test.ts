// skopeo, a real registry client, pushes generated images to each target registry and pulls
// them back; what comes back must be byte for byte what went in, and the digests the
// registry reports must be the sha256 of the bytes skopeo sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDirImage, readOciLayout } from '../support/image-readback.js';
import { MediaType, sha256Digest, writeImageLayout, writeMultiArchLayout } from '../support/oci-image.js';
import { errorCodes, getManifest } from '../support/registry-http.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import type { RunningRegistry } from '../support/servers.js';
import { createSkopeo, dockerRef, SkopeoError, type Skopeo } from '../support/skopeo.js';
import { selectedTargets } from '../support/targets.js';

describe.each(selectedTargets())('skopeo against $name', (target) => {
  let registry: RunningRegistry;
  let skopeo: Skopeo;
  let scratch: Scratch;

  beforeAll(async () => {
    scratch = await createScratch();
    skopeo = await createSkopeo();
    registry = await target.start();
  });

  afterAll(async () => {
    await registry?.stop();
    await skopeo?.dispose();
    await scratch?.dispose();
  });

  const ref = (repository: string, reference?: string) => dockerRef(registry.host, repository, reference);

  /** Every expected blob is present in `actual` with identical bytes. */
  function expectSameBlobs(expected: ReadonlyMap<string, Buffer>, actual: ReadonlyMap<string, Buffer>, digests: Iterable<string>) {
    for (const digest of digests) {
      const want = expected.get(digest);
      const got = actual.get(digest);
      expect(want, `test setup: ${digest} is not an expected blob`).toBeDefined();
      expect(got, `blob ${digest} did not come back`).toBeDefined();
      expect(sha256Digest(got!)).toBe(digest);
      expect(got!.equals(want!), `blob ${digest} differs`).toBe(true);
    }
  }

  it('pushes an OCI image with --format oci unchanged and pulls it back byte for byte', async () => {
    const layout = await writeImageLayout({ dir: scratch.child('src'), layers: 3, seed: 11, tag: 'v1' });
    const image = layout.images[0]!;
    const repository = 'interop/oci-image';

    const pushed = await skopeo.copy(layout.ref, ref(repository, 'v1'), { format: 'oci' });
    // Source and destination are both OCI, so skopeo sends the manifest bytes as they are.
    expect(pushed.digest).toBe(layout.root.digest);

    const served = await getManifest(registry.url, repository, 'v1');
    expect(served.status).toBe(200);
    expect(served.contentType).toBe(MediaType.ociManifest);
    expect(served.digest).toBe(pushed.digest);
    expect(served.body.equals(layout.root.bytes)).toBe(true);

    expect((await skopeo.inspectRaw(ref(repository, 'v1'))).equals(layout.root.bytes)).toBe(true);
    expect(await skopeo.inspectDigest(ref(repository, pushed.digest))).toBe(pushed.digest);

    const back = scratch.child('back');
    await skopeo.copy(ref(repository, 'v1'), `oci:${back}:v1`);
    const pulled = await readOciLayout(back, 'v1');
    expect(pulled.digest).toBe(pushed.digest);
    expect(pulled.manifest.equals(layout.root.bytes)).toBe(true);
    expectSameBlobs(layout.blobs, pulled.blobs, [image.config.digest, ...image.layers.map((l) => l.digest)]);
  });

  it('converts to Docker schema 2 with --format v2s2 and serves exactly what skopeo pushed', async () => {
    const layout = await writeImageLayout({ dir: scratch.child('src'), layers: 2, seed: 12, tag: 'v1' });
    const image = layout.images[0]!;
    const repository = 'interop/v2s2-image';

    const pushed = await skopeo.copy(layout.ref, ref(repository, 'v1'), { format: 'v2s2' });
    expect(pushed.digest).not.toBe(layout.root.digest); // converted, so new bytes

    const served = await getManifest(registry.url, repository, 'v1');
    expect(served.status).toBe(200);
    expect(served.contentType).toBe(MediaType.dockerManifest);
    expect(served.digest).toBe(pushed.digest);
    expect(sha256Digest(served.body)).toBe(pushed.digest);
    const manifest = JSON.parse(served.body.toString('utf8')) as {
      mediaType: string;
      config: { mediaType: string; digest: string };
      layers: { mediaType: string; digest: string }[];
    };
    expect(manifest.mediaType).toBe(MediaType.dockerManifest);
    expect(manifest.config).toMatchObject({ mediaType: MediaType.dockerConfig, digest: image.config.digest });
    expect(manifest.layers.map((l) => [l.mediaType, l.digest])).toEqual(
      image.layers.map((l) => [MediaType.dockerLayerGzip, l.digest]),
    );

    expect((await skopeo.inspectRaw(ref(repository, 'v1'))).equals(served.body)).toBe(true);

    // dir: keeps the manifest bytes as served (an OCI layout would convert them back).
    const back = scratch.child('back');
    await skopeo.copy(ref(repository, 'v1'), `dir:${back}`);
    const pulled = await readDirImage(back);
    expect(pulled.manifest.equals(served.body)).toBe(true);
    expectSameBlobs(layout.blobs, pulled.blobs, [image.config.digest, ...image.layers.map((l) => l.digest)]);
  });

  it('copies a multi-arch OCI index with --all, every platform included', async () => {
    const layout = await writeMultiArchLayout({ dir: scratch.child('src'), layers: 2, seed: 13, tag: 'multi' });
    const repository = 'interop/multi-arch';

    const pushed = await skopeo.copy(layout.ref, ref(repository, 'multi'), { all: true });
    expect(pushed.digest).toBe(layout.root.digest);

    const served = await getManifest(registry.url, repository, 'multi');
    expect(served.status).toBe(200);
    expect(served.contentType).toBe(MediaType.ociIndex);
    expect(served.digest).toBe(pushed.digest);
    expect(served.body.equals(layout.root.bytes)).toBe(true);
    for (const image of layout.images) {
      const child = await getManifest(registry.url, repository, image.manifest.digest);
      expect(child.status, `${image.platform.architecture} manifest`).toBe(200);
      expect(child.digest).toBe(image.manifest.digest);
      expect(child.body.equals(image.manifest.bytes)).toBe(true);
    }

    const back = scratch.child('back');
    await skopeo.copy(ref(repository, 'multi'), `oci:${back}:multi`, { all: true });
    const pulled = await readOciLayout(back, 'multi');
    expect(pulled.digest).toBe(layout.root.digest);
    expect(pulled.manifest.equals(layout.root.bytes)).toBe(true);
    expectSameBlobs(layout.blobs, pulled.blobs, layout.blobs.keys());
  });

  it('lists every tag pushed to a repository, and only those', async () => {
    const layout = await writeImageLayout({ dir: scratch.child('src'), layers: 1, seed: 14, tag: 'src' });
    const tags = ['v1', 'v1.0.1', 'latest'];
    for (const tag of tags) await skopeo.copy(layout.ref, ref('interop/tags', tag));
    await skopeo.copy(layout.ref, ref('interop/tags-elsewhere', 'not-mine'));

    expect((await skopeo.listTags(ref('interop/tags'))).sort()).toEqual([...tags].sort());
    for (const tag of tags) {
      expect(await skopeo.inspectDigest(ref('interop/tags', tag))).toBe(layout.root.digest);
    }
  });

  it('serves the same image from a second repository after the first one deletes it', async () => {
    // skopeo may try a cross-repository mount here (from its blob info cache); either way the
    // second repository must hold complete, independent content.
    const layout = await writeImageLayout({ dir: scratch.child('src'), layers: 2, seed: 15, tag: 'v1' });
    const image = layout.images[0]!;
    await skopeo.copy(layout.ref, ref('interop/mount-from', 'v1'));
    const pushed = await skopeo.copy(layout.ref, ref('interop/mount-to', 'v1'));
    expect(pushed.digest).toBe(layout.root.digest);
    await skopeo.delete(ref('interop/mount-from', 'v1'));

    const back = scratch.child('back');
    await skopeo.copy(ref('interop/mount-to', 'v1'), `oci:${back}:v1`);
    const pulled = await readOciLayout(back, 'v1');
    expect(pulled.manifest.equals(layout.root.bytes)).toBe(true);
    expectSameBlobs(layout.blobs, pulled.blobs, [image.config.digest, ...image.layers.map((l) => l.digest)]);
  });

  it('deletes a manifest: inspect then fails with manifest unknown, other tags survive', async () => {
    const doomed = await writeImageLayout({ dir: scratch.child('doomed'), layers: 1, seed: 16, tag: 'v1' });
    const kept = await writeImageLayout({ dir: scratch.child('kept'), layers: 1, seed: 17, tag: 'v1' });
    const repository = 'interop/delete';
    const pushed = await skopeo.copy(doomed.ref, ref(repository, 'doomed'));
    await skopeo.copy(kept.ref, ref(repository, 'kept'));

    await skopeo.delete(ref(repository, 'doomed'));

    for (const gone of [ref(repository, 'doomed'), ref(repository, pushed.digest)]) {
      const failure = await skopeo.inspectRaw(gone).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure, `${gone} is still there`).toBeInstanceOf(SkopeoError);
      expect((failure as SkopeoError).stderr).toMatch(/manifest unknown/i);
    }
    const byDigest = await getManifest(registry.url, repository, pushed.digest);
    expect(byDigest.status).toBe(404);
    expect(errorCodes(byDigest)).toContain('MANIFEST_UNKNOWN');

    expect(await skopeo.inspectDigest(ref(repository, 'kept'))).toBe(kept.root.digest);
    expect(await skopeo.listTags(ref(repository))).toEqual(['kept']);
  });
});
