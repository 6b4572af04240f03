import type { ManifestKind } from '../media-types.js';

/** An image platform (OS, architecture, variant) as an index or manifest list names it. */
export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  features?: string[];
}

/** An OCI content descriptor, as found in manifests, indexes and referrers responses. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

/** What berth needs to know of a manifest, whatever its format. The bytes themselves stay untouched. */
export interface ParsedManifest {
  kind: ManifestKind;
  /** The media type the manifest is served with (Content-Type). */
  mediaType: string;
  /** The content digest: sha256 of the bytes (for signed schema1, of the payload without signatures). */
  digest: string;
  config?: Descriptor;
  /** Image layers in order, base first. Signed schema1 fsLayers appear here base first, size -1. */
  layers: Descriptor[];
  /** Children of a manifest list or index. */
  manifests: Descriptor[];
  subject?: Descriptor;
  /** For referrers: `artifactType`, else the config media type of an image manifest. */
  artifactType?: string;
  annotations?: Record<string, string>;
  /** Blob digests that must exist in the repository before the manifest is accepted (deduplicated). */
  blobReferences: string[];
  /** Child manifest digests that must exist in the repository (deduplicated). */
  manifestReferences: string[];
}
