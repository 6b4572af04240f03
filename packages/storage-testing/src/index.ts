/**
 * Contract test suites for berth metadata and blob store adapters, runnable under any test runner: pass
 * your runner's `describe`, `it` and hooks, and a factory for your store.
 *
 * @packageDocumentation
 */
export type { TestApi } from './test-api.js';
export {
  metadataStoreContract,
  type MetadataContractGroup,
  type MetadataInspector,
  type MetadataStoreContractOptions,
  type MetadataStoreFactory,
  type MetadataStoreSubject,
} from './metadata-store-contract.js';
export {
  blobStoreContract,
  type BlobContractGroup,
  type BlobInspector,
  type BlobStoreContractOptions,
  type BlobStoreFactory,
  type BlobStoreSubject,
} from './blob-store-contract.js';
export { rejectsWithRegistryError, type ExpectedRegistryError } from './assertions.js';
export { asyncOnly } from './async-only.js';
export { blobDigest, chunks, manifestWrite, pseudoRandomBytes, readAll, type ManifestWriteOptions } from './fixtures.js';
