import type { ManifestSummary } from '../stores/metadata-store.js';
import type { ParsedManifest, Platform } from '../manifest/types.js';
import { formatPlatform } from '../platform.js';

/**
 * An image's summary: its own bytes, its config's and its layers' (as their descriptors declare them, which
 * the push checked against the blobs), and the config's platform when it is known.
 */
export function summarizeImage(manifest: ParsedManifest, manifestSize: number, configPlatform: Platform | undefined): ManifestSummary {
  const blobBytes = [manifest.config, ...manifest.layers].reduce((total, descriptor) => total + Math.max(descriptor?.size ?? 0, 0), 0);
  return { totalSize: manifestSize + blobBytes, platforms: configPlatform ? [configPlatform] : [] };
}

/**
 * A list's or index's summary: the sum over its children (their own totals, else their manifest size) and
 * the platforms its descriptors name. `unknown/unknown` children (build attestations) are no platform.
 */
export function summarizeList(manifest: ParsedManifest, childSizes: ReadonlyMap<string, number>): ManifestSummary {
  let totalSize = 0;
  const platforms = new Map<string, Platform>();
  for (const child of manifest.manifests) {
    totalSize += childSizes.get(child.digest) ?? child.size;
    const platform = child.platform && platformOf(child.platform);
    if (platform && platform.os !== 'unknown') platforms.set(formatPlatform(platform), platform);
  }
  return { totalSize, platforms: [...platforms.values()] };
}

/** The os, architecture and variant of a platform-like value; undefined unless os and architecture are strings. */
export function platformOf(value: unknown): Platform | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { os, architecture, variant } = value as Record<string, unknown>;
  if (typeof os !== 'string' || typeof architecture !== 'string' || os === '' || architecture === '') return undefined;
  return { os, architecture, ...(typeof variant === 'string' && variant !== '' && { variant }) };
}
