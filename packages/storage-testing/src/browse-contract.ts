import assert from 'node:assert/strict';
import type { MetadataStore, TagSummary, TagSummaryQuery } from '@berth/core';
import { blobDigest, IMAGE_INDEX, manifestWrite } from './fixtures.js';
import type { TestApi } from './test-api.js';

const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };

/** Pages through tag summaries with the query's order until a short page; returns every tag in order. */
async function allTagPages(store: MetadataStore, repository: string, query: Omit<TagSummaryQuery, 'after'>): Promise<TagSummary[]> {
  const tags: TagSummary[] = [];
  for (let pages = 0; pages < 100; pages++) {
    const last = tags.at(-1);
    const page = await store.listTagSummaries(repository, { ...query, ...(last && { after: { name: last.name, pushedAt: last.pushedAt } }) });
    tags.push(...page);
    if (page.length < query.limit) return tags;
  }
  throw new Error('pagination does not end');
}

/** What browsing (the web UI's API) reads: repository and tag summaries, one query per page. */
export function browseContract(test: TestApi, subject: { store: () => MetadataStore }): void {
  const { describe, it } = test;

  describe('browsing', () => {
    it('keeps the summary recorded at push time, and shows a manifest without one by its own size', async () => {
      const store = subject.store();
      const image = manifestWrite('browse/app', { tag: 'v1', summary: { totalSize: 12345, platforms: [ARM64] } });
      const bare = manifestWrite('browse/app', { tag: 'bare' });
      await store.putManifest(image);
      await store.putManifest(bare);
      assert.deepEqual((await store.getManifest('browse/app', image.manifest.digest))?.summary, { totalSize: 12345, platforms: [ARM64] });
      assert.equal((await store.getManifest('browse/app', bare.manifest.digest))?.summary, undefined);
      const tags = await store.listTagSummaries('browse/app', { limit: 10 });
      assert.deepEqual(
        tags.map(({ name, digest, mediaType, size, platforms }) => ({ name, digest, mediaType, size, platforms })),
        [
          { name: 'bare', digest: bare.manifest.digest, mediaType: bare.manifest.mediaType, size: bare.manifest.size, platforms: [] },
          { name: 'v1', digest: image.manifest.digest, mediaType: image.manifest.mediaType, size: 12345, platforms: [ARM64] },
        ],
      );
      for (const tag of tags) assert.ok(tag.pushedAt instanceof Date && tag.pushedAt.getTime() > 0, 'pushedAt is the push time');
    });

    it('records the summary of a manifest stored without one when the same bytes are pushed again, and keeps a recorded one', async () => {
      const store = subject.store();
      const bare = manifestWrite('browse/again', { tag: 'v1' });
      await store.putManifest(bare);
      await store.putManifest({ ...bare, manifest: { ...bare.manifest, summary: { totalSize: 777, platforms: [AMD64] } } });
      assert.deepEqual((await store.getManifest('browse/again', bare.manifest.digest))?.summary, { totalSize: 777, platforms: [AMD64] });
      await store.putManifest({ ...bare, manifest: { ...bare.manifest, summary: { totalSize: 1, platforms: [] } } });
      assert.deepEqual((await store.listTagSummaries('browse/again', { limit: 5 }))[0]?.size, 777);
    });

    it('lists tags by name or newest first, in pages, filtered by name (case-insensitive, % and _ literal) or digest', async () => {
      const store = subject.store();
      const shared = manifestWrite('browse/tags', { mediaType: IMAGE_INDEX, summary: { totalSize: 99, platforms: [AMD64, ARM64] } });
      await store.putManifest(shared);
      const names = ['a%b', 'Alpha', 'alpha_2', 'beta', 'gamma', 'latest'];
      for (const name of names) {
        const write = name === 'latest' || name === 'beta' ? { ...shared, tag: name } : manifestWrite('browse/tags', { tag: name });
        await store.putManifest(write);
      }
      const byName = await allTagPages(store, 'browse/tags', { limit: 2 });
      assert.deepEqual(byName.map((tag) => tag.name), [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));

      const newest = await allTagPages(store, 'browse/tags', { limit: 2, order: 'newest' });
      const expected = [...byName].sort((a, b) => b.pushedAt.getTime() - a.pushedAt.getTime() || Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
      assert.deepEqual(newest.map((tag) => tag.name), expected.map((tag) => tag.name));

      const names_ = async (query: Omit<TagSummaryQuery, 'limit'>) => (await store.listTagSummaries('browse/tags', { limit: 50, ...query })).map((tag) => tag.name);
      assert.deepEqual(await names_({ contains: 'ALPHA' }), ['Alpha', 'alpha_2']);
      assert.deepEqual(await names_({ contains: '_' }), ['alpha_2']);
      assert.deepEqual(await names_({ contains: '%' }), ['a%b']);
      assert.deepEqual(await names_({ digest: shared.manifest.digest }), ['beta', 'latest']);
      assert.deepEqual(await names_({ digest: shared.manifest.digest, contains: 'lat' }), ['latest']);
      assert.deepEqual(await store.listTagSummaries('browse/none', { limit: 5 }), []);
    });

    it('lists repositories with tag count, size and last push, in pages, filtered by name', async () => {
      const store = subject.store();
      await store.linkBlob('browse/one', blobDigest('browse 1'), 1000);
      const first = manifestWrite('browse/one', { tag: 'a', blobReferences: [blobDigest('browse 1')] });
      await store.putManifest(first);
      await store.putManifest({ ...manifestWrite('browse/one'), tag: 'b' });
      await store.linkBlob('browse/two', blobDigest('browse 2'), 50);
      await store.linkBlob('other/three', blobDigest('browse 3'), 7);
      await store.putManifest(manifestWrite('other/three', { tag: 'x' }));

      const all = await store.listRepositorySummaries({ limit: 10 });
      assert.deepEqual(all.map((repository) => repository.repository), ['browse/one', 'browse/two', 'other/three']);
      const [one, two] = all;
      const usage = await store.repositoryUsage('browse/one');
      assert.equal(one!.tagCount, 2);
      assert.equal(one!.size, usage.blobBytes + usage.manifestBytes);
      const tags = await store.listTagSummaries('browse/one', { limit: 10 });
      assert.equal(one!.lastPushed?.getTime(), Math.max(...tags.map((tag) => tag.pushedAt.getTime())));
      assert.deepEqual({ ...two, lastPushed: two!.lastPushed ?? null }, { repository: 'browse/two', tagCount: 0, size: 50, lastPushed: null });

      assert.deepEqual((await store.listRepositorySummaries({ limit: 1, last: 'browse/one' })).map((r) => r.repository), ['browse/two']);
      assert.deepEqual((await store.listRepositorySummaries({ limit: 10, contains: 'BROWSE/' })).map((r) => r.repository), ['browse/one', 'browse/two']);
      assert.deepEqual((await store.listRepositorySummaries({ limit: 10, contains: 'three', last: 'browse/two' })).map((r) => r.repository), ['other/three']);
      assert.deepEqual(await store.listRepositorySummaries({ limit: 10, contains: '%' }), []);
    });
  });
}
