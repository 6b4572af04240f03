import { RegistryError } from '@berth/core';

/** A part of the upload's multipart upload, as CompleteMultipartUpload needs it. */
export interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
}

/** Bytes received but not yet in a part, as one object under uploads/<id>/staged/. */
export interface StagedPiece {
  key: string;
  size: number;
}

/**
 * Everything an upload needs to go on, kept as uploads/<id>/state.json so that the next PATCH may land on
 * any instance. Bytes received = the parts, then the staged pieces, in order. The sha256 state is that of
 * exactly those bytes, so commit needs no re-read to verify a sha256 digest.
 */
export interface UploadSession {
  id: string;
  startedAt: Date;
  size: number;
  /** Created with the first part (small blobs never need one). */
  multipartUploadId?: string;
  parts: UploadedPart[];
  staged: StagedPiece[];
  /** hash-wasm's saved sha256 state, base64; absent while nothing was received. */
  sha256State?: string;
}

interface StoredSession {
  version: 1;
  startedAt: string;
  size: number;
  multipartUploadId?: string;
  parts: UploadedPart[];
  staged: StagedPiece[];
  sha256State?: string;
}

export function serializeSession(session: UploadSession): string {
  const stored: StoredSession = {
    version: 1,
    startedAt: session.startedAt.toISOString(),
    size: session.size,
    parts: session.parts,
    staged: session.staged,
    ...(session.multipartUploadId !== undefined && { multipartUploadId: session.multipartUploadId }),
    ...(session.sha256State !== undefined && { sha256State: session.sha256State }),
  };
  return JSON.stringify(stored);
}

/** The session, or undefined when the object is not one this store wrote (the upload is then unknown). */
export function parseSession(id: string, text: string): UploadSession | undefined {
  let stored: StoredSession;
  try {
    stored = JSON.parse(text) as StoredSession;
  } catch {
    return undefined;
  }
  const startedAt = new Date(stored.startedAt);
  if (stored.version !== 1 || Number.isNaN(startedAt.getTime()) || !Number.isSafeInteger(stored.size)) return undefined;
  if (!Array.isArray(stored.parts) || !Array.isArray(stored.staged)) return undefined;
  return {
    id,
    startedAt,
    size: stored.size,
    parts: stored.parts,
    staged: stored.staged,
    ...(stored.multipartUploadId !== undefined && { multipartUploadId: stored.multipartUploadId }),
    ...(stored.sha256State !== undefined && { sha256State: stored.sha256State }),
  };
}

export function uploadUnknown(id: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN', `blob upload "${id}" is unknown`);
}

export function offsetMismatch(id: string, size: number, expectedOffset: number): RegistryError {
  // The spec's Range for an upload is inclusive, and `0-0` when nothing has been received yet.
  const range = size === 0 ? '0-0' : `0-${size - 1}`;
  return new RegistryError('BLOB_UPLOAD_INVALID', `upload ${id} holds ${size} bytes, not ${expectedOffset}`, {
    status: 416,
    headers: { Range: range },
    detail: { size, expectedOffset },
  });
}
