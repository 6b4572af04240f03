export * from './principal.js';
export * from './scope.js';
export * from './grant.js';
export * from './rules.js';
export * from './operation-scopes.js';
