export { FsBlobStore, createFsBlobStore, type FsBlobStoreOptions } from './fs-blob-store.js';
export { FileRangeReader } from './file-range-reader.js';
