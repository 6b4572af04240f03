export { FsBlobStore, createFsBlobStore, type FsBlobStoreOptions } from './fs-blob-store.js';
