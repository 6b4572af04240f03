export * from './retention-policy.js';
export * from './select-tags.js';
export * from './tag-pattern.js';
export * from './referrer-tag.js';
