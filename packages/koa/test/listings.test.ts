import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OCI_MANIFEST, expectError, pushBlob, pushImage, sha256 } from './support/content.js';
import { metadataFactories, openRegistry, type RegistryUnderTest } from './support/registry-under-test.js';

describe.each(Object.entries(metadataFactories))('listings on %s', (_name, factory) => {
  let t: RegistryUnderTest;
  beforeEach(async () => {
    t = await openRegistry(factory);
  });
  afterEach(async () => t.close());

  async function tagAll(repository: string, tags: string[]): Promise<void> {
    const image = await pushImage(t.http, repository, tags[0]!);
    for (const tag of tags.slice(1)) {
      await t.http.put(`/v2/${repository}/manifests/${tag}`).set('Content-Type', OCI_MANIFEST).send(image.body).expect(201);
    }
  }

  it('lists tags in lexical order', async () => {
    await tagAll('app', ['v2', 'latest', 'v10', 'v1']);
    const response = await t.http.get('/v2/app/tags/list').expect(200);
    expect(response.body).toEqual({ name: 'app', tags: ['latest', 'v1', 'v10', 'v2'] });
    expect(response.headers['link']).toBeUndefined();
  });

  it('pages tags with n, last and a Link to the next page', async () => {
    await tagAll('team/app', ['a', 'b', 'c', 'd', 'e']);
    const first = await t.http.get('/v2/team/app/tags/list?n=2').expect(200);
    expect(first.body.tags).toEqual(['a', 'b']);
    expect(first.headers['link']).toBe('</v2/team/app/tags/list?n=2&last=b>; rel="next"');
    const second = await t.http.get('/v2/team/app/tags/list?n=2&last=b').expect(200);
    expect(second.body.tags).toEqual(['c', 'd']);
    const third = await t.http.get('/v2/team/app/tags/list?n=2&last=d').expect(200);
    expect(third.body.tags).toEqual(['e']);
    expect(third.headers['link']).toBeUndefined();
    const exact = await t.http.get('/v2/team/app/tags/list?n=5').expect(200);
    expect(exact.body.tags).toHaveLength(5);
    expect(exact.headers['link']).toBeUndefined();
    expect((await t.http.get('/v2/team/app/tags/list?n=0').expect(200)).body.tags).toEqual([]);
    expect((await t.http.get('/v2/team/app/tags/list?last=e').expect(200)).body.tags).toEqual([]);
  });

  it('refuses a malformed n', async () => {
    await tagAll('app', ['a']);
    expectError(await t.http.get('/v2/app/tags/list?n=-1'), 400, 'UNSUPPORTED');
    expectError(await t.http.get('/v2/app/tags/list?n=abc'), 400, 'UNSUPPORTED');
  });

  it('answers NAME_UNKNOWN for the tags of an unknown repository', async () => {
    expectError(await t.http.get('/v2/nobody/tags/list'), 404, 'NAME_UNKNOWN');
  });

  it('lists an existing repository without tags as empty', async () => {
    await pushBlob(t.http, 'blobs-only', Buffer.from('x'));
    expect((await t.http.get('/v2/blobs-only/tags/list').expect(200)).body.tags).toEqual([]);
  });

  it('pages the catalog', async () => {
    for (const name of ['zeta', 'alpha', 'team/beta']) await pushBlob(t.http, name, Buffer.from(name));
    const all = await t.http.get('/v2/_catalog').expect(200);
    expect(all.body).toEqual({ repositories: ['alpha', 'team/beta', 'zeta'] });
    const first = await t.http.get('/v2/_catalog?n=1').expect(200);
    expect(first.body.repositories).toEqual(['alpha']);
    expect(first.headers['link']).toBe('</v2/_catalog?n=1&last=alpha>; rel="next"');
    const rest = await t.http.get('/v2/_catalog?n=5&last=alpha').expect(200);
    expect(rest.body.repositories).toEqual(['team/beta', 'zeta']);
  });

  describe('referrers', () => {
    async function pushArtifact(subject: { digest: string; size: number }, artifactType: string, note: string) {
      const config = await pushBlob(t.http, 'app', Buffer.from('{}'));
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: config, size: 2 },
        layers: [],
        subject: { mediaType: OCI_MANIFEST, ...subject },
        annotations: { note },
      });
      await t.http.put(`/v2/app/manifests/${sha256(body)}`).set('Content-Type', OCI_MANIFEST).send(body).expect(201);
      return { digest: sha256(body), size: Buffer.byteLength(body) };
    }

    it('lists the manifests that refer to a subject, filtered by artifactType', async () => {
      const image = await pushImage(t.http, 'app', 'v1');
      const subject = { digest: image.digest, size: image.body.length };
      const sbom = await pushArtifact(subject, 'application/vnd.example.sbom', 'sbom');
      const signature = await pushArtifact(subject, 'application/vnd.example.signature', 'sig');

      const all = await t.http.get(`/v2/app/referrers/${image.digest}`).expect(200);
      expect(all.headers['content-type']).toBe('application/vnd.oci.image.index.v1+json');
      expect(all.headers['oci-filters-applied']).toBeUndefined();
      const index = JSON.parse(all.text);
      expect(index.schemaVersion).toBe(2);
      expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      expect(index.manifests.map((m: { digest: string }) => m.digest).sort()).toEqual([sbom.digest, signature.digest].sort());
      const sbomEntry = index.manifests.find((m: { digest: string }) => m.digest === sbom.digest);
      expect(sbomEntry).toEqual({
        mediaType: OCI_MANIFEST,
        digest: sbom.digest,
        size: sbom.size,
        artifactType: 'application/vnd.example.sbom',
        annotations: { note: 'sbom' },
      });

      const filtered = await t.http.get(`/v2/app/referrers/${image.digest}?artifactType=application/vnd.example.sbom`).expect(200);
      expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
      expect(JSON.parse(filtered.text).manifests.map((m: { digest: string }) => m.digest)).toEqual([sbom.digest]);
    });

    it('lists referrers of a subject that was never pushed', async () => {
      const ghost = { digest: sha256('ghost'), size: 5 };
      const sbom = await pushArtifact(ghost, 'application/vnd.example.sbom', 'sbom');
      const response = await t.http.get(`/v2/app/referrers/${ghost.digest}`).expect(200);
      expect(JSON.parse(response.text).manifests.map((m: { digest: string }) => m.digest)).toEqual([sbom.digest]);
    });

    it('answers an empty index for a digest nothing refers to, and 400 for a malformed one', async () => {
      const response = await t.http.get(`/v2/app/referrers/${sha256('nothing')}`).expect(200);
      expect(JSON.parse(response.text).manifests).toEqual([]);
      expectError(await t.http.get('/v2/app/referrers/sha256:bad'), 400, 'DIGEST_INVALID');
    });

    it('drops a referrer when its manifest is deleted', async () => {
      const image = await pushImage(t.http, 'app', 'v1');
      const sbom = await pushArtifact({ digest: image.digest, size: image.body.length }, 'application/vnd.example.sbom', 'x');
      await t.http.delete(`/v2/app/manifests/${sbom.digest}`).expect(202);
      expect(JSON.parse((await t.http.get(`/v2/app/referrers/${image.digest}`).expect(200)).text).manifests).toEqual([]);
    });
  });
});
