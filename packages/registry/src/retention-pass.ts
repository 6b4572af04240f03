import { type MetadataStore, type MirrorCacheStore, type TagRecord, type RetentionReason } from '@berth/core';
import { parseManifest, selectTagsToRemove, subjectOfReferrerTag, type RetentionClock, type RetentionPolicy } from '@berth/core/internal';
import type { ManifestService } from './manifest-service.js';

/** A tag retention removed (or, on a dry run, would remove), and the rule that did it. */
export interface RetentionRemoval {
  /** Repository the tag was in. */
  repository: string;
  /** The tag's name. */
  tag: string;
  /** The manifest the tag pointed at. */
  digest: string;
  /** Position of the rule in the policy, 0 first. */
  rule: number;
  /**
   * `older-than`: pushed longer ago than the rule's olderThan; `not-newest`: beyond its keepNewest;
   * `subject-removed`: a referrer tag (`sha256-<hex>.sig`) of a manifest retention removed.
   */
  reason: RetentionReason | 'subject-removed';
}

/** A manifest of one repository. */
export interface ManifestKey {
  repository: string;
  digest: string;
}

export interface RetentionPassOptions {
  metadata: MetadataStore;
  manifests: ManifestService;
  policy: RetentionPolicy;
  clock: RetentionClock;
  dryRun: boolean;
  pageSize: number;
  /** Called after each repository (the collector renews its lease here). */
  afterRepository(): Promise<void>;
  /**
   * The mirror's records: in a mirrored repository a tag's age counts from its last fetch or revalidation
   * (a pull past its freshness), so `olderThan` removes cached tags nobody pulled for that long.
   */
  mirrorCache?: MirrorCacheStore;
}

export interface RetentionPassResult {
  removals: RetentionRemoval[];
  /** Manifests whose every tag this pass removed: they, and what hangs on them only, are collected in this run. */
  untagged: ManifestKey[];
  /** Referrer tags of the repositories with untagged manifests, to follow their subjects out. */
  referrerTags: Map<string, TagRecord[]>;
}

/**
 * Applies the policy's rules to every repository one applies to: removes the tags they select (through
 * the tag-delete path, so events are written as for a DELETE) and reports them. One repository's tags
 * are held at a time (keepNewest sorts them); the repositories are paged.
 */
export async function applyRetentionRules(options: RetentionPassOptions): Promise<RetentionPassResult> {
  const { metadata, policy, pageSize } = options;
  const result: RetentionPassResult = { removals: [], untagged: [], referrerTags: new Map() };
  for (let last: string | undefined; ; ) {
    const repositories = await metadata.listRepositories({ limit: pageSize, ...(last !== undefined && { last }) });
    for (const repository of repositories) {
      const rule = policy.ruleFor(repository);
      if (rule === undefined) continue;
      const tags = await agedByLastFetch(options.mirrorCache, repository, await allTags(metadata, repository, pageSize));
      const removed: TagRecord[] = [];
      for (const tag of selectTagsToRemove(rule, tags, options.clock)) {
        const gone =
          options.dryRun ||
          (await options.manifests.deleteTagIfUnchanged(repository, tag.name, { digest: tag.digest, pushedBefore: options.clock.keepPushedSince }));
        if (!gone) continue;
        removed.push(tag);
        result.removals.push({ repository, tag: tag.name, digest: tag.digest, rule: rule.index, reason: tag.reason });
      }
      const untagged = lostEveryTag(tags, removed);
      if (untagged.length > 0) {
        const referrerTags = tags.filter((tag) => subjectOfReferrerTag(tag.name) !== undefined);
        result.referrerTags.set(repository, referrerTags);
        for (const digest of untagged) {
          result.untagged.push({ repository, digest });
          // A dry run cannot know yet whether the manifest will really go; it reports its referrer tags as if it will.
          if (!options.dryRun) continue;
          for (const tag of referrerTags) {
            if (subjectOfReferrerTag(tag.name) !== digest) continue;
            result.removals.push({ repository, tag: tag.name, digest: tag.digest, rule: rule.index, reason: 'subject-removed' });
          }
        }
      }
      await options.afterRepository();
    }
    if (repositories.length < pageSize) return result;
    last = repositories[repositories.length - 1];
  }
}

/**
 * The manifests to try collecting with `untagged`: themselves, their children and the referrers (by
 * `subject`) of all of them, recursively, within each repository. Only the collector's guarded sweep
 * decides: whatever of these is still reachable (a child another tag reaches) stays.
 */
export async function manifestsHangingOn(metadata: MetadataStore, untagged: readonly ManifestKey[]): Promise<ManifestKey[]> {
  const seen = new Set<string>();
  const found: ManifestKey[] = [];
  const pending = [...untagged];
  while (pending.length > 0) {
    const key = pending.pop()!;
    const id = `${key.repository}\n${key.digest}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const stored = await metadata.getManifest(key.repository, key.digest);
    if (stored === undefined) continue;
    found.push(key);
    for (const child of childrenOf(stored.content, stored.mediaType)) pending.push({ repository: key.repository, digest: child });
    for (const referrer of await metadata.listReferrers(key.repository, key.digest)) pending.push({ repository: key.repository, digest: referrer.digest });
  }
  return found;
}

function childrenOf(content: Uint8Array, mediaType: string): readonly string[] {
  try {
    return parseManifest(content, mediaType).manifestReferences;
  } catch {
    // Stored bytes were valid when pushed; a manifest that no longer parses names nothing we could follow.
    return [];
  }
}

async function allTags(metadata: MetadataStore, repository: string, pageSize: number): Promise<TagRecord[]> {
  const tags: TagRecord[] = [];
  for (let last: string | undefined; ; ) {
    const page = await metadata.listTagRecords(repository, { limit: pageSize, ...(last !== undefined && { last }) });
    tags.push(...page);
    if (page.length < pageSize) return tags;
    last = page[page.length - 1]!.name;
  }
}

/** The tags of a mirrored repository with their push time moved up to their last fetch from the upstream, if later. */
async function agedByLastFetch(cache: MirrorCacheStore | undefined, repository: string, tags: TagRecord[]): Promise<TagRecord[]> {
  if (cache === undefined || !(await cache.isMirrored(repository))) return tags;
  return Promise.all(
    tags.map(async (tag) => {
      const fetchedAt = await cache.tagFetchedAt(repository, tag.name);
      return fetchedAt !== undefined && fetchedAt > tag.pushedAt ? { ...tag, pushedAt: fetchedAt } : tag;
    }),
  );
}

/** Digests every one of whose tags is among `removed`. */
function lostEveryTag(tags: readonly TagRecord[], removed: readonly TagRecord[]): string[] {
  if (removed.length === 0) return [];
  const remaining = new Map<string, number>();
  for (const tag of tags) remaining.set(tag.digest, (remaining.get(tag.digest) ?? 0) + 1);
  for (const tag of removed) remaining.set(tag.digest, remaining.get(tag.digest)! - 1);
  return [...remaining].filter(([, count]) => count === 0).map(([digest]) => digest);
}
