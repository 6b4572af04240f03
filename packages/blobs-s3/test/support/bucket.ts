import { randomUUID } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import type { BlobInspector } from '@berth/storage-testing';
import { openS3BlobStore, type S3BlobStore, type S3BlobStoreOptions } from '../../src/index.js';
import type { SwiftS3 } from './swift.js';

/** The bucket as seen past the store: for the contract's inspector and the S3-specific checks. */
export class BucketView {
  readonly client: S3Client;

  constructor(
    readonly swift: SwiftS3,
    readonly prefix: string,
  ) {
    this.client = new S3Client({
      endpoint: swift.endpoint,
      region: swift.region,
      forcePathStyle: true,
      credentials: swift.credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async keys(under = ''): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.swift.bucket, Prefix: this.prefix + under, ...(token && { ContinuationToken: token }) }),
      );
      for (const object of page.Contents ?? []) keys.push(object.Key!.slice(this.prefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  /** Unfinished multipart uploads under the prefix, as key relative to it. */
  async multipartUploads(): Promise<Array<{ key: string; uploadId: string }>> {
    const page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.swift.bucket, Prefix: this.prefix }));
    return (page.Uploads ?? []).map((upload) => ({ key: upload.Key!.slice(this.prefix.length), uploadId: upload.UploadId! }));
  }

  async read(key: string): Promise<Uint8Array | undefined> {
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.swift.bucket, Key: this.prefix + key }));
      return await got.Body!.transformToByteArray();
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  inspector(): BlobInspector {
    return {
      publishedDigests: async () => (await this.keys('blobs/')).map((key) => key.slice('blobs/'.length).replace('/', ':')),
      read: async (digest) => this.read(`blobs/${digest.replace(':', '/')}`),
      // An upload counts while anything of it is left: its session, a staged object or a multipart upload.
      pendingUploads: async () => {
        const ids = new Set<string>();
        for (const key of await this.keys('uploads/')) ids.add(key.split('/')[1]!);
        for (const upload of await this.multipartUploads()) if (upload.key.startsWith('uploads/')) ids.add(upload.key.split('/')[1]!);
        return ids.size;
      },
    };
  }

  /** Removes everything under the prefix, multipart uploads included. */
  async empty(): Promise<void> {
    for (const upload of await this.multipartUploads()) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.swift.bucket, Key: this.prefix + upload.key, UploadId: upload.uploadId }));
    }
    await Promise.all((await this.keys()).map((key) => this.client.send(new DeleteObjectCommand({ Bucket: this.swift.bucket, Key: this.prefix + key }))));
  }

  close(): void {
    this.client.destroy();
  }
}

/** A store on the Swift under a fresh prefix, and the view of that prefix. */
export function storeOptions(swift: SwiftS3, prefix: string, options: Partial<S3BlobStoreOptions> = {}): S3BlobStoreOptions {
  return {
    bucket: swift.bucket,
    prefix,
    endpoint: swift.endpoint,
    region: swift.region,
    forcePathStyle: true,
    credentials: swift.credentials,
    ...options,
  };
}

export async function freshStore(swift: SwiftS3, options: Partial<S3BlobStoreOptions> = {}): Promise<{ store: S3BlobStore; view: BucketView; open: () => Promise<S3BlobStore> }> {
  const prefix = `test-${randomUUID()}/`;
  const open = () => openS3BlobStore(storeOptions(swift, prefix, options));
  return { store: await open(), view: new BucketView(swift, prefix), open };
}
