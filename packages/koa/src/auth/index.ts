export * from './basic-auth.js';
export * from './token-auth.js';
export * from './token-service.js';
export { externalUrl } from './challenge.js';
