import type { Platform, RepositorySummary, RepositorySummaryQuery, TagSummary, TagSummaryQuery } from '@berth/core';
import type { Knex } from 'knex';
import { TABLES } from './tables.js';

/** `%text%` for LIKE, its own `%`, `_` and `\` escaped, lower-cased (the query lower-cases the column too). */
function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, '\\$&')}%`;
}

/**
 * A page of repositories with their tag count, size and last push: the usage counters hold a row for
 * every repository that holds something, and the tag figures are two probes of the tags' primary key.
 */
export async function listRepositorySummaries(db: Knex, { last, limit, contains }: RepositorySummaryQuery): Promise<RepositorySummary[]> {
  if (limit <= 0) return [];
  const tagsOf = (aggregate: string) =>
    db(`${TABLES.tags} as t`).select(db.raw(aggregate)).whereRaw('t.repository = u.repository');
  const query = db(`${TABLES.repositoryUsage} as u`)
    .select('u.repository', 'u.blob_bytes', 'u.manifest_bytes')
    .select({ tag_count: tagsOf('count(*)'), last_pushed: tagsOf('max(t.pushed_at)') })
    .orderBy('u.repository')
    .limit(limit);
  if (last !== undefined) query.where('u.repository', '>', last);
  if (contains) query.whereRaw(`lower(u.repository) like ? escape '\\'`, [containsPattern(contains)]);
  const rows: Array<{
    repository: string;
    blob_bytes: number | string;
    manifest_bytes: number | string;
    tag_count: number | string;
    last_pushed: number | string | null;
  }> = await query;
  return rows.map((row) => ({
    repository: row.repository,
    tagCount: Number(row.tag_count),
    size: Number(row.blob_bytes) + Number(row.manifest_bytes),
    ...(row.last_pushed !== null && { lastPushed: new Date(Number(row.last_pushed)) }),
  }));
}

/** A page of a repository's tags joined with the summary their manifest row recorded at push time. */
export async function listTagSummaries(
  db: Knex,
  repository: string,
  { limit, order = 'name', after, contains, digest }: TagSummaryQuery,
): Promise<TagSummary[]> {
  if (limit <= 0) return [];
  const query = db(`${TABLES.tags} as t`)
    .join(`${TABLES.manifests} as m`, (on) => on.on('m.repository', 't.repository').andOn('m.digest', 't.digest'))
    .select('t.name', 't.digest', 't.pushed_at', 'm.media_type', 'm.size', 'm.total_size', 'm.platforms')
    .where('t.repository', repository)
    .limit(limit);
  if (digest !== undefined) query.where('t.digest', digest);
  if (contains) query.whereRaw(`lower(t.name) like ? escape '\\'`, [containsPattern(contains)]);
  if (order === 'newest') {
    query.orderBy([{ column: 't.pushed_at', order: 'desc' }, { column: 't.name', order: 'asc' }]);
    if (after !== undefined) {
      const pushedAt = after.pushedAt?.getTime() ?? 0;
      query.where((page) => page.where('t.pushed_at', '<', pushedAt).orWhere((same) => same.where('t.pushed_at', pushedAt).where('t.name', '>', after.name)));
    }
  } else {
    query.orderBy('t.name');
    if (after !== undefined) query.where('t.name', '>', after.name);
  }
  const rows: Array<{
    name: string;
    digest: string;
    pushed_at: number | string;
    media_type: string;
    size: number | string;
    total_size: number | string | null;
    platforms: string | null;
  }> = await query;
  return rows.map((row) => ({
    name: row.name,
    digest: row.digest,
    mediaType: row.media_type,
    size: Number(row.total_size ?? row.size),
    platforms: row.platforms ? (JSON.parse(row.platforms) as Platform[]) : [],
    pushedAt: new Date(Number(row.pushed_at)),
  }));
}
