import type { ResolvedOptions } from './options.js';
import { readBoundedBody } from './body.js';

/** Image configs are small JSON documents; anything bigger is never held in memory (conversions and summaries alike). */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/**
 * The bytes of a config blob the repository links, for a summary: undefined when it is not linked, its bytes
 * are gone, or it is too big to hold (a summary then leaves the config out rather than failing).
 */
export async function readConfigForSummary(options: ResolvedOptions, repository: string, digest: string): Promise<Uint8Array | undefined> {
  const link = await options.metadata.blobLink(repository, digest);
  if (!link || link.size > MAX_CONFIG_BYTES) return undefined;
  const stream = await options.blobs.open(digest);
  if (!stream) return undefined;
  return readBoundedBody(stream, MAX_CONFIG_BYTES, 'image config');
}
