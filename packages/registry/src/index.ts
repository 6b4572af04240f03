export * from './body.js';
export * from './options.js';
export * from './blob-service.js';
export * from './upload-service.js';
export * from './manifest-service.js';
export * from './listing-service.js';
export * from './registry-service.js';
