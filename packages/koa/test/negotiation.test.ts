import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  EMPTY_LAYER_DIGEST,
  generateLibtrustKey,
  libtrustKeyToPem,
  parseSchema1Manifest,
  schema1PayloadOf,
  signSchema1Payload,
} from '@berth/core/internal';
import {
  DOCKER_LIST,
  DOCKER_MANIFEST,
  OCI_INDEX,
  OCI_MANIFEST,
  binary,
  expectError,
  pushBlob,
  sha256,
} from './support/content.js';
import { metadataFactories, openRegistry, sharingStores, type RegistryUnderTest } from './support/registry-under-test.js';

const SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
const DOCKER_1_10 = `${DOCKER_MANIFEST}, ${SCHEMA1}`;

describe.each(Object.entries(metadataFactories))('negotiation on %s', (_name, factory) => {
  let t: RegistryUnderTest;
  beforeEach(async () => {
    t = await openRegistry(factory);
  });
  afterEach(async () => t.close());

  /** A schema2 image with one empty-layer history entry, pushed under `tag`. */
  async function pushSchema2(repository: string, tag: string, architecture = 'amd64') {
    const layerBytes = randomBytes(40);
    const layer = await pushBlob(t.http, repository, layerBytes);
    const config = JSON.stringify({
      architecture,
      os: 'linux',
      config: { Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: [sha256(randomBytes(8))] },
      history: [
        { created: '2024-01-02T03:04:05.123456789Z', created_by: '/bin/sh -c #(nop) ADD file in /' },
        { created: '2024-01-02T03:04:06Z', created_by: '/bin/sh -c #(nop) CMD ["sh"]', empty_layer: true },
      ],
    });
    const configDigest = await pushBlob(t.http, repository, Buffer.from(config));
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: layer, size: 40 }],
    });
    await t.http.put(`/v2/${repository}/manifests/${tag}`).set('Content-Type', DOCKER_MANIFEST).send(body).expect(201);
    return { body, digest: sha256(body), layer, config, configDigest };
  }

  function schema1Of(text: string) {
    const bytes = Buffer.from(text);
    const parsed = parseSchema1Manifest(bytes); // verifies every signature and the v1 id chain
    return { parsed, payload: Buffer.from(schema1PayloadOf(bytes)).toString() };
  }

  it.each([
    ['no Accept', undefined],
    ['*/*', '*/*'],
    ['schema1 only', SCHEMA1],
    ['schema1 and OCI', `${SCHEMA1}, ${OCI_MANIFEST}`],
  ])('converts schema2 to signed schema1 by tag for a client with %s', async (_case, accept) => {
    const image = await pushSchema2('library/app', 'v1');
    const request = t.http.get('/v2/library/app/manifests/v1');
    const response = await (accept ? request.set('Accept', accept) : request).expect(200);
    expect(response.headers['content-type']).toBe(SCHEMA1);
    const { parsed, payload } = schema1Of(response.text);
    expect(response.headers['docker-content-digest']).toBe(parsed.digest);
    expect(sha256(payload)).toBe(parsed.digest);
    expect(response.headers['etag']).toBe(`"${parsed.digest}"`);
    const document = JSON.parse(payload);
    expect(document).toMatchObject({ schemaVersion: 1, name: 'library/app', tag: 'v1', architecture: 'amd64' });
    expect(document.fsLayers.map((entry: { blobSum: string }) => entry.blobSum)).toEqual([EMPTY_LAYER_DIGEST, image.layer]);
  });

  it('serves the converted manifest again by its digest, with any Accept, and the same bytes every time', async () => {
    await pushSchema2('app', 'v1');
    const first = await t.http.get('/v2/app/manifests/v1').expect(200);
    const digest = first.headers['docker-content-digest'] as string;
    const again = await t.http.get('/v2/app/manifests/v1').expect(200);
    expect(again.text).toBe(first.text);
    for (const accept of [DOCKER_MANIFEST, OCI_MANIFEST, '*/*']) {
      const byDigest = await t.http.get(`/v2/app/manifests/${digest}`).set('Accept', accept).expect(200);
      expect(byDigest.text).toBe(first.text);
      expect(byDigest.headers['docker-content-digest']).toBe(digest);
    }
  });

  it('answers HEAD with the headers GET sends, conversion included', async () => {
    await pushSchema2('app', 'v1');
    const get = await t.http.get('/v2/app/manifests/v1').expect(200);
    const head = await t.http.head('/v2/app/manifests/v1').expect(200);
    for (const header of ['content-type', 'content-length', 'docker-content-digest', 'etag']) {
      expect(head.headers[header]).toBe(get.headers[header]);
    }
  });

  it('compares If-None-Match with the digest of the body this client gets', async () => {
    const image = await pushSchema2('app', 'v1');
    // The schema2 digest is not what a schema1 client holds: it gets the body, not a 304.
    const converted = await t.http.get('/v2/app/manifests/v1').set('If-None-Match', `"${image.digest}"`).expect(200);
    const digest = converted.headers['docker-content-digest'] as string;
    await t.http.get('/v2/app/manifests/v1').set('If-None-Match', `"${digest}"`).expect(304);
    await t.http.get('/v2/app/manifests/v1').set('Accept', DOCKER_MANIFEST).set('If-None-Match', `"${image.digest}"`).expect(304);
  });

  it('serves schema2 as stored to clients that accept it or name only other types, and by digest to everyone', async () => {
    const image = await pushSchema2('app', 'v1');
    for (const accept of [DOCKER_MANIFEST, DOCKER_1_10, OCI_MANIFEST]) {
      const response = await t.http.get('/v2/app/manifests/v1').set('Accept', accept).expect(200);
      expect(response.text).toBe(image.body);
    }
    const byDigest = await t.http.get(`/v2/app/manifests/${image.digest}`).expect(200);
    expect(byDigest.text).toBe(image.body);
    expect(byDigest.headers['content-type']).toBe(DOCKER_MANIFEST);
  });

  it('makes the empty-layer blob pullable when a converted manifest names it', async () => {
    await pushSchema2('app', 'v1');
    expectError(await t.http.head(`/v2/app/blobs/${EMPTY_LAYER_DIGEST}`), 404, 'BLOB_UNKNOWN');
    await t.http.get('/v2/app/manifests/v1').expect(200);
    const blob = await t.http.get(`/v2/app/blobs/${EMPTY_LAYER_DIGEST}`).buffer(true).parse(binary).expect(200);
    expect(`sha256:${createHash('sha256').update(blob.body as Buffer).digest('hex')}`).toBe(EMPTY_LAYER_DIGEST);
  });

  it('forgets conversions when their source is deleted', async () => {
    const image = await pushSchema2('app', 'v1');
    const converted = (await t.http.get('/v2/app/manifests/v1').expect(200)).headers['docker-content-digest'] as string;
    await t.http.delete(`/v2/app/manifests/${image.digest}`).expect(202);
    expectError(await t.http.get(`/v2/app/manifests/${converted}`), 404, 'MANIFEST_UNKNOWN');
  });

  it('keeps its signing key across restarts (same key id)', async () => {
    await pushSchema2('app', 'v1');
    const kid = (text: string) => JSON.parse(text).signatures[0].header.jwk.kid as string;
    const before = kid((await t.http.get('/v2/app/manifests/v1').expect(200)).text);
    const restarted = sharingStores(t);
    await pushSchema2('app', 'v2');
    const after = kid((await restarted.get('/v2/app/manifests/v2').expect(200)).text);
    expect(after).toBe(before);
  });

  it('signs with a configured PEM key', async () => {
    const key = generateLibtrustKey();
    const configured = await openRegistry(factory, { schema1SigningKey: libtrustKeyToPem(key) });
    try {
      const layer = await pushBlob(configured.http, 'app', randomBytes(10));
      const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: ['sha256:' + 'a'.repeat(64)] }, history: [{ created_by: 'x' }] });
      const configDigest = await pushBlob(configured.http, 'app', Buffer.from(config));
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: DOCKER_MANIFEST,
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: layer, size: 10 }],
      });
      await configured.http.put('/v2/app/manifests/v1').set('Content-Type', DOCKER_MANIFEST).send(body).expect(201);
      const response = await configured.http.get('/v2/app/manifests/v1').expect(200);
      expect(JSON.parse(response.text).signatures[0].header.jwk.kid).toBe(key.kid);
    } finally {
      await configured.close();
    }
  });

  describe('manifest lists and indexes', () => {
    async function pushList(mediaType: string, childType: string, platforms: Array<[string, string]>) {
      const children = [];
      for (const [architecture, tag] of platforms) {
        const image = await pushSchema2('app', tag, architecture);
        children.push({ mediaType: childType, digest: image.digest, size: image.body.length, platform: { architecture, os: 'linux' } });
      }
      const body = JSON.stringify({ schemaVersion: 2, mediaType, manifests: children });
      await t.http.put('/v2/app/manifests/multi').set('Content-Type', mediaType).send(body).expect(201);
      return { body, digest: sha256(body), children };
    }

    it('serves the linux/amd64 child to a client that cannot read lists', async () => {
      const list = await pushList(DOCKER_LIST, DOCKER_MANIFEST, [['arm64', 'arm'], ['amd64', 'amd']]);
      const schema2 = await t.http.get('/v2/app/manifests/multi').set('Accept', DOCKER_MANIFEST).expect(200);
      expect(schema2.headers['docker-content-digest']).toBe(list.children[1]!.digest);
      const legacy = await t.http.get('/v2/app/manifests/multi').expect(200);
      expect(legacy.headers['content-type']).toBe(SCHEMA1);
      expect(JSON.parse(schema1Of(legacy.text).payload)).toMatchObject({ architecture: 'amd64', tag: 'multi' });
      const whole = await t.http.get('/v2/app/manifests/multi').set('Accept', `${DOCKER_LIST}, ${DOCKER_MANIFEST}`).expect(200);
      expect(whole.text).toBe(list.body);
      const byDigest = await t.http.get(`/v2/app/manifests/${list.digest}`).expect(200);
      expect(byDigest.text).toBe(list.body);
    });

    it('answers MANIFEST_UNKNOWN naming the platforms when none matches', async () => {
      await pushList(OCI_INDEX, DOCKER_MANIFEST, [['arm64', 'arm'], ['s390x', 's390']]);
      const response = await t.http.get('/v2/app/manifests/multi').set('Accept', DOCKER_MANIFEST);
      expectError(response, 404, 'MANIFEST_UNKNOWN');
      expect(JSON.parse(response.text).errors[0].message).toMatch(/linux\/arm64.*linux\/s390x/);
    });

    it('follows the configured platform order', async () => {
      const preferArm = sharingStores(t, { platforms: ['linux/arm64', 'linux/amd64'] });
      const list = await pushList(OCI_INDEX, DOCKER_MANIFEST, [['amd64', 'amd'], ['arm64', 'arm']]);
      const response = await preferArm.get('/v2/app/manifests/multi').set('Accept', DOCKER_MANIFEST).expect(200);
      expect(response.headers['docker-content-digest']).toBe(list.children[1]!.digest);
    });
  });

  describe('OCI images', () => {
    async function pushOci(layerType = 'application/vnd.oci.image.layer.v1.tar+gzip', extra: Record<string, unknown> = {}) {
      const layer = await pushBlob(t.http, 'app', randomBytes(30));
      const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: ['sha256:' + 'b'.repeat(64)] }, history: [{ created_by: 'build' }] });
      const configDigest = await pushBlob(t.http, 'app', Buffer.from(config));
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: layerType, digest: layer, size: 30, annotations: { a: 'b' } }],
        ...extra,
      });
      await t.http.put('/v2/app/manifests/oci').set('Content-Type', OCI_MANIFEST).send(body).expect(201);
      return { body, digest: sha256(body), layer, configDigest };
    }

    it('serves an OCI image as schema2 to a client that reads schema2 but not OCI, by tag only', async () => {
      const image = await pushOci();
      const response = await t.http.get('/v2/app/manifests/oci').set('Accept', DOCKER_1_10).expect(200);
      expect(response.headers['content-type']).toBe(DOCKER_MANIFEST);
      expect(response.headers['docker-content-digest']).toBe(sha256(response.text));
      const schema2 = JSON.parse(response.text);
      expect(schema2.config).toEqual({ mediaType: 'application/vnd.docker.container.image.v1+json', size: expect.any(Number), digest: image.configDigest });
      expect(schema2.layers).toEqual([{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 30, digest: image.layer }]);
      const again = await t.http.get(`/v2/app/manifests/${sha256(response.text)}`).expect(200);
      expect(again.text).toBe(response.text);
      expect((await t.http.get(`/v2/app/manifests/${image.digest}`).set('Accept', DOCKER_MANIFEST).expect(200)).text).toBe(image.body);
    });

    it('converts an OCI image to schema1 for a schema1 client', async () => {
      const image = await pushOci();
      const response = await t.http.get('/v2/app/manifests/oci').set('Accept', SCHEMA1).expect(200);
      expect(response.headers['content-type']).toBe(SCHEMA1);
      expect(schema1Of(response.text).parsed.blobReferences).toContain(image.layer);
    });

    it('refuses with a reason an OCI artifact it cannot convert', async () => {
      await pushOci('application/vnd.oci.image.layer.v1.tar+zstd');
      const response = await t.http.get('/v2/app/manifests/oci');
      expectError(response, 404, 'MANIFEST_UNKNOWN');
      expect(JSON.parse(response.text).errors[0].message).toContain('tar+zstd');
      // A client that names OCI gets it.
      await t.http.get('/v2/app/manifests/oci').set('Accept', OCI_MANIFEST).expect(200);
    });
  });

  describe('schema1 push', () => {
    async function signedSchema1(repository: string, tag: string) {
      const layer = await pushBlob(t.http, repository, randomBytes(25));
      const id = createHash('sha256').update('layer').digest('hex');
      const payload = JSON.stringify(
        {
          schemaVersion: 1,
          name: repository,
          tag,
          architecture: 'amd64',
          fsLayers: [{ blobSum: layer }],
          history: [{ v1Compatibility: JSON.stringify({ id, created: '2016-01-01T00:00:00Z', container_config: { Cmd: [''] } }) }],
        },
        null,
        3,
      );
      const signed = Buffer.from(signSchema1Payload(new TextEncoder().encode(payload), generateLibtrustKey()));
      return { signed, payload, layer };
    }

    it('accepts a signed schema1 manifest and serves exactly the pushed bytes', async () => {
      const { signed, payload } = await signedSchema1('old/app', 'v1');
      const response = await t.http.put('/v2/old/app/manifests/v1').set('Content-Type', SCHEMA1).send(signed.toString()).expect(201);
      expect(response.headers['docker-content-digest']).toBe(sha256(payload));
      for (const reference of ['v1', sha256(payload)]) {
        const got = await t.http.get(`/v2/old/app/manifests/${reference}`).set('Accept', DOCKER_MANIFEST).expect(200);
        expect(got.text).toBe(signed.toString());
        expect(got.headers['content-type']).toBe(SCHEMA1);
        expect(got.headers['docker-content-digest']).toBe(sha256(payload));
      }
      await t.http.put(`/v2/old/app/manifests/${sha256(payload)}`).set('Content-Type', SCHEMA1).send(signed.toString()).expect(201);
    });

    it('refuses a schema1 manifest whose signature does not verify', async () => {
      const { signed } = await signedSchema1('app', 'v1');
      const document = JSON.parse(signed.toString());
      document.signatures[0].signature = Buffer.alloc(64, 1).toString('base64url');
      const tampered = JSON.stringify(document, null, 3);
      expectError(await t.http.put('/v2/app/manifests/v1').set('Content-Type', SCHEMA1).send(tampered), 400, 'MANIFEST_UNVERIFIED');
      const garbled = signed.toString().replace('"protected": "', '"protected": "!!');
      expectError(await t.http.put('/v2/app/manifests/v1').set('Content-Type', SCHEMA1).send(garbled), 400, 'MANIFEST_INVALID');
    });

    it('refuses a schema1 manifest whose layers are not in the repository', async () => {
      const { signed } = await signedSchema1('one', 'v1');
      expectError(await t.http.put('/v2/two/manifests/v1').set('Content-Type', SCHEMA1).send(signed.toString()), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('refuses schema1 with a clear code when schema1 push is switched off', async () => {
      const off = await openRegistry(factory, { schema1Push: false });
      try {
        const layer = await pushBlob(off.http, 'app', randomBytes(5));
        const payload = JSON.stringify({ schemaVersion: 1, name: 'app', tag: 'v1', architecture: 'amd64', fsLayers: [{ blobSum: layer }], history: [{ v1Compatibility: JSON.stringify({ id: 'c'.repeat(64) }) }] }, null, 3);
        const signed = Buffer.from(signSchema1Payload(new TextEncoder().encode(payload), generateLibtrustKey())).toString();
        const response = await off.http.put('/v2/app/manifests/v1').set('Content-Type', SCHEMA1).send(signed);
        expectError(response, 400, 'UNSUPPORTED');
        expect(JSON.parse(response.text).errors[0].message).toContain('schema1');
      } finally {
        await off.close();
      }
    });
  });
});
