import { Readable } from 'node:stream';
import { RegistryError, digestOf, type ConvertedManifest, type StoredManifest, type LibtrustKey } from '@berth/core';
import {
  EMPTY_LAYER_BLOB,
  EMPTY_LAYER_DIGEST,
  MediaType,
  convertToSchema1,
  convertToSchema2,
  parseManifest,
  signSchema1Payload,
} from '@berth/core/internal';
import { readBoundedBody } from './body.js';
import { LruCache } from './conversion-cache.js';
import { MAX_CONFIG_BYTES } from './image-config-reader.js';
import { MissingBlobError } from './missing-blob.js';
import type { ResolvedOptions } from './options.js';
import { resolveSigningKey } from './signing-key.js';

/**
 * Conversions for older clients: schema2 (or an OCI image) to signed schema1, and an OCI image to
 * schema2. Every result is remembered in the metadata store under its own digest, linked to its source,
 * so the digest a client was shown can be pulled later; the first stored body wins, so every pull (and
 * every instance) serves the same bytes.
 */
export class ConversionService {
  private signingKey: Promise<LibtrustKey> | undefined;
  private readonly recent = new LruCache<string, ConvertedManifest>(1000);

  constructor(private readonly options: ResolvedOptions) {}

  /** `found`: a conversion the store returned with the tag's manifest, served when it is this one. */
  async toSchema1(source: StoredManifest, tag: string, found?: ConvertedManifest): Promise<ConvertedManifest> {
    if (found?.mediaType === MediaType.DockerSchema1Signed && found.tag === tag) return this.foundInStore('schema1', found);
    return this.remembered(source, 'schema1', `schema1\0${tag}`, async () => {
      const manifest = parseManifest(source.content, source.mediaType);
      if (!manifest.config) throw new RegistryError('MANIFEST_INVALID', 'manifest has no config to convert');
      const configBytes = await this.readConfig(source.repository, manifest.config.digest);
      const payload = convertToSchema1({ configBytes, layers: manifest.layers, repository: source.repository, tag });
      if (payloadNamesEmptyLayer(payload)) await this.ensureEmptyLayer(source.repository);
      const signed = signSchema1Payload(payload, await this.key());
      return { digest: digestOf(payload), mediaType: MediaType.DockerSchema1Signed, content: signed, tag };
    });
  }

  /** `found`: as for toSchema1. */
  async toSchema2(source: StoredManifest, found?: ConvertedManifest): Promise<ConvertedManifest> {
    if (found?.mediaType === MediaType.DockerSchema2 && found.tag === undefined) return this.foundInStore('schema2', found);
    return this.remembered(source, 'schema2', 'schema2', async () => {
      const content = convertToSchema2(source.content);
      return { digest: digestOf(content), mediaType: MediaType.DockerSchema2, content };
    });
  }

  private async remembered(
    source: StoredManifest,
    format: 'schema1' | 'schema2',
    variant: string,
    convert: () => Promise<Pick<ConvertedManifest, 'digest' | 'mediaType' | 'content' | 'tag'>>,
  ): Promise<ConvertedManifest> {
    const { metadata } = this.options;
    const key = `${source.repository}\0${source.digest}\0${variant}`;
    const cached = this.recent.get(key);
    // One indexed lookup confirms the conversion is still remembered (its source may have been deleted and pushed again).
    const hit = cached !== undefined && (await metadata.getConvertedManifest(source.repository, cached.digest)) !== undefined;
    this.options.observer.conversionCache({ format, hit });
    if (hit) return cached;
    const converted = await convert();
    await metadata.putConvertedManifest({ ...converted, repository: source.repository, sourceDigest: source.digest });
    const stored = (await metadata.getConvertedManifest(source.repository, converted.digest)) ?? {
      ...converted,
      repository: source.repository,
      sourceDigest: source.digest,
    };
    this.recent.set(key, stored);
    return stored;
  }

  /** A conversion the store found in the same lookup as the tag: nothing left to confirm. */
  private foundInStore(format: 'schema1' | 'schema2', found: ConvertedManifest): ConvertedManifest {
    this.options.observer.conversionCache({ format, hit: true });
    return found;
  }

  private key(): Promise<LibtrustKey> {
    this.signingKey ??= resolveSigningKey(this.options.metadata, this.options.schema1SigningKey).catch((error) => {
      this.signingKey = undefined;
      throw error;
    });
    return this.signingKey;
  }

  private async readConfig(repository: string, digest: string): Promise<Uint8Array> {
    const link = await this.options.metadata.blobLink(repository, digest);
    const stream = link && (await this.options.blobs.open(digest));
    if (!stream) {
      let cause: MissingBlobError | undefined;
      if (link) {
        cause = new MissingBlobError(repository, digest, 'conversion');
        this.options.observer.blobMissing({ repository, digest, use: 'conversion' });
      }
      // Not the client's fault (no 400): this form of the manifest cannot be had; pushing the image again repairs it.
      throw new RegistryError('MANIFEST_UNKNOWN', `the manifest cannot be converted: its config blob ${digest} is missing`, {
        detail: { digest },
        cause,
      });
    }
    return readBoundedBody(stream, MAX_CONFIG_BYTES, 'image config');
  }

  /** Converted manifests name the empty-layer blob for history entries without a layer: it must be pullable. */
  private async ensureEmptyLayer(repository: string): Promise<void> {
    const { blobs, metadata } = this.options;
    // Touched first, so a collector cannot remove the bytes between the stat and the link.
    await metadata.touchBlob(EMPTY_LAYER_DIGEST, EMPTY_LAYER_BLOB.byteLength);
    if (!(await blobs.stat(EMPTY_LAYER_DIGEST))) {
      const upload = await blobs.beginUpload();
      await blobs.appendUpload(upload.id, Readable.from([Buffer.from(EMPTY_LAYER_BLOB)]), 0);
      await blobs.commitUpload(upload.id, EMPTY_LAYER_DIGEST);
    }
    await metadata.linkBlob(repository, EMPTY_LAYER_DIGEST, EMPTY_LAYER_BLOB.byteLength);
  }
}

const EMPTY_LAYER_TEXT = Buffer.from(EMPTY_LAYER_DIGEST);

function payloadNamesEmptyLayer(payload: Uint8Array): boolean {
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).includes(EMPTY_LAYER_TEXT);
}
