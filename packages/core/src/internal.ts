/**
 * Everything in @berth/core, for berth's own packages (manifest formats, negotiation, schema1, the
 * access model's parsing and matching, ranges, quotas and retention compilation). Not a public API:
 * it changes without notice; import from `@berth/core` instead.
 *
 * @packageDocumentation
 */
export * from './errors.js';
export * from './digest.js';
export * from './byte-ranges.js';
export * from './reference.js';
export * from './media-types.js';
export type * from './manifest/types.js';
export type * from './stores/blob-store.js';
export type * from './stores/metadata-store.js';
export * from './accept.js';
export * from './handed-over-chunks.js';
export * from './keyed-mutex.js';
export * from './manifest/descriptor.js';
export * from './manifest/validate.js';
export * from './manifest/references.js';
export * from './manifest/schema2.js';
export * from './manifest/docker-list.js';
export * from './manifest/oci-manifest.js';
export * from './manifest/oci-index.js';
export * from './manifest/parse.js';
export * from './schema1/manifest.js';
export * from './platform.js';
export * from './negotiate.js';
export * from './manifest/to-schema2.js';
export * from './schema1/convert.js';
export * from './schema1/sign.js';
export * from './schema1/libtrust-key.js';
export * from './schema1/empty-layer.js';
export * from './access/index.js';
export * from './events/index.js';
export type * from './stores/event-outbox.js';
export type * from './stores/mirror-cache.js';
export * from './usage/index.js';
export * from './retention/index.js';
export * from './browse/index.js';
export * from './mirror/index.js';
