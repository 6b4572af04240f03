/**
 * Everything in @berth/registry, for berth's own packages (the Koa layer's helpers, the webhook
 * worker, the services' constructors). Not a public API: it changes without notice; import from
 * `@berth/registry` instead.
 *
 * @packageDocumentation
 */
export * from './body.js';
export * from './options.js';
export * from './blob-service.js';
export * from './upload-service.js';
export * from './manifest-service.js';
export * from './listing-service.js';
export * from './garbage-collector.js';
export * from './registry-service.js';
export * from './conversion-service.js';
export * from './signing-key.js';
export * from './observer.js';
export * from './missing-blob.js';
export * from './events/index.js';
export * from './retention-pass.js';
