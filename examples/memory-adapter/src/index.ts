export { MemoryDatabase, type ConvertedRow, type ManifestRow } from './memory-database.js';
export { MemoryMetadataStore } from './memory-metadata-store.js';
export { MemoryBlobSpace, MemoryBlobStore } from './memory-blob-store.js';
