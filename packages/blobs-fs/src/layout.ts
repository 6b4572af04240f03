import { join } from 'node:path';
import type { ParsedDigest } from '@berth/core';

/**
 * Where everything lives under the store's root. Everything is under one root so that temp
 * files share the filesystem of their destination and publishing is a rename.
 *
 *   blobs/<algorithm>/<first two hex>/<hex>   published, immutable blobs
 *   uploads/<id>/data                          bytes received so far (its size is the upload's offset)
 *   uploads/<id>/state.json                    { startedAt }
 *   tmp/<uuid>                                 staging for new uploads, trash for removed ones
 */
export class FsLayout {
  readonly blobsDir: string;
  readonly uploadsDir: string;
  readonly tmpDir: string;

  constructor(readonly root: string) {
    this.blobsDir = join(root, 'blobs');
    this.uploadsDir = join(root, 'uploads');
    this.tmpDir = join(root, 'tmp');
  }

  blobPath(digest: ParsedDigest): string {
    return join(this.blobsDir, digest.algorithm, digest.hex.slice(0, 2), digest.hex);
  }

  uploadDir(id: string): string {
    return join(this.uploadsDir, id);
  }

  tmpPath(name: string): string {
    return join(this.tmpDir, name);
  }
}

export const UPLOAD_DATA_FILE = 'data';
export const UPLOAD_STATE_FILE = 'state.json';

// Ids come from randomUUID; accepting nothing else keeps a client-supplied id from naming another path.
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUploadId(id: string): boolean {
  return UPLOAD_ID.test(id);
}
