// Where the standalone server's filesystem blob store keeps bytes, for tests that check what a
// collection left on disk.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageLayout } from './oci-image.js';

/** Where the filesystem blob store keeps a blob's bytes under the data directory. */
export function blobFile(dataDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(dataDir, 'blobs', 'blobs', 'sha256', hex.slice(0, 2), hex);
}

/** Whether a file is there (any error but ENOENT is the test's failure). */
export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}

/** The config and layers of the layout's image: the blobs a push writes. */
export function imageBlobs(layout: ImageLayout): string[] {
  const image = layout.images[0]!;
  return [image.config.digest, ...image.layers.map((layer) => layer.digest)];
}
