import type { AcceptedTypes } from './accept.js';
import { RegistryError } from './errors.js';
import type { ParsedManifest } from './manifest/types.js';
import { CONTENT_TYPE_OF_KIND, MediaType, type ManifestKind } from './media-types.js';
import { DEFAULT_PLATFORMS, formatPlatform, selectPlatformChild, type PlatformPreference } from './platform.js';

/** How the client named the manifest: a tag may be served in another format, a digest never. */
export type ReferenceKind = 'tag' | 'digest';

export interface NegotiationInput {
  /** The stored manifest's kind (from its stored media type, no parsing needed). */
  kind: ManifestKind;
  /** The stored manifest parsed; called only when the decision needs its contents. */
  parsed: () => ParsedManifest;
  reference: ReferenceKind;
  accepted: AcceptedTypes;
  /** Platforms to fall back to, in order, when a client cannot read a list or index. */
  platforms?: readonly PlatformPreference[];
}

/** What to send: the stored bytes, a child to negotiate again, a conversion to perform, or an error. */
export type Negotiation =
  | { action: 'serve-stored' }
  | { action: 'select-child'; digest: string }
  | { action: 'convert-to-schema1' }
  | { action: 'convert-to-schema2' }
  | { action: 'refuse'; error: RegistryError };

const SCHEMA1_TYPES = [MediaType.DockerSchema1Signed, MediaType.DockerSchema1];
const IMAGE_CONFIG_TYPES = new Set<string>([MediaType.OciImageConfig, MediaType.DockerImageConfig]);
const GZIP_LAYER_TYPES = new Set<string>([MediaType.OciLayerTarGzip, MediaType.DockerLayerGzip]);
const SCHEMA1_LAYER_TYPES = new Set<string>([...GZIP_LAYER_TYPES, MediaType.OciLayerTar]);

/**
 * The one negotiation rule of berth (see the README's table):
 * 1. by digest, the stored bytes, always;
 * 2. by tag, the stored bytes when the client accepts their type;
 * 3. a list or index the client does not accept: the child for the preferred platform, negotiated again;
 * 4. schema2 (or a convertible OCI image) for a client that wants schema1 or sent no specific type:
 *    converted to signed schema1; an OCI image for a client that accepts schema2 but not OCI: schema2;
 *    otherwise the stored bytes with their true type, which the client may still be able to read.
 */
export function negotiate(input: NegotiationInput): Negotiation {
  const { kind, accepted } = input;
  if (input.reference === 'digest' || kind === 'schema1') return { action: 'serve-stored' };
  if (accepted.accepts(CONTENT_TYPE_OF_KIND[kind])) return { action: 'serve-stored' };

  if (kind === 'docker-list' || kind === 'oci-index') return selectChild(input);

  const wantsSchema1 = SCHEMA1_TYPES.some((type) => accepted.accepts(type)) || !accepted.hasSpecificTypes;
  if (kind === 'schema2') return wantsSchema1 ? { action: 'convert-to-schema1' } : { action: 'serve-stored' };

  // An OCI image manifest the client did not ask for.
  const manifest = input.parsed();
  if (accepted.accepts(MediaType.DockerSchema2)) {
    if (convertibleToSchema2(manifest) === undefined) return { action: 'convert-to-schema2' };
  }
  if (!wantsSchema1) return { action: 'serve-stored' };
  const reason = convertibleToSchema1(manifest);
  if (reason === undefined) return { action: 'convert-to-schema1' };
  return {
    action: 'refuse',
    error: new RegistryError('MANIFEST_UNKNOWN', `OCI manifest found, but it cannot be converted to schema1: ${reason}`),
  };
}

function selectChild(input: NegotiationInput): Negotiation {
  const { manifests } = input.parsed();
  const platforms = input.platforms ?? DEFAULT_PLATFORMS;
  const child = selectPlatformChild(manifests, platforms);
  if (child) return { action: 'select-child', digest: child.digest };
  const available = manifests.filter((entry) => entry.platform).map((entry) => formatPlatform(entry.platform!));
  const wanted = platforms.map(formatPlatform).join(', ');
  return {
    action: 'refuse',
    error: new RegistryError(
      'MANIFEST_UNKNOWN',
      `no manifest for ${wanted} in this ${input.kind === 'oci-index' ? 'index' : 'manifest list'}; ` +
        `platforms available: ${available.length > 0 ? [...new Set(available)].join(', ') : 'none'}`,
      { detail: { platforms: available } },
    ),
  };
}

/** Why an OCI image manifest cannot become schema1, or undefined when it can. */
export function convertibleToSchema1(manifest: ParsedManifest): string | undefined {
  return imageReason(manifest, SCHEMA1_LAYER_TYPES, 'tar or tar+gzip');
}

/** Why an OCI image manifest cannot become schema2, or undefined when it can. */
export function convertibleToSchema2(manifest: ParsedManifest): string | undefined {
  return imageReason(manifest, GZIP_LAYER_TYPES, 'tar+gzip');
}

function imageReason(manifest: ParsedManifest, layerTypes: Set<string>, layerWords: string): string | undefined {
  if (manifest.artifactType !== undefined && !IMAGE_CONFIG_TYPES.has(manifest.artifactType)) {
    return `it is an artifact of type ${manifest.artifactType}`;
  }
  if (!manifest.config || !IMAGE_CONFIG_TYPES.has(manifest.config.mediaType)) {
    return `its config is ${manifest.config?.mediaType ?? 'missing'}, not an image config`;
  }
  const foreign = manifest.layers.find((layer) => !layerTypes.has(layer.mediaType) || layer.urls !== undefined);
  if (foreign) return `layer ${foreign.digest} is ${foreign.mediaType}${foreign.urls ? ' with urls' : ''}, not ${layerWords}`;
  return undefined;
}

/**
 * The conversion a pull by tag with this Accept would be served, if the stored manifest turns out to need
 * one: signed schema1 (made for the tag) for a client that wants schema1 and not schema2, schema2 for
 * one that reads schema2 but not OCI. Lets the store find a remembered conversion in the same lookup as
 * the tag; a wrong guess only costs the conversion's own lookup later.
 */
export function expectedConversion(accepted: AcceptedTypes): { mediaType: string; perTag: boolean } | undefined {
  const readsSchema2 = accepted.accepts(MediaType.DockerSchema2);
  const wantsSchema1 = SCHEMA1_TYPES.some((type) => accepted.accepts(type)) || !accepted.hasSpecificTypes;
  if (!readsSchema2) return wantsSchema1 ? { mediaType: MediaType.DockerSchema1Signed, perTag: true } : undefined;
  return accepted.accepts(MediaType.OciManifest) ? undefined : { mediaType: MediaType.DockerSchema2, perTag: false };
}
