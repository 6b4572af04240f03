import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { RegistryError, type BlobStore, type ManifestWrite, type MetadataStore, type StoredManifest } from '@berth/core';
import { createRegistryService, type RegistryService } from '../src/index.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

const sha256 = (bytes: string | Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
/** A request body as the HTTP layer hands it over: an async stream of chunks. */
async function* body(text: string): AsyncGenerator<Uint8Array> {
  yield new TextEncoder().encode(text);
}

/**
 * Just enough of a MetadataStore for the manifest service, in memory, recording every write: a refused
 * push must write nothing at all. Any other method fails the test.
 */
class RecordingMetadata {
  readonly links = new Map<string, number>();
  readonly manifests = new Map<string, StoredManifest>();
  readonly tags = new Map<string, string>();
  readonly writes: ManifestWrite[] = [];

  link(repository: string, content: string): string {
    const digest = sha256(content);
    this.links.set(`${repository}@${digest}`, Buffer.byteLength(content));
    return digest;
  }

  asStore(): MetadataStore {
    const store: Partial<MetadataStore> = {
      blobLink: async (repository, digest) => {
        const size = this.links.get(`${repository}@${digest}`);
        return size === undefined ? undefined : { digest, size };
      },
      getManifest: async (repository, digest) => this.manifests.get(`${repository}@${digest}`),
      getConvertedManifest: async () => undefined,
      resolveTag: async (repository, tag) => this.tags.get(`${repository}:${tag}`),
      putManifest: async (write) => {
        this.writes.push(write);
        const { manifest } = write;
        this.manifests.set(`${manifest.repository}@${manifest.digest}`, { ...manifest, createdAt: new Date() });
        if (write.tag !== undefined) this.tags.set(`${manifest.repository}:${write.tag}`, manifest.digest);
      },
      deleteTag: async (repository, tag) => this.tags.delete(`${repository}:${tag}`),
      deleteManifest: async (repository, digest) => this.manifests.delete(`${repository}@${digest}`),
    };
    return new Proxy(store as MetadataStore, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        // getTaggedManifest is optional: the service asks whether the store has it, and resolves the tag without it.
        if (value === undefined && typeof property === 'string' && property !== 'then' && property !== 'getTaggedManifest') {
          throw new Error(`the manifest service should not call MetadataStore.${property} here`);
        }
        return value;
      },
    });
  }
}

async function refusal(promise: Promise<unknown>): Promise<RegistryError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(RegistryError);
  return error as RegistryError;
}

describe('ManifestService', () => {
  let metadata: RecordingMetadata;
  let service: RegistryService;
  let config: string;
  let layer: string;
  const configText = '{"architecture":"amd64","os":"linux"}';
  const layerText = '0123456789'.repeat(3);

  beforeEach(() => {
    metadata = new RecordingMetadata();
    service = createRegistryService({ metadata: metadata.asStore(), blobs: {} as BlobStore });
    config = metadata.link('app', configText);
    layer = metadata.link('app', layerText);
  });

  const image = (configSize = Buffer.byteLength(configText), layerSize = Buffer.byteLength(layerText), mediaType = OCI_MANIFEST) =>
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: {
        mediaType: mediaType === OCI_MANIFEST ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json',
        digest: config,
        size: configSize,
      },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: layerSize }],
    });

  describe('lookups of a reference that is neither a tag nor a digest', () => {
    it.each(['.INVALID_MANIFEST_NAME', 'a'.repeat(129), '-x'])('GET and DELETE of %j are MANIFEST_UNKNOWN', async (reference) => {
      for (const error of [await refusal(service.manifests.get('app', reference)), await refusal(service.manifests.delete('app', reference))]) {
        expect([error.code, error.status]).toEqual(['MANIFEST_UNKNOWN', 404]);
        expect(error.detail).toEqual({ tag: reference });
      }
    });

    it('a push to it stays TAG_INVALID, before the body is read', async () => {
      const unread = (async function* () {
        throw new Error('the body must not be read');
      })();
      const error = await refusal(service.manifests.put('app', '.INVALID_MANIFEST_NAME', unread, OCI_MANIFEST));
      expect([error.code, error.status]).toEqual(['TAG_INVALID', 400]);
    });

    it('a malformed digest stays DIGEST_INVALID for GET, DELETE and PUT', async () => {
      for (const attempt of [
        service.manifests.get('app', 'sha256:zz'),
        service.manifests.delete('app', 'sha256:zz'),
        service.manifests.put('app', 'sha256:zz', body(image()), OCI_MANIFEST),
      ]) {
        expect((await refusal(attempt)).code).toBe('DIGEST_INVALID');
      }
    });
  });

  describe('descriptor sizes', () => {
    it('stores a manifest whose sizes are those of the stored blobs', async () => {
      const pushed = await service.manifests.put('app', 'v1', body(image()), OCI_MANIFEST);
      expect(pushed.digest).toBe(sha256(image()));
      expect(metadata.writes).toHaveLength(1);
    });

    it.each([
      ['layer one byte short', () => image(undefined, 29), 'layers[0]', () => layer, 29, 30],
      ['layer one byte long', () => image(undefined, 31), 'layers[0]', () => layer, 31, 30],
      ['layer size 0', () => image(undefined, 0), 'layers[0]', () => layer, 0, 30],
      ['config size differs', () => image(2), 'config', () => config, 2, 37],
      ['schema2 config size differs', () => image(1000, undefined, DOCKER_MANIFEST), 'config', () => config, 1000, 37],
    ])('refuses a %s with MANIFEST_INVALID and stores nothing', async (_what, manifest, descriptor, digest, size, storedSize) => {
      const text = manifest();
      const contentType = JSON.parse(text).mediaType as string;
      for (const reference of ['v1', sha256(text)]) {
        const error = await refusal(service.manifests.put('app', reference, body(text), contentType));
        expect([error.code, error.status]).toEqual(['MANIFEST_INVALID', 400]);
        expect(error.message).toBe(
          `manifest ${descriptor} (${digest()}) declares size ${size}, but the stored blob has ${storedSize} bytes`,
        );
        expect(error.detail).toEqual({ descriptor, digest: digest(), size, storedSize });
      }
      expect(metadata.writes).toEqual([]);
      expect((await refusal(service.manifests.get('app', 'v1', [OCI_MANIFEST]))).code).toBe('MANIFEST_UNKNOWN');
    });

    it.each([-1, -2, -9007199254740991])('refuses a layer size of %d naming the descriptor, and stores nothing', async (size) => {
      const error = await refusal(service.manifests.put('app', 'v1', body(image(undefined, size)), OCI_MANIFEST));
      expect([error.code, error.status]).toEqual(['MANIFEST_INVALID', 400]);
      expect(error.message).toContain(`layers[0].size: must be a non-negative integer, not ${size} (descriptor ${layer})`);
      expect((error.detail as { issues: unknown[] }).issues[0]).toMatchObject({ path: 'layers[0].size', digest: layer });
      expect(metadata.writes).toEqual([]);
    });

    it('reports a missing blob before any size', async () => {
      metadata.links.delete(`app@${layer}`);
      const error = await refusal(service.manifests.put('app', 'v1', body(image(5)), OCI_MANIFEST));
      expect(error.code).toBe('MANIFEST_BLOB_UNKNOWN');
      expect(metadata.writes).toEqual([]);
    });

    it('does not compare a foreign layer fetched from its urls, nor a subject', async () => {
      const text = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 37 },
        layers: [
          {
            mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
            digest: layer,
            size: 12345,
            urls: ['https://example.com/layer'],
          },
        ],
        subject: { mediaType: OCI_MANIFEST, digest: sha256('elsewhere'), size: 1 },
      });
      await service.manifests.put('app', 'foreign', body(text), OCI_MANIFEST);
      expect(metadata.writes).toHaveLength(1);
    });

    describe.each([
      ['OCI index', OCI_INDEX, OCI_MANIFEST],
      ['Docker list', DOCKER_LIST, DOCKER_MANIFEST],
    ])('%s children', (_name, listType, childType) => {
      const list = (digest: string, size: number) =>
        JSON.stringify({
          schemaVersion: 2,
          mediaType: listType,
          manifests: [{ mediaType: childType, digest, size, platform: { architecture: 'amd64', os: 'linux' } }],
        });

      it('are compared with the stored manifest size', async () => {
        const child = image(undefined, undefined, childType);
        const { digest } = await service.manifests.put('app', 'child', body(child), childType);
        await service.manifests.put('app', 'good', body(list(digest, child.length)), listType);
        expect(metadata.writes).toHaveLength(2);
        const error = await refusal(service.manifests.put('app', 'bad', body(list(digest, child.length + 1)), listType));
        expect(error.code).toBe('MANIFEST_INVALID');
        expect(error.message).toBe(
          `manifest manifests[0] (${digest}) declares size ${child.length + 1}, but the stored manifest has ${child.length} bytes`,
        );
        expect(error.detail).toEqual({ descriptor: 'manifests[0]', digest, size: child.length + 1, storedSize: child.length });
        expect(metadata.writes).toHaveLength(2);
        expect(metadata.tags.has('app:bad')).toBe(false);
      });

      it('of size -1 are refused', async () => {
        const child = image(undefined, undefined, childType);
        const { digest } = await service.manifests.put('app', 'child', body(child), childType);
        const error = await refusal(service.manifests.put('app', 'bad', body(list(digest, -1)), listType));
        expect(error.message).toContain(`manifests[0].size: must be a non-negative integer, not -1 (descriptor ${digest})`);
        expect(metadata.writes).toHaveLength(1);
      });
    });

    it('does not compare the size of a child stored as signed schema1 (signed bytes or payload?)', async () => {
      const digest = sha256('schema1 payload');
      metadata.manifests.set(`app@${digest}`, {
        repository: 'app',
        digest,
        mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
        size: 4000,
        content: new Uint8Array(),
        createdAt: new Date(),
      });
      const list = JSON.stringify({
        schemaVersion: 2,
        mediaType: DOCKER_LIST,
        manifests: [
          { mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws', digest, size: 3000, platform: { architecture: 'amd64', os: 'linux' } },
        ],
      });
      await service.manifests.put('app', 'old', body(list), DOCKER_LIST);
      expect(metadata.writes).toHaveLength(1);
    });
  });

  describe('Content-Type against the mediaType field', () => {
    it.each([['text/plain'], ['text/plain; charset=utf-8'], ['application/json'], ['application/octet-stream'], [undefined]])(
      'refuses a manifest declaring its mediaType pushed as %s, and stores nothing',
      async (contentType) => {
        const error = await refusal(service.manifests.put('app', 'v1', body(image()), contentType));
        expect([error.code, error.status]).toEqual(['MANIFEST_INVALID', 400]);
        expect(error.message).toContain(`manifest mediaType "${OCI_MANIFEST}" requires Content-Type "${OCI_MANIFEST}"`);
        expect(metadata.writes).toEqual([]);
      },
    );

    it('takes the type from a manifest Content-Type when the manifest has no mediaType (helm)', async () => {
      const helm = JSON.stringify({ ...JSON.parse(image()), mediaType: undefined });
      await service.manifests.put('app', 'chart', body(helm), OCI_MANIFEST);
      expect(metadata.writes[0]?.manifest.mediaType).toBe(OCI_MANIFEST);
    });
  });
});
