import type { ManifestKind } from '../media-types.js';

/** An image platform (OS, architecture, variant) as an index or manifest list names it. */
export interface Platform {
  /** CPU architecture in Go's naming (`amd64`, `arm64`, …). */
  architecture: string;
  /** Operating system in Go's naming (`linux`, `windows`, …). */
  os: string;
  /** CPU variant, for example `v8` for arm64 or `v7` for arm. */
  variant?: string;
  /** Operating system version the image needs (Windows builds, for example). */
  'os.version'?: string;
  /** Operating system features the image needs (for example `win32k`). */
  'os.features'?: string[];
  /** CPU features the image needs (Docker manifest lists only). */
  features?: string[];
}

/** An OCI content descriptor, as found in manifests, indexes and referrers responses. */
export interface Descriptor {
  /** Media type of the referenced content. */
  mediaType: string;
  /** Digest of the referenced content. */
  digest: string;
  /** Size of the referenced content in bytes. */
  size: number;
  /** Other places the content may be downloaded from (for example foreign layers). */
  urls?: string[];
  /** Arbitrary string metadata attached to the descriptor. */
  annotations?: Record<string, string>;
  /** The platform an image in an index or manifest list runs on. */
  platform?: Platform;
  /** Type of the artifact, for referrers of an OCI subject. */
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
