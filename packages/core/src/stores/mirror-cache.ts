/**
 * What the pull-through cache remembers beside the content it stores: which repositories came from an
 * upstream (so a `*` mirror keeps serving them and pushes into them are refused) and when each mirrored tag
 * was last fetched or revalidated (its freshness). Optional in a metadata store; without it the registry
 * keeps these in memory, so after a restart every mirrored tag is revalidated once.
 */
export interface MirrorCacheStore {
  /** Records that the repository's content comes from an upstream. Idempotent. */
  markMirrored(repository: string): Promise<void>;
  /** True once `markMirrored` was called for the repository. */
  isMirrored(repository: string): Promise<boolean>;
  /** Records when the tag was fetched from (or confirmed by) the upstream. */
  setTagFetchedAt(repository: string, tag: string, at: Date): Promise<void>;
  /** When the tag was last fetched from (or confirmed by) the upstream; undefined when never. */
  tagFetchedAt(repository: string, tag: string): Promise<Date | undefined>;
}
