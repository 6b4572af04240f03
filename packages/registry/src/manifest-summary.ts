import type { ManifestSummary, StoredManifest } from '@berth/core';
import {
  MediaType,
  parseImageConfigSummary,
  platformOf,
  readSchema1Payload,
  schema1PayloadOf,
  summarizeImage,
  summarizeList,
  type ParsedManifest,
} from '@berth/core/internal';
import { readConfigForSummary } from './image-config-reader.js';
import type { ResolvedOptions } from './options.js';

const IMAGE_CONFIG_TYPES = new Set<string>([MediaType.OciImageConfig, MediaType.DockerImageConfig]);

/**
 * The summary browsing shows for a manifest being pushed, worked out once here so that listing tags never
 * reads manifests: an image's config is read for its platform (one small blob), a list's children and a
 * schema1 manifest's layer sizes are what the push just checked. Never fails a push: what cannot be read is left out.
 */
export async function summarizePushedManifest(
  options: ResolvedOptions,
  repository: string,
  manifest: ParsedManifest,
  bytes: Uint8Array,
  { children, blobSizes }: { children: ReadonlyMap<string, StoredManifest | undefined>; blobSizes: ReadonlyMap<string, number | undefined> },
): Promise<ManifestSummary> {
  switch (manifest.kind) {
    case 'docker-list':
    case 'oci-index': {
      const sizes = new Map<string, number>();
      for (const [digest, child] of children) if (child) sizes.set(digest, child.summary?.totalSize ?? child.size);
      return summarizeList(manifest, sizes);
    }
    case 'schema1': {
      // schema1 declares no layer sizes: the repository's links have them (each blob once).
      const layerBytes = [...blobSizes.values()].reduce<number>((total, size) => total + (size ?? 0), 0);
      return { totalSize: bytes.byteLength + layerBytes, platforms: schema1Platforms(bytes) };
    }
    default: {
      const config = manifest.config;
      const configBytes =
        config && IMAGE_CONFIG_TYPES.has(config.mediaType)
          ? await readConfigForSummary(options, repository, config.digest).catch(() => undefined)
          : undefined;
      const platform = configBytes && parseImageConfigSummary(configBytes)?.platform;
      return summarizeImage(manifest, bytes.byteLength, platform);
    }
  }
}

/** A schema1 manifest names its architecture; the OS is in its newest v1 history entry (Linux when absent). */
function schema1Platforms(bytes: Uint8Array): ManifestSummary['platforms'] {
  try {
    const payload = readSchema1Payload(schema1PayloadOf(bytes));
    const newest = payload.history[0] ? (JSON.parse(payload.history[0].v1Compatibility) as Record<string, unknown>) : {};
    const platform = platformOf({ os: newest['os'] ?? 'linux', architecture: payload.architecture });
    return platform ? [platform] : [];
  } catch {
    return [];
  }
}
