import { BlobService } from './blob-service.js';
import { BrowseService } from './browse-service.js';
import { EventHub } from './events/event-hub.js';
import { EventRecorder } from './events/event-recorder.js';
import { GarbageCollector } from './garbage-collector.js';
import { ListingService } from './listing-service.js';
import { ManifestService } from './manifest-service.js';
import { MirrorSource } from './mirror/mirror-source.js';
import type { RegistryObserver } from './observer.js';
import { resolveOptions, type RegistryServiceOptions, type ResolvedOptions } from './options.js';
import { UploadService } from './upload-service.js';

/** The registry's work over the two stores, without HTTP: one service per resource the API exposes. */
export interface RegistryService {
  /** The options with every default applied. */
  readonly options: ResolvedOptions;
  /** Blob reads, deletes and mounts. */
  readonly blobs: BlobService;
  /** Blob upload sessions. */
  readonly uploads: UploadService;
  /** Manifest pushes, pulls (with negotiation) and deletes. */
  readonly manifests: ManifestService;
  /** Tag, catalog and referrers listings. */
  readonly listing: ListingService;
  /** What the web UI's pages read: repository and tag summaries, manifest detail. */
  readonly browse: BrowseService;
  /** The online garbage collector: `gc.run({ dryRun, deleteUntagged, grace, retention })`. */
  readonly gc: GarbageCollector;
  /** Where the service's work is reported (the `observer` option); a collector reports its runs here too. */
  readonly observer: Required<RegistryObserver>;
  /** Builds the events of changes and pulls; its hub holds the in-process listeners. */
  readonly events: EventRecorder;
}

/** Creates the registry service over the stores of the options. */
export function createRegistryService(options: RegistryServiceOptions): RegistryService {
  const resolved = resolveOptions(options);
  const events = new EventRecorder({
    hub: new EventHub(resolved.onEventListenerError),
    endpoints: resolved.webhooks,
    pullEvents: resolved.pullEvents,
    ...(resolved.eventSource && { source: resolved.eventSource }),
  });
  // One mirror per service: its fetches in flight are shared by every pull of this process.
  const mirror = new MirrorSource(resolved);
  const manifests = new ManifestService(resolved, events, mirror);
  return {
    options: resolved,
    events,
    blobs: new BlobService(resolved, events, mirror),
    uploads: new UploadService(resolved, events, mirror),
    manifests,
    listing: new ListingService(resolved),
    browse: new BrowseService(resolved),
    // Retention removes tags the way a DELETE of them does, events included.
    gc: new GarbageCollector(resolved, manifests, mirror.cache),
    observer: resolved.observer,
  };
}
