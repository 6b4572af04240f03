/**
 * The content-addressed filesystem blob store for berth: streamed, hashed while written, published by rename.
 *
 * @packageDocumentation
 */
export { openFsBlobStore, type FsBlobStore, type FsBlobStoreOptions } from './fs-blob-store.js';
