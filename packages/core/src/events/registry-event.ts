import type { Principal } from '../access/principal.js';

/** The Content-Type of a webhook body, as distribution sends it. */
export const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';

/** What distribution reports for a blob pushed, pulled or mounted: it has no media type of its own. */
export const BLOB_EVENT_MEDIA_TYPE = 'application/octet-stream';

/** What an event reports: a push, a pull, a delete or a mount. */
export type EventAction = 'push' | 'pull' | 'delete' | 'mount';

/** Every event action, in a fixed order. */
export const EVENT_ACTIONS: readonly EventAction[] = ['push', 'pull', 'delete', 'mount'];

/**
 * What an event is about, with distribution's field names and meanings: `size` and `length` are both
 * the byte count of the blob or manifest; `url` is where to fetch it by digest; `tag` is set for a push
 * by tag and for a tag delete; `fromRepository` only for a mount. A delete carries the repository and
 * the digest (or the tag) only.
 */
export interface EventTarget {
  /** Media type of the manifest, or `application/octet-stream` for a blob. */
  mediaType?: string;
  /** Digest of the blob or manifest. */
  digest?: string;
  /** Byte count of the blob or manifest. */
  size?: number;
  /** Byte count of the blob or manifest (distribution sends it twice, as `size` and `length`). */
  length?: number;
  /** Repository the event happened in. */
  repository: string;
  /** Where to fetch the blob or manifest by digest. */
  url?: string;
  /** The tag pushed or deleted, when the request named one. */
  tag?: string;
  /** The repository a mounted blob came from (mounts only). */
  fromRepository?: string;
}

/** The request that caused the event. `addr` is the client's `address:port`, `host` the Host header. */
export interface EventRequest {
  /** The request's id, as in the registry's logs (empty when unknown). */
  id: string;
  /** The client's `address:port`. */
  addr?: string;
  /** The Host header of the request. */
  host?: string;
  /** HTTP method of the request (empty when unknown). */
  method: string;
  /** User-Agent header of the request (empty when none was sent). */
  useragent: string;
}

/** Who acted: the signed-in user's name, left out for anonymous requests (as distribution does). */
export interface EventActor {
  /** The signed-in user's name; absent for anonymous requests. */
  name?: string;
}

/** Which registry instance saw the event: `addr` is `hostname:port`, `instanceID` stable per process. */
export interface EventSource {
  /** The instance's `hostname:port`. */
  addr?: string;
  /** An id of the registry instance, stable while the process runs. */
  instanceID?: string;
}

/** One notification, shaped exactly like distribution's, so receivers written for it work unchanged. */
export interface RegistryEvent {
  /** Unique and stable across retries: receivers de-duplicate on it. */
  id: string;
  /** RFC 3339 time the change was made. */
  timestamp: string;
  /** What happened: push, pull, delete or mount. */
  action: EventAction;
  /** The blob, manifest or tag the event is about. */
  target: EventTarget;
  /** The HTTP request that caused the event. */
  request: EventRequest;
  /** Who made the request. */
  actor: EventActor;
  /** The registry instance that handled the request. */
  source: EventSource;
}

/** The webhook body: one or more events. */
export interface EventEnvelope {
  /** The events delivered in this body, oldest first. */
  events: RegistryEvent[];
}

/**
 * The request an operation runs for, as the HTTP layer saw it. Everything is optional: a service call
 * made without HTTP (a test, a job) records what it knows.
 */
export interface RequestContext {
  /** Who made the request, when signed in. */
  principal?: Principal;
  /** The request's id, reported as the event's `request.id`. */
  requestId?: string;
  /** The client's address as `address:port` (or what a trusted proxy reported). */
  clientAddress?: string;
  /** The Host header. */
  host?: string;
  /** HTTP method of the request. */
  method?: string;
  /** User-Agent header of the request. */
  userAgent?: string;
  /** Scheme and host the registry is reached at (`https://registry.example.com`), for the event's `url`. */
  origin?: string;
}
