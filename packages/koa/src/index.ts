export * from './create-registry.js';
export type { AccessDecision, AccessRequest, Authorize } from './access-control.js';
export { principalFromState } from './access-control.js';
export * from './auth/index.js';
export { API_VERSION_HEADER } from './errors.js';
export { RegistryError, isRegistryError, type ErrorCode } from '@berth/core';
export type { DeliveryLog, EndpointStatus, RegistryEventListener, WebhookEndpoint } from '@berth/registry';
export { EVENTS_MEDIA_TYPE, type EventAction, type RegistryEvent, type RequestContext } from '@berth/core';
