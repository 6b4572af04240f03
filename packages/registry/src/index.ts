/**
 * The berth registry without HTTP: {@link createRegistryService} runs pushes, pulls, mounts, deletes,
 * listings, events and garbage collection over a metadata store and a blob store. `@berth/koa` puts it
 * behind the Distribution API; use this package directly to drive a registry from code or another framework.
 *
 * @packageDocumentation
 */
export { createRegistryService, type RegistryService } from './registry-service.js';
export type { MirrorLog, RegistryServiceOptions, ResolvedOptions } from './options.js';
export type { MirrorSource, MirrorTarget, MirroredBlob, MirroredManifest } from './mirror/mirror-source.js';
export type { UpstreamTimeouts } from './mirror/upstream-client.js';
export type { ByteStream } from './body.js';
export type { BlobContent, BlobService, MountOptions } from './blob-service.js';
export type { ChunkRange, UploadService } from './upload-service.js';
export type { ManifestService, PushedManifest, ServedManifest } from './manifest-service.js';
export type {
  BrowseService,
  BrowsePage,
  BrowsedChild,
  BrowsedReferrer,
  ManifestDetail,
  RepositoryBrowseRequest,
  TagBrowseRequest,
} from './browse-service.js';
export type { ListingService, Page, PageRequest, ReferrersIndex } from './listing-service.js';
export {
  DEFAULT_GC_GRACE_MS,
  isCollectorBusy,
  type GarbageCollector,
  type GcPhase,
  type GcProgress,
  type GcRunOptions,
  type GcSummary,
  type RetentionSummary,
} from './garbage-collector.js';
export type { RetentionRemoval } from './retention-pass.js';
export { MissingBlobError } from './missing-blob.js';
export type { MirrorReadOutcome, MissingBlobUse, NegotiationOutcome, RegistryObserver } from './observer.js';
export type { EventHub, ListenerErrorHandler, RegistryEventListener } from './events/event-hub.js';
export type { EventRecorder, EventRecorderOptions, EventSink, PreparedEvent } from './events/event-recorder.js';
export type { ResolvedWebhookEndpoint, WebhookEndpoint } from './events/webhook-endpoint.js';
export type { DeliveryLog, EndpointStatus } from './events/webhook-delivery.js';
