import { BlobService } from './blob-service.js';
import { ListingService } from './listing-service.js';
import { ManifestService } from './manifest-service.js';
import type { RegistryObserver } from './observer.js';
import { resolveOptions, type RegistryServiceOptions, type ResolvedOptions } from './options.js';
import { UploadService } from './upload-service.js';

/** The registry's work over the two stores, without HTTP: one service per resource the API exposes. */
export interface RegistryService {
  readonly options: ResolvedOptions;
  readonly blobs: BlobService;
  readonly uploads: UploadService;
  readonly manifests: ManifestService;
  readonly listing: ListingService;
  /** Where the service's work is reported (the `observer` option); a collector reports its runs here too. */
  readonly observer: Required<RegistryObserver>;
}

export function createRegistryService(options: RegistryServiceOptions): RegistryService {
  const resolved = resolveOptions(options);
  return {
    options: resolved,
    blobs: new BlobService(resolved),
    uploads: new UploadService(resolved),
    manifests: new ManifestService(resolved),
    listing: new ListingService(resolved),
    observer: resolved.observer,
  };
}
