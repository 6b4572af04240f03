import type { ConvertedManifest, Platform, StoredManifest, TaggedManifest, UploadSession } from '@berth/core';

// Row shapes as drivers return them. PostgreSQL hands bigint columns back as strings, SQLite as
// numbers, hence `number | string` and the Number() calls below.

export interface ManifestRow {
  repository: string;
  digest: string;
  media_type: string;
  size: number | string;
  content: Uint8Array;
  subject: string | null;
  artifact_type: string | null;
  annotations: string | null;
  created_at: number | string;
  /** Recorded at push time since migration 0010; null before. */
  total_size?: number | string | null;
  /** JSON array of platforms, recorded with total_size. */
  platforms?: string | null;
}

export interface UploadSessionRow {
  id: string;
  repository: string;
  started_at: number | string;
}

export interface ConvertedManifestRow {
  repository: string;
  digest: string;
  source_digest: string;
  media_type: string;
  content: Uint8Array;
  tag: string | null;
}

/** A tag's manifest row with the columns of the conversion joined to it (null when none matched). */
export interface TaggedManifestRow extends ManifestRow {
  converted_digest?: string | null;
  converted_media_type?: string | null;
  converted_content?: Uint8Array | null;
  converted_tag?: string | null;
}

/** Drivers take Buffers for binary columns; this wraps the same memory without copying. */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function manifestToRow(manifest: Omit<StoredManifest, 'createdAt'>, createdAt: Date): ManifestRow {
  return {
    repository: manifest.repository,
    digest: manifest.digest,
    media_type: manifest.mediaType,
    size: manifest.size,
    content: toBuffer(manifest.content),
    subject: manifest.subject ?? null,
    artifact_type: manifest.artifactType ?? null,
    annotations: manifest.annotations === undefined ? null : JSON.stringify(manifest.annotations),
    created_at: createdAt.getTime(),
    total_size: manifest.summary?.totalSize ?? null,
    platforms: manifest.summary === undefined ? null : JSON.stringify(manifest.summary.platforms),
  };
}

export function manifestFromRow(row: ManifestRow): StoredManifest {
  const manifest: StoredManifest = {
    repository: row.repository,
    digest: row.digest,
    mediaType: row.media_type,
    size: Number(row.size),
    content: row.content,
    createdAt: new Date(Number(row.created_at)),
  };
  // Absent optional fields stay absent rather than becoming null.
  if (row.subject !== null) manifest.subject = row.subject;
  if (row.artifact_type !== null) manifest.artifactType = row.artifact_type;
  if (row.annotations !== null) manifest.annotations = JSON.parse(row.annotations) as Record<string, string>;
  if (row.total_size != null) {
    manifest.summary = { totalSize: Number(row.total_size), platforms: row.platforms ? (JSON.parse(row.platforms) as Platform[]) : [] };
  }
  return manifest;
}

export function uploadSessionFromRow(row: UploadSessionRow): UploadSession {
  return { id: row.id, repository: row.repository, startedAt: new Date(Number(row.started_at)) };
}

export function convertedManifestFromRow(row: ConvertedManifestRow): ConvertedManifest {
  const converted: ConvertedManifest = {
    repository: row.repository,
    digest: row.digest,
    sourceDigest: row.source_digest,
    mediaType: row.media_type,
    content: row.content,
  };
  if (row.tag !== null) converted.tag = row.tag;
  return converted;
}

export function taggedManifestFromRow(row: TaggedManifestRow): TaggedManifest {
  const manifest = manifestFromRow(row);
  if (row.converted_digest == null || row.converted_media_type == null || row.converted_content == null) return { manifest };
  const converted = convertedManifestFromRow({
    repository: row.repository,
    digest: row.converted_digest,
    source_digest: row.digest,
    media_type: row.converted_media_type,
    content: row.converted_content,
    tag: row.converted_tag ?? null,
  });
  return { manifest, converted };
}
