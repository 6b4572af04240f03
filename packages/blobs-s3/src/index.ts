/**
 * Opens a blob store in an S3 bucket (AWS S3 or a compatible server: Swift's s3api, Ceph radosgw, MinIO).
 * Uploads are multipart uploads whose state lives in the bucket, so any instance continues any upload.
 */
export { openS3BlobStore } from './s3-blob-store.js';
/** The S3 blob store; `purgeUploads(date)` removes abandoned uploads with their parts and staged objects. */
export { S3BlobStore } from './s3-blob-store.js';
/** Bucket, prefix, endpoint, credentials and the other settings of `openS3BlobStore`. */
export type { S3BlobStoreOptions } from './s3-blob-store.js';
