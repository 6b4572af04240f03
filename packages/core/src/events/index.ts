export * from './registry-event.js';
export type * from './registry-change.js';
export * from './build-event.js';
