import { join } from 'node:path';
import type { BlobStore } from '@berth/core';
import { openFsBlobStore } from '@berth/blobs-fs';
import type { ServerConfig } from './config.js';

/** The blob store the server and `berth gc` use, with the sweep of abandoned uploads both stores have. */
export type StandaloneBlobStore = BlobStore & { purgeUploads(date: Date): Promise<string[]>; close(): Promise<void> };

/**
 * S3 when a bucket is configured (the SDK is loaded only then), else the data directory's blobs/.
 * Credentials for S3 come from the AWS chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, roles.
 */
export async function openBlobStore(config: Pick<ServerConfig, 'dataDir' | 's3'>): Promise<StandaloneBlobStore> {
  const { s3 } = config;
  if (s3 === undefined) return openFsBlobStore({ root: join(config.dataDir, 'blobs') });
  const { openS3BlobStore } = await import('@berth/blobs-s3');
  return openS3BlobStore({
    bucket: s3.bucket,
    forcePathStyle: s3.forcePathStyle,
    redirect: s3.redirect,
    ...(s3.prefix !== undefined && { prefix: s3.prefix }),
    ...(s3.endpoint !== undefined && { endpoint: s3.endpoint }),
    ...(s3.region !== undefined && { region: s3.region }),
  });
}
