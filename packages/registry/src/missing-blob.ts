import { isRegistryError } from '@berth/core';
import type { MissingBlobUse } from './observer.js';

/**
 * A blob the metadata links into a repository but the blob store does not hold: storage damaged or
 * cleaned behind the registry's back. Never sent to a client (it gets the spec's answer, see the
 * README); it is the `cause` of that answer, so the HTTP layer can report it as the registry's trouble.
 */
export class MissingBlobError extends Error {
  /** Stable code for logs and metrics: `BERTH_BLOB_MISSING`. */
  readonly code = 'BERTH_BLOB_MISSING';

  constructor(
    /** Repository whose link names the missing blob. */
    readonly repository: string,
    /** Digest of the missing blob. */
    readonly digest: string,
    /** What needed the blob: serving it (`blob-read`) or converting a manifest (`conversion`). */
    readonly use: MissingBlobUse,
  ) {
    super(`blob ${digest} is linked in repository ${repository} but missing from the blob store (${use})`);
    this.name = 'MissingBlobError';
  }
}

/** The MissingBlobError behind an error answered to a client, if that is what it was. */
export function missingBlobBehind(error: unknown): MissingBlobError | undefined {
  if (!isRegistryError(error)) return undefined;
  return error.cause instanceof MissingBlobError ? error.cause : undefined;
}
