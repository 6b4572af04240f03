import { RegistryError } from '../errors.js';
import type { Descriptor, ParsedManifest } from './types.js';

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

/** A descriptor whose content the repository must hold, and where it sits in the manifest (`config`, `layers[2]`, `manifests[0]`). */
export interface ReferencedDescriptor {
  path: string;
  descriptor: Descriptor;
  /** A blob (config, layer) or a child manifest (of a list or index). */
  target: 'blob' | 'manifest';
}

/**
 * Every descriptor of a manifest that names content the repository must hold, in document order, each
 * with its own declared size: the config, the layers it does not fetch elsewhere, the children of a list
 * or index. Signed schema1 has no sizes (its fsLayers say -1), so it has none here.
 */
export function referencedDescriptors(manifest: ParsedManifest): ReferencedDescriptor[] {
  if (manifest.kind === 'schema1') return [];
  const referenced: ReferencedDescriptor[] = [];
  if (manifest.config) referenced.push({ path: 'config', descriptor: manifest.config, target: 'blob' });
  manifest.layers.forEach((layer, index) => {
    if (!isExternalLayer(layer)) referenced.push({ path: `layers[${index}]`, descriptor: layer, target: 'blob' });
  });
  manifest.manifests.forEach((child, index) => {
    referenced.push({ path: `manifests[${index}]`, descriptor: child, target: 'manifest' });
  });
  return referenced;
}

/** A descriptor whose declared size is not that of the content stored under its digest. */
export interface DescriptorSizeMismatch {
  /** Where it sits in the manifest: `config`, `layers[0]`, `manifests[1]`. */
  descriptor: string;
  digest: string;
  /** The size the manifest declares. */
  size: number;
  /** The size of the blob or manifest stored under the digest. */
  storedSize: number;
  target: 'blob' | 'manifest';
}

/**
 * Compares each referenced descriptor's size with the size of what is stored under its digest
 * (`storedSize` answers undefined for content it does not know, or whose size it cannot vouch for) and
 * refuses the manifest with MANIFEST_INVALID naming the first descriptor that differs, its digest and both
 * sizes: a client that trusts the manifest would read the wrong number of bytes.
 */
export function assertDescriptorSizes(
  manifest: ParsedManifest,
  storedSize: (reference: ReferencedDescriptor) => number | undefined,
): void {
  const mismatches: DescriptorSizeMismatch[] = [];
  for (const reference of referencedDescriptors(manifest)) {
    const stored = storedSize(reference);
    if (stored === undefined || stored === reference.descriptor.size) continue;
    mismatches.push({
      descriptor: reference.path,
      digest: reference.descriptor.digest,
      size: reference.descriptor.size,
      storedSize: stored,
      target: reference.target,
    });
  }
  const [first] = mismatches;
  if (first === undefined) return;
  const more = mismatches.length - 1;
  const others = more === 0 ? '' : `; ${more} more descriptor${more === 1 ? '' : 's'} differ${more === 1 ? 's' : ''} too`;
  throw new RegistryError(
    'MANIFEST_INVALID',
    `manifest ${first.descriptor} (${first.digest}) declares size ${first.size}, but the stored ${first.target} has ${first.storedSize} bytes${others}`,
    {
      detail: {
        descriptor: first.descriptor,
        digest: first.digest,
        size: first.size,
        storedSize: first.storedSize,
        ...(more > 0 && { mismatches: mismatches.slice(0, 20).map(({ target: _target, ...mismatch }) => mismatch) }),
      },
    },
  );
}
