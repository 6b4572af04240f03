export * from './mirror-rule.js';
export * from './auth-challenge.js';
