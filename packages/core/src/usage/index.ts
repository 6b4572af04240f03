export * from './byte-size.js';
export * from './quota.js';
