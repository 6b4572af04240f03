// What the web UI's API answers for real content: a multi-arch index, a Docker schema2 image (what a schema1
// client gets), referrers (a cosign signature, an SPDX SBOM, an in-toto attestation and cosign's tag-style
// signature), on SQLite and PostgreSQL. Sizes and platforms come from what the pushes recorded.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLibtrustKey, signSchema1Payload } from '@berth/core/internal';
import { DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, pushBlob, sha256 } from './support/content.js';
import { metadataFactories, openRegistry, type RegistryUnderTest } from './support/registry-under-test.js';

type Http = RegistryUnderTest['http'];

const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const COSIGN_SIGNATURE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const SPDX = 'application/spdx+json';
const IN_TOTO = 'application/vnd.in-toto+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';
const SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

interface Pushed {
  digest: string;
  body: string;
  /** Manifest + config + layers. */
  totalSize: number;
}

async function putManifest(http: Http, repository: string, reference: string, body: string, type: string): Promise<string> {
  await http.put(`/v2/${repository}/manifests/${reference}`).set('Content-Type', type).send(body).expect(201);
  return sha256(body);
}

/** An image whose config names a platform and a few things the manifest page shows. */
async function pushPlatformImage(
  http: Http,
  repository: string,
  reference: string,
  platform: { os: string; architecture: string; variant?: string },
  docker = false,
): Promise<Pushed> {
  const config = Buffer.from(
    JSON.stringify({
      ...platform,
      created: '2026-01-02T03:04:05Z',
      config: { Entrypoint: ['/bin/app'], Cmd: ['--serve'], Env: ['PATH=/bin', 'MODE=prod'], Labels: { 'org.opencontainers.image.title': 'app' } },
      rootfs: { type: 'layers', diff_ids: [] },
      history: [{ created: '2026-01-02T03:04:05Z', created_by: 'COPY app /bin/app' }, { created_by: 'ENV MODE=prod', empty_layer: true }],
    }),
  );
  const layer = Buffer.from(`layer of ${reference} ${platform.architecture}`.repeat(20));
  const configDigest = await pushBlob(http, repository, config);
  const layerDigest = await pushBlob(http, repository, layer);
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: docker ? DOCKER_MANIFEST : OCI_MANIFEST,
    config: { mediaType: docker ? DOCKER_CONFIG : OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [{ mediaType: docker ? DOCKER_LAYER : OCI_LAYER, digest: layerDigest, size: layer.length }],
  });
  const digest = await putManifest(http, repository, reference, body, docker ? DOCKER_MANIFEST : OCI_MANIFEST);
  return { digest, body, totalSize: Buffer.byteLength(body) + config.length + layer.length };
}

/** An OCI artifact referring to `subject` (as cosign and oras push them). */
async function pushReferrer(http: Http, repository: string, subject: Pushed, artifactType: string, payload: string, reference?: string): Promise<string> {
  const emptyDigest = await pushBlob(http, repository, Buffer.from('{}'));
  const layer = await pushBlob(http, repository, Buffer.from(payload));
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: { mediaType: EMPTY, digest: emptyDigest, size: 2 },
    layers: [{ mediaType: artifactType, digest: layer, size: Buffer.byteLength(payload) }],
    subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: Buffer.byteLength(subject.body) },
    annotations: { 'org.example.kind': artifactType },
  });
  return putManifest(http, repository, reference ?? sha256(body), body, OCI_MANIFEST);
}

describe.each(Object.entries(metadataFactories))('web UI API responses on %s', { timeout: 30_000 }, (_name, factory) => {
  let t: RegistryUnderTest;
  let amd64: Pushed;
  let arm64: Pushed;
  let index: Pushed;
  let legacy: Pushed;
  let signature: string;
  let sbom: string;
  let attestation: string;
  let tagStyleSignature: string;

  beforeAll(async () => {
    t = await openRegistry(factory, {}, { ui: { assets: false } });
    amd64 = await pushPlatformImage(t.http, 'apps/multi', 'amd64-only', { os: 'linux', architecture: 'amd64' });
    arm64 = await pushPlatformImage(t.http, 'apps/multi', 'arm64-only', { os: 'linux', architecture: 'arm64', variant: 'v8' });
    const indexBody = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: amd64.digest, size: Buffer.byteLength(amd64.body), platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: OCI_MANIFEST, digest: arm64.digest, size: Buffer.byteLength(arm64.body), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    });
    const indexDigest = await putManifest(t.http, 'apps/multi', 'latest', indexBody, OCI_INDEX);
    index = { digest: indexDigest, body: indexBody, totalSize: amd64.totalSize + arm64.totalSize };
    await putManifest(t.http, 'apps/multi', 'stable', indexBody, OCI_INDEX);
    legacy = await pushPlatformImage(t.http, 'apps/legacy', 'v1', { os: 'linux', architecture: 'amd64' }, true);
    signature = await pushReferrer(t.http, 'apps/multi', arm64, COSIGN_SIGNATURE, 'signature');
    sbom = await pushReferrer(t.http, 'apps/multi', arm64, SPDX, '{"spdxVersion":"SPDX-2.3"}');
    attestation = await pushReferrer(t.http, 'apps/multi', arm64, IN_TOTO, '{"_type":"https://in-toto.io/Statement/v1"}');
    tagStyleSignature = await pushReferrer(t.http, 'apps/multi', amd64, 'application/vnd.dev.cosign.simplesigning.v1+json', 'legacy signature', `${arm64.digest.replace(':', '-')}.sig`);
  }, 60_000);
  afterAll(() => t.close());

  it('lists repositories with tag count, size and last push, filtered and paged', async () => {
    const all = await t.http.get('/api/repositories').expect(200);
    expect(all.body.next).toBeNull();
    expect(all.body.repositories.map((repository: { name: string }) => repository.name)).toEqual(['apps/legacy', 'apps/multi']);
    const usage = await t.metadata.repositoryUsage('apps/legacy');
    expect(all.body.repositories[0]).toEqual({ name: 'apps/legacy', tagCount: 1, size: usage.blobBytes + usage.manifestBytes, lastPushed: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(all.body.repositories[1].tagCount).toBe(5);
    const first = await t.http.get('/api/repositories?n=1').expect(200);
    expect(first.body).toMatchObject({ repositories: [{ name: 'apps/legacy' }], next: 'apps/legacy' });
    const second = await t.http.get(`/api/repositories?n=1&last=${encodeURIComponent(first.body.next)}`).expect(200);
    expect(second.body).toMatchObject({ repositories: [{ name: 'apps/multi' }], next: null });
    const filtered = await t.http.get('/api/repositories?q=MULTI').expect(200);
    expect(filtered.body.repositories.map((repository: { name: string }) => repository.name)).toEqual(['apps/multi']);
    await t.http.get('/api/repositories?n=x').expect(400);
  });

  it('lists tags with digest, media type, size and platforms; tags sharing a digest carry the same one', async () => {
    const response = await t.http.get('/api/tags?repository=apps/multi').expect(200);
    const tags = response.body.tags as Array<{ name: string; digest: string; mediaType: string; size: number; platforms: unknown[]; pushedAt: string }>;
    const byName = new Map(tags.map((tag) => [tag.name, tag]));
    expect(byName.get('latest')).toEqual({
      name: 'latest',
      digest: index.digest,
      mediaType: OCI_INDEX,
      size: index.totalSize,
      platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }],
      pushedAt: expect.stringMatching(/Z$/),
    });
    expect(byName.get('stable')!.digest).toBe(index.digest);
    expect(byName.get('arm64-only')).toMatchObject({ mediaType: OCI_MANIFEST, size: arm64.totalSize, platforms: [{ os: 'linux', architecture: 'arm64', variant: 'v8' }] });
    expect(response.body).toMatchObject({ repository: 'apps/multi', canDelete: true, next: null });

    // Newest first, a page at a time, with the cursor the previous page gave.
    const seen: string[] = [];
    let last: string | null = null;
    do {
      const page: { body: { tags: Array<{ name: string }>; next: string | null } } = await t.http.get(`/api/tags?repository=apps/multi&sort=-pushed&n=2${last ? `&last=${encodeURIComponent(last)}` : ''}`).expect(200);
      seen.push(...page.body.tags.map((tag: { name: string }) => tag.name));
      last = page.body.next;
    } while (last !== null && seen.length < 20);
    const newestFirst = [...tags].sort((a, b) => b.pushedAt.localeCompare(a.pushedAt) || (a.name < b.name ? -1 : 1)).map((tag) => tag.name);
    expect(seen).toEqual(newestFirst);
    expect((await t.http.get('/api/tags?repository=apps/multi&q=STAB').expect(200)).body.tags.map((tag: { name: string }) => tag.name)).toEqual(['stable']);
    await t.http.get('/api/tags?repository=apps/multi&sort=size').expect(400);
    await t.http.get('/api/tags?repository=apps/multi&last=garbage').expect(400);
    const unknown = await t.http.get('/api/tags?repository=apps/none').expect(404);
    expect(unknown.body.errors[0].code).toBe('NAME_UNKNOWN');
  });

  it("shows an index's children with their platforms and sizes, and which child a schema1 client gets", async () => {
    const response = await t.http.get('/api/manifest?repository=apps/multi&reference=latest').expect(200);
    expect(response.body).toMatchObject({
      repository: 'apps/multi',
      digest: index.digest,
      mediaType: OCI_INDEX,
      size: index.totalSize,
      tags: ['latest', 'stable'],
      canDelete: true,
      raw: index.body,
      config: null,
      layers: [],
      subject: null,
      children: [
        { digest: amd64.digest, mediaType: OCI_MANIFEST, size: amd64.totalSize, platform: { os: 'linux', architecture: 'amd64' } },
        { digest: arm64.digest, mediaType: OCI_MANIFEST, size: arm64.totalSize, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
      schema1: { servedAs: 'converted' },
    });
    expect(response.body.schema1.note).toContain(`linux/amd64 image (${amd64.digest})`);
  });

  it("shows an image's config summary, layers and referrers grouped: signature, SBOM, attestation, cosign's tag-style signature", async () => {
    const response = await t.http.get(`/api/manifest?repository=apps/multi&reference=${arm64.digest}`).expect(200);
    const body = response.body;
    expect(body.config).toEqual({
      digest: JSON.parse(arm64.body).config.digest,
      os: 'linux',
      architecture: 'arm64',
      variant: 'v8',
      created: '2026-01-02T03:04:05Z',
      entrypoint: ['/bin/app'],
      cmd: ['--serve'],
      env: ['PATH=/bin', 'MODE=prod'],
      labels: { 'org.opencontainers.image.title': 'app' },
      history: [{ created: '2026-01-02T03:04:05Z', createdBy: 'COPY app /bin/app' }, { createdBy: 'ENV MODE=prod', emptyLayer: true }],
    });
    expect(body.layers).toEqual([JSON.parse(arm64.body).layers[0]]);
    expect(body.tags).toEqual(['arm64-only']);
    const referrers = (body.referrers as Array<{ group: string; digest: string; artifactType: string | null; tag?: string; annotations: object }>).map(
      ({ group, digest, artifactType, tag }) => ({ group, digest, artifactType, ...(tag && { tag }) }),
    );
    expect(referrers).toEqual(
      expect.arrayContaining([
        { group: 'signature', digest: signature, artifactType: COSIGN_SIGNATURE },
        { group: 'sbom', digest: sbom, artifactType: SPDX },
        { group: 'attestation', digest: attestation, artifactType: IN_TOTO },
        { group: 'signature', digest: tagStyleSignature, artifactType: 'application/vnd.dev.cosign.simplesigning.v1+json', tag: `${arm64.digest.replace(':', '-')}.sig` },
      ]),
    );
    expect(referrers).toHaveLength(4);
    expect(body.schema1).toEqual({ servedAs: 'converted', note: expect.stringContaining('signed schema1') });
    // A referrer's own page names its subject and artifact type.
    const sbomPage = await t.http.get(`/api/manifest?repository=apps/multi&reference=${sbom}`).expect(200);
    expect(sbomPage.body).toMatchObject({ subject: arm64.digest, artifactType: SPDX, annotations: { 'org.example.kind': SPDX }, schema1: { servedAs: 'none' } });
  });

  it('says a schema1 client gets a Docker schema2 image converted, and answers unknown manifests with the spec codes', async () => {
    const response = await t.http.get('/api/manifest?repository=apps/legacy&reference=v1').expect(200);
    expect(response.body).toMatchObject({ digest: legacy.digest, mediaType: DOCKER_MANIFEST, size: legacy.totalSize, schema1: { servedAs: 'converted' } });
    expect(response.body.config).toMatchObject({ os: 'linux', architecture: 'amd64' });
    const missing = await t.http.get('/api/manifest?repository=apps/legacy&reference=v2').expect(404);
    expect(missing.body.errors[0].code).toBe('MANIFEST_UNKNOWN');
    const noRepository = await t.http.get('/api/manifest?reference=v1').expect(400);
    expect(noRepository.body.errors[0].code).toBe('UNSUPPORTED');
  });

  it('shows a stored signed schema1 manifest: its platform, its layers with their linked sizes, served as stored', async () => {
    const layerBytes = randomBytes(25);
    const layer = await pushBlob(t.http, 'apps/old', layerBytes);
    const payload = JSON.stringify(
      {
        schemaVersion: 1,
        name: 'apps/old',
        tag: 'v1',
        architecture: 'arm64',
        fsLayers: [{ blobSum: layer }],
        history: [{ v1Compatibility: JSON.stringify({ id: createHash('sha256').update('layer').digest('hex'), os: 'linux', created: '2016-01-01T00:00:00Z' }) }],
      },
      null,
      3,
    );
    const signed = Buffer.from(signSchema1Payload(new TextEncoder().encode(payload), generateLibtrustKey())).toString();
    await t.http.put('/v2/apps/old/manifests/v1').set('Content-Type', SCHEMA1).send(signed).expect(201);
    const tags = await t.http.get('/api/tags?repository=apps/old').expect(200);
    expect(tags.body.tags[0]).toMatchObject({ name: 'v1', mediaType: SCHEMA1, size: Buffer.byteLength(signed) + layerBytes.length, platforms: [{ os: 'linux', architecture: 'arm64' }] });
    const detail = await t.http.get('/api/manifest?repository=apps/old&reference=v1').expect(200);
    expect(detail.body).toMatchObject({
      digest: sha256(payload),
      raw: signed,
      config: null,
      layers: [{ digest: layer, size: layerBytes.length }],
      schema1: { servedAs: 'stored' },
    });
  });

  it('deletes a tag (the manifest stays) and a manifest (its tags go)', async () => {
    await t.http.delete('/api/tag?repository=apps/multi&tag=stable').expect(204);
    expect((await t.http.get('/api/manifest?repository=apps/multi&reference=latest').expect(200)).body.tags).toEqual(['latest']);
    await t.http.delete(`/api/tag?repository=apps/multi&tag=${encodeURIComponent(index.digest)}`).expect(400);
    await t.http.delete('/api/tag?repository=apps/multi&tag=stable').expect(404);
    await t.http.delete(`/api/manifest?repository=apps/legacy&digest=${legacy.digest}`).expect(202);
    await t.http.get('/api/manifest?repository=apps/legacy&reference=v1').expect(404);
  });
});
