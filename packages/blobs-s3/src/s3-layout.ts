import type { ParsedDigest } from '@berth/core';

/**
 * The keys a store uses under its prefix. Blobs are only ever written by a server-side copy of bytes that
 * were verified first, so a key under blobs/ always holds a whole, verified blob.
 *
 *   blobs/<algorithm>/<hex>            published, immutable blobs
 *   uploads/<id>/state.json            the upload session (see UploadSession)
 *   uploads/<id>/data                  the multipart upload's key; the assembled bytes at commit
 *   uploads/<id>/staged/<uuid>         bytes not yet a part (a part must be at least 5 MiB)
 */
export class S3Layout {
  readonly prefix: string;

  constructor(prefix = '') {
    // 'a', 'a/' and '/a/' all mean the folder a/.
    const trimmed = prefix.replace(/^\/+|\/+$/g, '');
    this.prefix = trimmed === '' ? '' : `${trimmed}/`;
  }

  get blobsPrefix(): string {
    return `${this.prefix}blobs/`;
  }

  get uploadsPrefix(): string {
    return `${this.prefix}uploads/`;
  }

  blobKey(digest: ParsedDigest): string {
    return `${this.blobsPrefix}${digest.algorithm}/${digest.hex}`;
  }

  /** The digest a key under blobs/ names, or undefined for anything else found there. */
  digestOfKey(key: string): string | undefined {
    const match = /^([a-z0-9]+)\/([0-9a-f]+)$/.exec(key.slice(this.blobsPrefix.length));
    return match && key.startsWith(this.blobsPrefix) ? `${match[1]}:${match[2]}` : undefined;
  }

  uploadPrefix(id: string): string {
    return `${this.uploadsPrefix}${id}/`;
  }

  stateKey(id: string): string {
    return `${this.uploadPrefix(id)}state.json`;
  }

  dataKey(id: string): string {
    return `${this.uploadPrefix(id)}data`;
  }

  stagedKey(id: string, name: string): string {
    return `${this.uploadPrefix(id)}staged/${name}`;
  }

  /** The upload id a key under uploads/ belongs to. */
  uploadIdOfKey(key: string): string | undefined {
    const id = key.slice(this.uploadsPrefix.length).split('/')[0];
    return key.startsWith(this.uploadsPrefix) && id !== undefined && isUploadId(id) ? id : undefined;
  }
}

// Ids come from randomUUID; accepting nothing else keeps a client-supplied id from naming another key.
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUploadId(id: string): boolean {
  return UPLOAD_ID.test(id);
}
