export * from './manifest-summary.js';
export * from './image-config.js';
export * from './referrer-groups.js';
export * from './schema1-outcome.js';
