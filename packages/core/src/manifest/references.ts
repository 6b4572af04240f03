import type { Descriptor } from './types.js';

// Layers a registry need not hold: their bytes live at `urls` (Windows base layers, licensed content).
const EXTERNAL_LAYER_PREFIXES = [
  'application/vnd.docker.image.rootfs.foreign.',
  'application/vnd.oci.image.layer.nondistributable.',
];

/** True for a foreign / non-distributable layer that says where to fetch it, so it may be absent here. */
export function isExternalLayer(layer: Descriptor): boolean {
  if (layer.urls === undefined || layer.urls.length === 0) return false;
  const mediaType = layer.mediaType.toLowerCase();
  return EXTERNAL_LAYER_PREFIXES.some((prefix) => mediaType.startsWith(prefix));
}

/** Digests in first-seen order, each once. */
export function uniqueDigests(descriptors: readonly Descriptor[]): string[] {
  return [...new Set(descriptors.map((descriptor) => descriptor.digest))];
}

/** The blobs an image manifest needs in the repository: its config and every layer it does not fetch elsewhere. */
export function imageBlobReferences(config: Descriptor, layers: readonly Descriptor[]): string[] {
  return uniqueDigests([config, ...layers.filter((layer) => !isExternalLayer(layer))]);
}
