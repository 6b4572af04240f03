import type { RepositorySummary, RepositorySummaryQuery, TagSummary, TagSummaryQuery } from '@berth/core';
import { rowKey, splitRowKey, type MemoryDatabase } from './memory-database.js';
import { usageByRepository } from './memory-usage.js';

/** Keys sort by their UTF-8 bytes, like every listing. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

const containing = (text: string | undefined) => (name: string) => !text || name.toLowerCase().includes(text.toLowerCase());

/** Repositories that hold something, with their tags counted: a scan, which is fine for an example. */
export function repositorySummaries(db: MemoryDatabase, { last, limit, contains }: RepositorySummaryQuery): RepositorySummary[] {
  if (limit <= 0) return [];
  const names = [...usageByRepository(db).values()]
    .filter((usage) => (last === undefined || byteOrder(usage.repository, last) > 0) && containing(contains)(usage.repository))
    .sort((a, b) => byteOrder(a.repository, b.repository))
    .slice(0, limit);
  return names.map((usage) => {
    const pushTimes = [...db.tagsPushedAt].filter(([key]) => splitRowKey(key)[0] === usage.repository).map(([, at]) => at);
    return {
      repository: usage.repository,
      tagCount: pushTimes.length,
      size: usage.blobBytes + usage.manifestBytes,
      ...(pushTimes.length > 0 && { lastPushed: new Date(Math.max(...pushTimes)) }),
    };
  });
}

/** A repository's tags with their manifest's summary, in the order asked for. */
export function tagSummaries(db: MemoryDatabase, repository: string, { limit, order = 'name', after, contains, digest }: TagSummaryQuery): TagSummary[] {
  if (limit <= 0) return [];
  const tags: TagSummary[] = [];
  for (const [key, target] of db.tags) {
    const [owner, name] = splitRowKey(key);
    if (owner !== repository || (digest !== undefined && target !== digest) || !containing(contains)(name)) continue;
    const manifest = db.manifests.get(rowKey(repository, target))!;
    tags.push({
      name,
      digest: target,
      mediaType: manifest.mediaType,
      size: manifest.summary?.totalSize ?? manifest.size,
      platforms: manifest.summary?.platforms.map((platform) => ({ ...platform })) ?? [],
      pushedAt: new Date(db.tagsPushedAt.get(key) ?? 0),
    });
  }
  const newest = order === 'newest';
  const compare = (a: { name: string; pushedAt?: Date }, b: { name: string; pushedAt?: Date }) =>
    (newest ? (b.pushedAt?.getTime() ?? 0) - (a.pushedAt?.getTime() ?? 0) : 0) || byteOrder(a.name, b.name);
  return tags
    .filter((tag) => after === undefined || compare(tag, after) > 0)
    .sort(compare)
    .slice(0, limit);
}
