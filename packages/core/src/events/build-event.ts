import type { RegistryChange } from './registry-change.js';
import {
  BLOB_EVENT_MEDIA_TYPE,
  type EventSource,
  type EventTarget,
  type RegistryEvent,
  type RequestContext,
} from './registry-event.js';

/** What makes one event unique: the caller draws the id and reads the clock, so building stays pure. */
export interface EventIdentity {
  id: string;
  timestamp: Date;
}

/** The event distribution would send for `change`, made in the request `context` on instance `source`. */
export function buildEvent(change: RegistryChange, context: RequestContext, source: EventSource, identity: EventIdentity): RegistryEvent {
  return {
    id: identity.id,
    timestamp: identity.timestamp.toISOString(),
    action: change.action,
    target: targetOf(change, context.origin),
    request: {
      id: context.requestId ?? '',
      ...(context.clientAddress !== undefined && { addr: context.clientAddress }),
      ...(context.host !== undefined && { host: context.host }),
      method: context.method ?? '',
      useragent: context.userAgent ?? '',
    },
    actor: context.principal?.kind === 'user' ? { name: context.principal.name } : {},
    source: {
      ...(source.addr !== undefined && { addr: source.addr }),
      ...(source.instanceID !== undefined && { instanceID: source.instanceID }),
    },
  };
}

function targetOf(change: RegistryChange, origin: string | undefined): EventTarget {
  const { repository } = change;
  if (change.action === 'delete') {
    return change.kind === 'tag' ? { repository, tag: change.tag } : { repository, digest: change.digest };
  }
  const url = origin === undefined ? undefined : `${origin}/v2/${repository}/${change.kind === 'manifest' ? 'manifests' : 'blobs'}/${change.digest}`;
  const target: EventTarget = {
    mediaType: change.kind === 'manifest' ? change.mediaType : BLOB_EVENT_MEDIA_TYPE,
    digest: change.digest,
    size: change.size,
    length: change.size,
    repository,
    ...(url !== undefined && { url }),
  };
  if (change.kind === 'manifest' && change.tag !== undefined) target.tag = change.tag;
  if (change.action === 'mount') target.fromRepository = change.fromRepository;
  return target;
}

/**
 * True when an endpoint's `ignore` filter drops the event: its action is listed, or its target's media
 * type is (deletes carry none, so only an action filter drops them).
 */
export function isIgnored(event: RegistryEvent, ignore: { mediaTypes?: readonly string[]; actions?: readonly string[] } | undefined): boolean {
  if (ignore === undefined) return false;
  if (ignore.actions?.includes(event.action)) return true;
  const mediaType = event.target.mediaType;
  return mediaType !== undefined && ignore.mediaTypes?.includes(mediaType) === true;
}
