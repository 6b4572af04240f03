import assert from 'node:assert/strict';
import type { MetadataStore, MirrorCacheStore } from '@berth/core';
import type { TestApi } from './test-api.js';

/** What the mirror cache tests need from the metadata contract around them. */
export interface MirrorCacheSubject {
  store(): MetadataStore;
  /** Closes the store and opens it again, or undefined when the 'persistence' group is off. */
  reopen: (() => Promise<MetadataStore>) | undefined;
}

function mirrorCacheOf(store: MetadataStore): MirrorCacheStore {
  assert.ok(store.mirrorCache, 'the store has a mirrorCache (skip the mirror-cache group otherwise)');
  return store.mirrorCache;
}

/** The pull-through cache's records (see MirrorCacheStore), part of the metadata store contract. */
export function mirrorCacheContract(test: Pick<TestApi, 'describe' | 'it'>, subject: MirrorCacheSubject): void {
  const { describe, it } = test;
  describe('mirror cache', () => {
    it('marks repositories as mirrored, idempotently, and no others', async () => {
      const cache = mirrorCacheOf(subject.store());
      assert.equal(await cache.isMirrored('hub/library/alpine'), false);
      await cache.markMirrored('hub/library/alpine');
      await cache.markMirrored('hub/library/alpine');
      assert.equal(await cache.isMirrored('hub/library/alpine'), true);
      assert.equal(await cache.isMirrored('hub/library'), false);
      assert.equal(await cache.isMirrored('hub/library/alpine/sub'), false);
    });

    it('records when each tag was fetched, per repository and tag, the latest write winning', async () => {
      const cache = mirrorCacheOf(subject.store());
      const first = new Date('2030-01-01T00:00:00.123Z');
      const second = new Date('2030-01-02T00:00:00.456Z');
      assert.equal(await cache.tagFetchedAt('hub/app', 'v1'), undefined);
      await cache.setTagFetchedAt('hub/app', 'v1', first);
      await cache.setTagFetchedAt('hub/app', 'v2', second);
      assert.equal((await cache.tagFetchedAt('hub/app', 'v1'))?.getTime(), first.getTime());
      await cache.setTagFetchedAt('hub/app', 'v1', second);
      assert.equal((await cache.tagFetchedAt('hub/app', 'v1'))?.getTime(), second.getTime());
      await cache.setTagFetchedAt('hub/app', 'v1', first);
      assert.equal((await cache.tagFetchedAt('hub/app', 'v1'))?.getTime(), first.getTime(), 'an earlier time written later wins too: it is what was last confirmed');
      assert.equal(await cache.tagFetchedAt('hub/other', 'v1'), undefined);
    });

    const reopen = subject.reopen;
    if (reopen === undefined) return;
    it('keeps its records across a reopen', async () => {
      const at = new Date('2030-03-01T12:00:00Z');
      await mirrorCacheOf(subject.store()).markMirrored('hub/app');
      await mirrorCacheOf(subject.store()).setTagFetchedAt('hub/app', 'latest', at);
      const reopened = mirrorCacheOf(await reopen());
      assert.equal(await reopened.isMirrored('hub/app'), true);
      assert.equal((await reopened.tagFetchedAt('hub/app', 'latest'))?.getTime(), at.getTime());
    });
  });
}
