import type { ManifestSummary, StoredManifest } from '@berth/core';
import type { ParsedManifest } from '@berth/core/internal';

/** What the metadata store keeps of a manifest about to be stored, pushed by a client or fetched by a mirror. */
export function manifestRecord(
  repository: string,
  digest: string,
  manifest: ParsedManifest,
  bytes: Uint8Array,
  summary: ManifestSummary,
): Omit<StoredManifest, 'createdAt'> {
  return {
    repository,
    digest,
    mediaType: manifest.mediaType,
    size: bytes.byteLength,
    content: bytes,
    ...(manifest.subject && { subject: manifest.subject.digest }),
    ...(manifest.artifactType !== undefined && { artifactType: manifest.artifactType }),
    ...(manifest.annotations && { annotations: manifest.annotations }),
    summary,
  };
}
