/**
 * An OCI / Docker container registry as Koa middleware. {@link createRegistry} returns the routes to
 * mount in a host's Koa app (or a plain Node request handler); {@link basicAuth}, {@link tokenAuth} and
 * {@link tokenService} are ready-made access checks; the rest are the types of its options and hooks.
 *
 * @packageDocumentation
 */
export { createRegistry, type CreateRegistryOptions, type Registry, type RegistryEvents } from './create-registry.js';
export { principalFromState, type AccessDecision, type AccessRequest, type Authorize } from './access-control.js';
export * from './auth/index.js';
export type { UiOptions } from './ui-api/registry-ui.js';
export type { UiSessionOptions } from './ui-api/ui-sessions.js';
export { consoleErrorLog, isClientDisconnect, logRequestErrors, type CallbackOptions, type ErrorLog } from './error-log.js';
export { BODY_ALREADY_READ } from './request-body.js';
export type { HealthOptions, Readiness } from './observability/health.js';
export type { MetricsEndpointOptions } from './observability/metrics-endpoint.js';
export type { MetricsOptions } from './observability/registry-metrics.js';
export { setRequestId } from './observability/request-id.js';
export { countReceivedBytes } from './observability/received-bytes.js';
// What a host's options, hooks and error handling use, so that it needs no other berth package for them.
export { RegistryError, isRegistryError, type ErrorCode } from '@berth/core';
export { EVENTS_MEDIA_TYPE, type EventAction, type RegistryEvent, type RequestContext } from '@berth/core';
export { MissingBlobError, type NegotiationOutcome, type RegistryObserver } from '@berth/registry';
export type { DeliveryLog, EndpointStatus, RegistryEventListener, WebhookEndpoint } from '@berth/registry';
