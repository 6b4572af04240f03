export * from './create-registry.js';
export * from './context.js';
export { API_VERSION_HEADER, registryErrors } from './errors.js';
