export * from './webhook-endpoint.js';
export * from './event-hub.js';
export * from './event-recorder.js';
export * from './webhook-delivery.js';
