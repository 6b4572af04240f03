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
export { blobDigest, chunks, manifestWrite, pseudoRandomBytes, readAll } from './fixtures.js';
