import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DOCKER_LIST,
  DOCKER_MANIFEST,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_MANIFEST,
  expectError,
  pushBlob,
  pushImage,
  sha256,
} from './support/content.js';
import { metadataFactories, openRegistry, type RegistryUnderTest } from './support/registry-under-test.js';

describe.each(Object.entries(metadataFactories))('manifests on %s', (_name, factory) => {
  let t: RegistryUnderTest;
  beforeEach(async () => {
    t = await openRegistry(factory);
  });
  afterEach(async () => t.close());

  it('stores a manifest by tag and serves the exact bytes with digest, type and ETag', async () => {
    const image = await pushImage(t.http, 'library/app', 'v1');
    for (const reference of ['v1', image.digest]) {
      const response = await t.http.get(`/v2/library/app/manifests/${reference}`).set('Accept', OCI_MANIFEST).expect(200);
      expect(response.text).toBe(image.body);
      expect(response.headers['content-type']).toBe(OCI_MANIFEST);
      expect(response.headers['docker-content-digest']).toBe(image.digest);
      expect(response.headers['etag']).toBe(`"${image.digest}"`);
      expect(response.headers['content-length']).toBe(String(image.body.length));
    }
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const image = await pushImage(t.http, 'app', 'v1');
    const head = await t.http.head('/v2/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
    expect(head.headers['content-length']).toBe(String(image.body.length));
    expect(head.headers['docker-content-digest']).toBe(image.digest);
    expect(head.headers['content-type']).toBe(OCI_MANIFEST);
    expect(head.text ?? '').toBe('');
  });

  it('answers If-None-Match with 304 when the client has the body', async () => {
    const image = await pushImage(t.http, 'app', 'v1');
    await t.http.get('/v2/app/manifests/v1').set('Accept', OCI_MANIFEST).set('If-None-Match', `"${image.digest}"`).expect(304);
    await t.http.get('/v2/app/manifests/v1').set('Accept', OCI_MANIFEST).set('If-None-Match', '"sha256:other"').expect(200);
  });

  it('stores a manifest pushed by digest and rejects one whose bytes do not match', async () => {
    const image = await pushImage(t.http, 'app', 'v1');
    const again = image.body.replace('"schemaVersion":2', '"schemaVersion": 2');
    await t.http.put(`/v2/app/manifests/${sha256(again)}`).set('Content-Type', OCI_MANIFEST).send(again).expect(201);
    const wrong = await t.http.put(`/v2/app/manifests/${image.digest}`).set('Content-Type', OCI_MANIFEST).send(again);
    expectError(wrong, 400, 'DIGEST_INVALID');
  });

  it('refuses a manifest whose blobs are not in the repository', async () => {
    const missing = sha256('missing');
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: missing, size: 7 },
      layers: [],
    });
    const response = await t.http.put('/v2/app/manifests/v1').set('Content-Type', OCI_MANIFEST).send(body);
    expectError(response, 400, 'MANIFEST_BLOB_UNKNOWN');
    expectError(await t.http.get('/v2/app/manifests/v1').set('Accept', OCI_MANIFEST), 404, 'MANIFEST_UNKNOWN');
  });

  it('refuses a blob that only another repository has', async () => {
    const image = await pushImage(t.http, 'one', 'v1');
    const response = await t.http.put('/v2/two/manifests/v1').set('Content-Type', OCI_MANIFEST).send(image.body);
    expectError(response, 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  it('stores an index whose children exist and refuses one with a missing child', async () => {
    const amd = await pushImage(t.http, 'app', 'amd');
    const index = (children: string[]) =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: children.map((digest) => ({
          mediaType: OCI_MANIFEST,
          digest,
          size: amd.body.length,
          platform: { architecture: 'amd64', os: 'linux' },
        })),
      });
    await t.http.put('/v2/app/manifests/multi').set('Content-Type', OCI_INDEX).send(index([amd.digest])).expect(201);
    const got = await t.http.get('/v2/app/manifests/multi').set('Accept', OCI_INDEX).expect(200);
    expect(got.headers['content-type']).toBe(OCI_INDEX);
    const missing = await t.http.put('/v2/app/manifests/bad').set('Content-Type', OCI_INDEX).send(index([sha256('x')]));
    expectError(missing, 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  it('stores Docker schema2 manifests and lists', async () => {
    const config = await pushBlob(t.http, 'app', Buffer.from('{"architecture":"amd64","os":"linux"}'));
    const layerBytes = randomBytes(20);
    const layer = await pushBlob(t.http, 'app', layerBytes);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: config, size: 37 },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: layer, size: 20 }],
    });
    await t.http.put('/v2/app/manifests/d').set('Content-Type', DOCKER_MANIFEST).send(manifest).expect(201);
    const list = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [{ mediaType: DOCKER_MANIFEST, digest: sha256(manifest), size: manifest.length, platform: { architecture: 'amd64', os: 'linux' } }],
    });
    await t.http.put('/v2/app/manifests/l').set('Content-Type', DOCKER_LIST).send(list).expect(201);
    const got = await t.http.get('/v2/app/manifests/l').set('Accept', DOCKER_LIST).expect(200);
    expect(got.text).toBe(list);
  });

  it('takes the type from Content-Type when the manifest has no mediaType', async () => {
    const image = await pushImage(t.http, 'app', 'v1');
    const withoutType = JSON.parse(image.body) as Record<string, unknown>;
    delete withoutType['mediaType'];
    const body = JSON.stringify(withoutType);
    await t.http.put('/v2/app/manifests/helm').set('Content-Type', OCI_MANIFEST).send(body).expect(201);
    const got = await t.http.get('/v2/app/manifests/helm').set('Accept', OCI_MANIFEST).expect(200);
    expect(got.headers['content-type']).toBe(OCI_MANIFEST);
    expect(got.text).toBe(body);
  });

  it('accepts a subject that does not exist yet and answers OCI-Subject', async () => {
    const subject = sha256('not pushed yet');
    const configBytes = Buffer.from('{}');
    const config = await pushBlob(t.http, 'app', configBytes);
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.sbom',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: config, size: 2 },
      layers: [],
      subject: { mediaType: OCI_MANIFEST, digest: subject, size: 123 },
    });
    const response = await t.http.put(`/v2/app/manifests/${sha256(body)}`).set('Content-Type', OCI_MANIFEST).send(body).expect(201);
    expect(response.headers['oci-subject']).toBe(subject);
  });

  it('refuses a manifest over 4 MiB with 413', async () => {
    const huge = ' '.repeat(4 * 1024 * 1024 + 1);
    expectError(await t.http.put('/v2/app/manifests/big').set('Content-Type', OCI_MANIFEST).send(huge), 413, 'MANIFEST_INVALID');
  });

  it.each([
    ['not json', '{oops'],
    ['wrong schemaVersion', JSON.stringify({ schemaVersion: 3, mediaType: OCI_MANIFEST })],
    ['missing config', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] })],
  ])('refuses an invalid manifest (%s) with MANIFEST_INVALID', async (_case, body) => {
    expectError(await t.http.put('/v2/app/manifests/x').set('Content-Type', OCI_MANIFEST).send(body), 400, 'MANIFEST_INVALID');
  });

  it('refuses a mediaType that contradicts Content-Type', async () => {
    const image = await pushImage(t.http, 'app', 'v1');
    expectError(
      await t.http.put('/v2/app/manifests/v2').set('Content-Type', OCI_INDEX).send(image.body),
      400,
      'MANIFEST_INVALID',
    );
  });

  it('answers malformed digests with 400 DIGEST_INVALID, whatever the method', async () => {
    expectError(await t.http.get('/v2/app/manifests/sha256:totallywrong'), 400, 'DIGEST_INVALID');
    expectError(await t.http.head('/v2/app/manifests/sha256:zz'), 400, 'DIGEST_INVALID');
    expectError(await t.http.delete('/v2/app/manifests/sha256:zz'), 400, 'DIGEST_INVALID');
    expectError(await t.http.put('/v2/app/manifests/sha256:zz').set('Content-Type', OCI_MANIFEST).send('{}'), 400, 'DIGEST_INVALID');
  });

  it.each(['.INVALID_MANIFEST_NAME', '-dash', 'a'.repeat(129)])(
    'answers GET, HEAD and DELETE of %s, which no tag can be, with 404 MANIFEST_UNKNOWN',
    async (reference) => {
      await pushImage(t.http, 'app', 'v1');
      for (const response of [
        await t.http.get(`/v2/app/manifests/${reference}`),
        await t.http.get(`/v2/app/manifests/${reference}`).set('Accept', OCI_MANIFEST),
        await t.http.head(`/v2/app/manifests/${reference}`),
        await t.http.delete(`/v2/app/manifests/${reference}`),
      ]) {
        expectError(response, 404, 'MANIFEST_UNKNOWN');
      }
      const body = JSON.parse((await t.http.get(`/v2/app/manifests/${reference}`)).text) as { errors: Array<{ message: string; detail: unknown }> };
      expect(body.errors[0]?.message).toContain('is not a valid tag');
      expect(body.errors[0]?.detail).toEqual({ tag: reference });
      // and the same in a repository that does not exist
      expectError(await t.http.get(`/v2/nothing/here/manifests/${reference}`), 404, 'MANIFEST_UNKNOWN');
    },
  );

  it('answers a PUT to a tag that cannot be with 400 TAG_INVALID, storing nothing', async () => {
    const image = await pushImage(t.http, 'app', 'v1');
    for (const reference of ['.INVALID_MANIFEST_NAME', 'a'.repeat(129)]) {
      expectError(await t.http.put(`/v2/app/manifests/${reference}`).set('Content-Type', OCI_MANIFEST).send(image.body), 400, 'TAG_INVALID');
    }
    expectError(await t.http.put('/v2/app/manifests/' + 'a'.repeat(129)).send('{}'), 400, 'TAG_INVALID');
    expect((await t.http.get('/v2/app/tags/list').expect(200)).body.tags).toEqual(['v1']);
  });

  it('answers unknown manifests with MANIFEST_UNKNOWN', async () => {
    expectError(await t.http.get('/v2/app/manifests/latest'), 404, 'MANIFEST_UNKNOWN');
    expectError(await t.http.head('/v2/app/manifests/latest'), 404, 'MANIFEST_UNKNOWN');
    expectError(await t.http.get(`/v2/app/manifests/${sha256('x')}`), 404, 'MANIFEST_UNKNOWN');
    expectError(await t.http.delete(`/v2/app/manifests/${sha256('x')}`), 404, 'MANIFEST_UNKNOWN');
    expectError(await t.http.delete('/v2/app/manifests/latest'), 404, 'MANIFEST_UNKNOWN');
  });

  it('deletes only the tag when deleting by tag', async () => {
    const image = await pushImage(t.http, 'app', 'v1');
    await t.http.delete('/v2/app/manifests/v1').expect(202);
    expectError(await t.http.get('/v2/app/manifests/v1').set('Accept', OCI_MANIFEST), 404, 'MANIFEST_UNKNOWN');
    await t.http.get(`/v2/app/manifests/${image.digest}`).set('Accept', OCI_MANIFEST).expect(200);
  });

  it('deletes the manifest and its tags when deleting by digest', async () => {
    const image = await pushImage(t.http, 'app', 'v1');
    await t.http.put('/v2/app/manifests/v2').set('Content-Type', OCI_MANIFEST).send(image.body).expect(201);
    await t.http.delete(`/v2/app/manifests/${image.digest}`).expect(202);
    expectError(await t.http.get(`/v2/app/manifests/${image.digest}`), 404, 'MANIFEST_UNKNOWN');
    expectError(await t.http.get('/v2/app/manifests/v1'), 404, 'MANIFEST_UNKNOWN');
    expectError(await t.http.get('/v2/app/manifests/v2'), 404, 'MANIFEST_UNKNOWN');
    expect((await t.http.get('/v2/app/tags/list').expect(200)).body.tags).toEqual([]);
  });

  it('answers 405 with Allow for an unsupported method on a known path', async () => {
    const response = await t.http.post('/v2/app/manifests/v1').expect(405);
    expect(response.headers['allow']).toContain('PUT');
  });

  /** A refused push leaves no manifest, tag or referrer behind, over HTTP and in the store. */
  async function expectNothingStored(repository: string, body: string, tags: string[], subject?: string) {
    const digest = sha256(body);
    expectError(await t.http.get(`/v2/${repository}/manifests/${digest}`).set('Accept', `${OCI_MANIFEST}, ${OCI_INDEX}`), 404, 'MANIFEST_UNKNOWN');
    expect(await t.metadata.getManifest(repository, digest)).toBeUndefined();
    expect((await t.http.get(`/v2/${repository}/tags/list`).expect(200)).body.tags).toEqual(tags);
    if (subject !== undefined) {
      expect((await t.http.get(`/v2/${repository}/referrers/${subject}`).expect(200)).body.manifests).toEqual([]);
    }
  }

  /** An OCI image over a config and a layer pushed here, with the descriptor sizes given. */
  async function imageWithSizes(repository: string, configSize?: number, layerSize?: number, extra: Record<string, unknown> = {}) {
    const configBytes = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const layerBytes = randomBytes(64);
    const config = await pushBlob(t.http, repository, configBytes);
    const layer = await pushBlob(t.http, repository, layerBytes);
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config, size: configSize ?? configBytes.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: layerSize ?? layerBytes.length }],
      ...extra,
    });
    return { body, config, layer, configSize: configBytes.length, layerSize: layerBytes.length };
  }

  describe('descriptor sizes must be those of the stored content', () => {
    it.each([
      ['a layer one byte short', undefined, 63, 'layers[0]'],
      ['a layer one byte long', undefined, 65, 'layers[0]'],
      ['a config of size 0', 0, undefined, 'config'],
      ['a config twice its size', 158, undefined, 'config'],
    ])('refuses %s with 400 MANIFEST_INVALID naming the descriptor, and stores nothing', async (_what, configSize, layerSize, descriptor) => {
      await pushImage(t.http, 'app', 'v1');
      const subject = sha256('some subject');
      const image = await imageWithSizes('app', configSize, layerSize, { subject: { mediaType: OCI_MANIFEST, digest: subject, size: 10 } });
      const digest = descriptor === 'config' ? image.config : image.layer;
      const declared = descriptor === 'config' ? configSize : layerSize;
      const stored = descriptor === 'config' ? image.configSize : image.layerSize;
      for (const reference of ['v2', 'v1', sha256(image.body)]) {
        const response = await t.http.put(`/v2/app/manifests/${reference}`).set('Content-Type', OCI_MANIFEST).send(image.body);
        expectError(response, 400, 'MANIFEST_INVALID');
        const [error] = JSON.parse(response.text).errors as Array<{ message: string; detail: unknown }>;
        expect(error?.message).toBe(`manifest ${descriptor} (${digest}) declares size ${declared}, but the stored blob has ${stored} bytes`);
        expect(error?.detail).toEqual({ descriptor, digest, size: declared, storedSize: stored });
      }
      await expectNothingStored('app', image.body, ['v1'], subject);
      // v1 still points where it did
      await t.http.get('/v2/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
    });

    it.each([-1, -2, -4096])('refuses a layer of size %d with 400 MANIFEST_INVALID naming the descriptor, and stores nothing', async (size) => {
      const image = await imageWithSizes('app', undefined, size);
      const response = await t.http.put('/v2/app/manifests/v1').set('Content-Type', OCI_MANIFEST).send(image.body);
      expectError(response, 400, 'MANIFEST_INVALID');
      const [error] = JSON.parse(response.text).errors as Array<{ message: string; detail: { issues: unknown[] } }>;
      expect(error?.message).toContain(`layers[0].size: must be a non-negative integer, not ${size} (descriptor ${image.layer})`);
      expect(error?.detail.issues[0]).toMatchObject({ path: 'layers[0].size', digest: image.layer });
      await expectNothingStored('app', image.body, []);
    });

    it('refuses a config of size -1 the same way', async () => {
      const image = await imageWithSizes('app', -1);
      const response = await t.http.put('/v2/app/manifests/v1').set('Content-Type', OCI_MANIFEST).send(image.body);
      expectError(response, 400, 'MANIFEST_INVALID');
      expect(response.text).toContain(`config.size: must be a non-negative integer, not -1 (descriptor ${image.config})`);
      await expectNothingStored('app', image.body, []);
    });

    it.each([
      ['OCI index', OCI_INDEX],
      ['Docker list', DOCKER_LIST],
    ])('compares the children of a %s with the stored manifests', async (_name, listType) => {
      const child = await pushImage(t.http, 'app', 'child');
      const list = (size: number) =>
        JSON.stringify({
          schemaVersion: 2,
          mediaType: listType,
          manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size, platform: { architecture: 'amd64', os: 'linux' } }],
        });
      for (const size of [child.body.length + 1, child.body.length - 1, 0]) {
        const response = await t.http.put('/v2/app/manifests/multi').set('Content-Type', listType).send(list(size));
        expectError(response, 400, 'MANIFEST_INVALID');
        const [error] = JSON.parse(response.text).errors as Array<{ message: string; detail: unknown }>;
        expect(error?.message).toBe(
          `manifest manifests[0] (${child.digest}) declares size ${size}, but the stored manifest has ${child.body.length} bytes`,
        );
        expect(error?.detail).toEqual({ descriptor: 'manifests[0]', digest: child.digest, size, storedSize: child.body.length });
        await expectNothingStored('app', list(size), ['child']);
      }
      const minusOne = await t.http.put('/v2/app/manifests/multi').set('Content-Type', listType).send(list(-1));
      expectError(minusOne, 400, 'MANIFEST_INVALID');
      expect(minusOne.text).toContain(`manifests[0].size: must be a non-negative integer, not -1 (descriptor ${child.digest})`);
      await expectNothingStored('app', list(-1), ['child']);
      await t.http.put('/v2/app/manifests/multi').set('Content-Type', listType).send(list(child.body.length)).expect(201);
    });
  });

  describe('a manifest that declares its mediaType must be pushed with it as Content-Type', () => {
    it.each(['text/plain', 'text/plain; charset=utf-8', 'application/json', 'application/octet-stream'])(
      'refuses one pushed as %s with 400 MANIFEST_INVALID, and stores nothing',
      async (contentType) => {
        const image = await imageWithSizes('app');
        const response = await t.http.put('/v2/app/manifests/v1').set('Content-Type', contentType).send(image.body);
        expectError(response, 400, 'MANIFEST_INVALID');
        const [error] = JSON.parse(response.text).errors as Array<{ message: string; detail: unknown }>;
        const essence = contentType.split(';')[0];
        expect(error?.message).toBe(
          `manifest mediaType "${OCI_MANIFEST}" requires Content-Type "${OCI_MANIFEST}", but it was pushed as "${essence}", which is not a manifest type`,
        );
        expect(error?.detail).toEqual({ mediaType: OCI_MANIFEST, contentType: essence });
        await expectNothingStored('app', image.body, []);
      },
    );

    it('refuses one pushed without a Content-Type, as distribution 2.8 does', async () => {
      const image = await imageWithSizes('app');
      const response = await t.http.put('/v2/app/manifests/v1').send(Buffer.from(image.body));
      expect((response as unknown as { req: { getHeader(name: string): unknown } }).req.getHeader('content-type')).toBeUndefined();
      expectError(response, 400, 'MANIFEST_INVALID');
      expect(response.text).toContain('but it was pushed without a Content-Type');
      expect(JSON.parse(response.text).errors[0].detail).toEqual({ mediaType: OCI_MANIFEST, contentType: null });
      await expectNothingStored('app', image.body, []);
    });

    it('refuses an index pushed as text/plain too', async () => {
      const child = await pushImage(t.http, 'app', 'child');
      const index = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size: child.body.length }],
      });
      expectError(await t.http.put('/v2/app/manifests/multi').set('Content-Type', 'text/plain').send(index), 400, 'MANIFEST_INVALID');
      await expectNothingStored('app', index, ['child']);
    });

    it('still types a manifest without mediaType by its shape when the Content-Type is not a manifest type', async () => {
      const image = await imageWithSizes('app');
      const withoutType = JSON.parse(image.body) as Record<string, unknown>;
      delete withoutType['mediaType'];
      const body = JSON.stringify(withoutType);
      await t.http.put('/v2/app/manifests/v1').set('Content-Type', 'text/plain').send(body).expect(201);
      const got = await t.http.get('/v2/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
      expect(got.headers['content-type']).toBe(OCI_MANIFEST);
      expect(got.text).toBe(body);
    });
  });

  it('answers layer-less artifacts with an empty layers list', async () => {
    const configBytes = Buffer.from('{}');
    const config = await pushBlob(t.http, 'app', configBytes);
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: config, size: 2 },
      layers: [],
    });
    await t.http.put('/v2/app/manifests/empty').set('Content-Type', OCI_MANIFEST).send(body).expect(201);
    const got = await t.http.get('/v2/app/manifests/empty').set('Accept', OCI_MANIFEST).expect(200);
    expect(JSON.parse(got.text).layers).toEqual([]);
  });
});
