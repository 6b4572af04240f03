import { RegistryError } from '../errors.js';
import { MediaType } from '../media-types.js';
import { convertibleToSchema2 } from '../negotiate.js';
import { parseManifest } from './parse.js';
import type { Descriptor } from './types.js';

/**
 * Rewrites an OCI image manifest (image config, tar+gzip layers) as a Docker schema2 manifest for
 * clients that read schema2 but not OCI. The descriptors keep their digests and sizes, so no blob
 * changes; annotations have no place in schema2 and are dropped. Serialised as Docker does, with a
 * 3-space indent and `size` before `digest`, so the bytes are the same every time.
 */
export function convertToSchema2(ociManifestBytes: Uint8Array): Uint8Array {
  const manifest = parseManifest(ociManifestBytes, MediaType.OciManifest);
  const reason = manifest.kind === 'oci-manifest' ? convertibleToSchema2(manifest) : 'it is not an OCI image manifest';
  if (reason !== undefined || !manifest.config) {
    throw new RegistryError('MANIFEST_UNKNOWN', `cannot be served as schema2: ${reason ?? 'no config'}`);
  }
  const schema2 = {
    schemaVersion: 2,
    mediaType: MediaType.DockerSchema2,
    config: dockerDescriptor(manifest.config, MediaType.DockerImageConfig),
    layers: manifest.layers.map((layer) => dockerDescriptor(layer, MediaType.DockerLayerGzip)),
  };
  return new TextEncoder().encode(JSON.stringify(schema2, null, 3));
}

function dockerDescriptor(descriptor: Descriptor, mediaType: string) {
  return { mediaType, size: descriptor.size, digest: descriptor.digest };
}
