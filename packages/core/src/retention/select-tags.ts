import type { TagRecord } from '../stores/metadata-store.js';
import type { CompiledRetentionRule } from './retention-policy.js';
import { subjectOfReferrerTag } from './referrer-tag.js';

/** Why a rule removes a tag: it is older than `olderThan`, or (without `olderThan`) not among the newest `keepNewest`. */
export type RetentionReason = 'older-than' | 'not-newest';

export interface TagToRemove extends TagRecord {
  reason: RetentionReason;
}

export interface RetentionClock {
  /** The time ages are measured from (the collection's start). */
  now: Date;
  /** Tags pushed at or after this (the collection's grace cutoff) stay, whatever the rule says. */
  keepPushedSince: Date;
}

/**
 * The tags of one repository that `rule` removes, newest first. Referrer tags (`sha256-<hex>.sig`) are
 * left out entirely: they are neither counted nor removed here, but go with their subject. A tag goes
 * only when no keep clause protects it; the newest are counted over every other tag, protected or not.
 */
export function selectTagsToRemove(rule: CompiledRetentionRule, tags: readonly TagRecord[], clock: RetentionClock): TagToRemove[] {
  const { keepNewest, olderThan } = rule.rule;
  if (keepNewest === undefined && olderThan === undefined) return [];
  const newestFirst = tags.filter((tag) => subjectOfReferrerTag(tag.name) === undefined).sort(newerFirst);
  const pushedBefore = olderThan === undefined ? undefined : clock.now.getTime() - olderThan;
  const removed: TagToRemove[] = [];
  for (const [position, tag] of newestFirst.entries()) {
    const pushedAt = tag.pushedAt.getTime();
    if (keepNewest !== undefined && position < keepNewest) continue;
    if (rule.keepsTag(tag.name)) continue;
    if (pushedAt >= clock.keepPushedSince.getTime()) continue;
    if (pushedBefore !== undefined && pushedAt >= pushedBefore) continue;
    removed.push({ ...tag, reason: pushedBefore === undefined ? 'not-newest' : 'older-than' });
  }
  return removed;
}

/** Later push first; equal times by name, so the order (and who counts as newest) never depends on the listing. */
function newerFirst(a: TagRecord, b: TagRecord): number {
  return b.pushedAt.getTime() - a.pushedAt.getTime() || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
