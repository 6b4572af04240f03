/**
 * The pure core of berth: the storage interfaces an adapter implements, the error every layer reports
 * with, digests, and the types of the access model, events, quotas and retention rules that the
 * registry's options and hooks use. Manifest parsing, negotiation and conversion are berth's own
 * business and not exported.
 *
 * @packageDocumentation
 */
export { ERROR_CODES, RegistryError, isRegistryError, type ErrorCode, type RegistryErrorOptions } from './errors.js';
export { DIGEST_ALGORITHMS, createDigestHash, digestOf, isValidDigest, parseDigest, type DigestAlgorithm, type ParsedDigest } from './digest.js';
export { satisfiableRange } from './byte-ranges.js';
export { chunksAreHandedOver, handOverChunks } from './handed-over-chunks.js';
export type * from './stores/blob-store.js';
export type * from './stores/metadata-store.js';
export type * from './stores/event-outbox.js';
export type * from './stores/mirror-cache.js';
export { exceedsQuota, quotaExceededError, type QuotaPolicy, type RepositoryQuota } from './usage/quota.js';
export { ANONYMOUS, principalName, userPrincipal, type Principal } from './access/principal.js';
export { SCOPE_ACTIONS, type RepositoryAction, type Scope, type ScopeAction } from './access/scope.js';
export type { AccessRule } from './access/rules.js';
export type { RegistryOperation } from './access/operation-scopes.js';
export {
  EVENTS_MEDIA_TYPE,
  EVENT_ACTIONS,
  type EventAction,
  type EventActor,
  type EventEnvelope,
  type EventRequest,
  type EventSource,
  type EventTarget,
  type RegistryEvent,
  type RequestContext,
} from './events/registry-event.js';
export type { PullChange, RegistryChange } from './events/registry-change.js';
export { DEFAULT_MIRROR_TAG_TTL_MS, type MirrorRule } from './mirror/mirror-rule.js';
export type { RetentionRule } from './retention/retention-policy.js';
export type { RetentionReason } from './retention/select-tags.js';
export type { Descriptor, Platform } from './manifest/types.js';
export type { PlatformPreference } from './platform.js';
export type { LibtrustKey, LibtrustPublicJwk } from './schema1/libtrust-key.js';
export type { GoValue } from './schema1/go-json.js';
export type { ImageConfigSummary, ImageHistoryEntry } from './browse/image-config.js';
export type { ReferrerGroup } from './browse/referrer-groups.js';
export type { Schema1Outcome } from './browse/schema1-outcome.js';
