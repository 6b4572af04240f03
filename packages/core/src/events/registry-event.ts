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
  mediaType?: string;
  digest?: string;
  size?: number;
  length?: number;
  repository: string;
  url?: string;
  tag?: string;
  fromRepository?: string;
}

/** The request that caused the event. `addr` is the client's `address:port`, `host` the Host header. */
export interface EventRequest {
  id: string;
  addr?: string;
  host?: string;
  method: string;
  useragent: string;
}

/** Who acted: the signed-in user's name, left out for anonymous requests (as distribution does). */
export interface EventActor {
  name?: string;
}

/** Which registry instance saw the event: `addr` is `hostname:port`, `instanceID` stable per process. */
export interface EventSource {
  addr?: string;
  instanceID?: string;
}

/** One notification, shaped exactly like distribution's, so receivers written for it work unchanged. */
export interface RegistryEvent {
  /** Unique and stable across retries: receivers de-duplicate on it. */
  id: string;
  /** RFC 3339 time the change was made. */
  timestamp: string;
  action: EventAction;
  target: EventTarget;
  request: EventRequest;
  actor: EventActor;
  source: EventSource;
}

/** The webhook body: one or more events. */
export interface EventEnvelope {
  events: RegistryEvent[];
}

/**
 * The request an operation runs for, as the HTTP layer saw it. Everything is optional: a service call
 * made without HTTP (a test, a job) records what it knows.
 */
export interface RequestContext {
  principal?: Principal;
  requestId?: string;
  /** The client's address as `address:port` (or what a trusted proxy reported). */
  clientAddress?: string;
  /** The Host header. */
  host?: string;
  method?: string;
  userAgent?: string;
  /** Scheme and host the registry is reached at (`https://registry.example.com`), for the event's `url`. */
  origin?: string;
}
