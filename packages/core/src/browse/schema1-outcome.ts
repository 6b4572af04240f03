import type { ParsedManifest } from '../manifest/types.js';
import type { ManifestKind } from '../media-types.js';
import { convertibleToSchema1 } from '../negotiate.js';
import { DEFAULT_PLATFORMS, formatPlatform, selectPlatformChild, type PlatformPreference } from '../platform.js';
import { kindOfContentType } from '../media-types.js';

/** What a schema1 client (an old Docker) gets when it pulls a tag of a manifest, in words for a page. */
export interface Schema1Outcome {
  /** `converted`: berth converts to signed schema1; `stored`: the manifest is schema1; `none`: the client is refused. */
  servedAs: 'converted' | 'stored' | 'none';
  /** One sentence saying what the client gets and why. */
  note: string;
}

/**
 * The negotiation rule for a client that wants schema1 (see `negotiate`), told about a manifest: stored
 * schema1 is served as it is, schema2 and convertible OCI images are converted, a list or index serves its
 * child for the registry's preferred platforms (whose own kind decides).
 */
export function schema1Outcome(
  kind: ManifestKind,
  parsed: () => ParsedManifest,
  platforms: readonly PlatformPreference[] = DEFAULT_PLATFORMS,
): Schema1Outcome {
  const client = 'a schema1 client pulling a tag of this';
  switch (kind) {
    case 'schema1':
      return { servedAs: 'stored', note: `${client} gets the stored schema1 manifest as it is` };
    case 'schema2':
      return { servedAs: 'converted', note: `${client} gets a signed schema1 manifest converted from it (another digest)` };
    case 'oci-manifest': {
      const reason = convertibleToSchema1(parsed());
      return reason === undefined
        ? { servedAs: 'converted', note: `${client} gets a signed schema1 manifest converted from it (another digest)` }
        : { servedAs: 'none', note: `${client} is refused: ${reason}` };
    }
    case 'docker-list':
    case 'oci-index': {
      const child = selectPlatformChild(parsed().manifests, platforms);
      if (!child) return { servedAs: 'none', note: `${client} is refused: no child for ${platforms.map(formatPlatform).join(', ')}` };
      const childKind = kindOfContentType(child.mediaType);
      const how = childKind === 'schema1' ? 'as stored' : 'converted to signed schema1';
      return {
        servedAs: childKind === 'schema1' ? 'stored' : 'converted',
        note: `${client} gets the ${formatPlatform(child.platform!)} image (${child.digest}), ${how}`,
      };
    }
  }
}
