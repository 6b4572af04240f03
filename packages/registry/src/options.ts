import type { BlobStore, MetadataStore } from '@berth/core';
import { MAX_MANIFEST_BYTES } from '@berth/core';

export interface RegistryServiceOptions {
  metadata: MetadataStore;
  blobs: BlobStore;
  /**
   * Mount a blob into a repository on `POST ?mount=<digest>` without `from` when the registry already holds it.
   * On by default: content addressing makes knowing the digest enough to name the content.
   */
  automaticMount?: boolean;
  /** Largest manifest accepted, in bytes (default 4 MiB, like the reference). */
  maxManifestBytes?: number;
  /** Page size of tag and catalog listings when the client gives no `n`. */
  defaultPageSize?: number;
  /** Largest `n` honoured for tag and catalog listings. */
  maxPageSize?: number;
}

export type ResolvedOptions = Required<RegistryServiceOptions>;

export function resolveOptions(options: RegistryServiceOptions): ResolvedOptions {
  return {
    automaticMount: true,
    maxManifestBytes: MAX_MANIFEST_BYTES,
    defaultPageSize: 1000,
    maxPageSize: 10_000,
    ...options,
  };
}
