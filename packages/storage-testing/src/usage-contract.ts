import assert from 'node:assert/strict';
import { digestOf, type MetadataStore, type RepositoryUsage, type UsageTotals } from '@berth/core';
import fc from 'fast-check';
import { rejectsWithRegistryError } from './assertions.js';
import { blobDigest, collectPages, manifestWrite } from './fixtures.js';
import type { TestApi } from './test-api.js';

const later = () => new Date(Date.now() + 60_000);
const noBytes = async () => undefined;

/** What a store holds, counted by the test from what it did (and what the collector reported it removed). */
class UsageModel {
  readonly links = new Map<string, number>();
  readonly manifests = new Map<string, number>();
  readonly blobs = new Map<string, number>();

  repository(repository: string): RepositoryUsage {
    const usage: RepositoryUsage = { repository, blobBytes: 0, blobCount: 0, manifestBytes: 0, manifestCount: 0 };
    for (const [key, size] of this.links) {
      if (key.startsWith(`${repository}\n`)) {
        usage.blobBytes += size;
        usage.blobCount += 1;
      }
    }
    for (const [key, size] of this.manifests) {
      if (key.startsWith(`${repository}\n`)) {
        usage.manifestBytes += size;
        usage.manifestCount += 1;
      }
    }
    return usage;
  }

  registry(): UsageTotals {
    const sum = (sizes: Iterable<number>) => [...sizes].reduce((total, size) => total + size, 0);
    return { blobBytes: sum(this.blobs.values()), blobCount: this.blobs.size, manifestBytes: sum(this.manifests.values()), manifestCount: this.manifests.size };
  }

  repositories(): string[] {
    return [...new Set([...this.links.keys(), ...this.manifests.keys()].map((key) => key.split('\n')[0]!))].sort();
  }
}

const REPOSITORIES = ['usage/a', 'usage/b', 'usage/c'];
/** A blob's size follows from its label: one digest, one size, as in a real registry. */
const blobOf = (label: number) => ({ digest: blobDigest(`usage ${label}`), size: 100 * (label + 1) });
/** Manifest `label` names blobs `label` and `label + 1`; its bytes follow from its label. */
const manifestOf = (repository: string, label: number, tag?: string) => {
  const content = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, usage: label, padding: 'x'.repeat(label * 7) }));
  return manifestWrite(repository, {
    content,
    digest: digestOf(content),
    blobReferences: [blobOf(label).digest, blobOf(label + 1).digest],
    ...(tag !== undefined && { tag }),
  });
};

type Operation =
  | { kind: 'link' | 'unlink'; repository: string; blob: number }
  | { kind: 'link-with-quota'; repository: string; blob: number; limit: number }
  | { kind: 'touch' | 'adopt'; blob: number }
  | { kind: 'put'; repository: string; manifest: number; tagged: boolean; limit?: number }
  | { kind: 'delete'; repository: string; manifest: number }
  | { kind: 'collect' };

const repository = fc.constantFrom(...REPOSITORIES);
const blob = fc.integer({ min: 0, max: 6 });
const manifest = fc.integer({ min: 0, max: 4 });
const operation: fc.Arbitrary<Operation> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('link' as const), repository, blob }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('unlink' as const), repository, blob }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('link-with-quota' as const), repository, blob, limit: fc.integer({ min: 0, max: 3000 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constantFrom('touch' as const, 'adopt' as const), blob }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('put' as const), repository, manifest, tagged: fc.boolean() }), weight: 3 },
  {
    arbitrary: fc.record({ kind: fc.constant('put' as const), repository, manifest, tagged: fc.boolean(), limit: fc.integer({ min: 0, max: 3000 }) }),
    weight: 1,
  },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), repository, manifest }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'collect' as const }), weight: 1 },
);

/** Runs one operation on the store and on the model; a quota refusal must be exactly the one the model predicts. */
async function apply(store: MetadataStore, model: UsageModel, step: Operation): Promise<void> {
  const quotaCheck = async (repositoryName: string, key: string, table: Map<string, number>, size: number, limit: number | undefined, write: () => Promise<unknown>) => {
    const used = model.repository(repositoryName);
    const refused = limit !== undefined && !table.has(key) && used.blobBytes + used.manifestBytes + size > limit;
    if (refused) {
      await rejectsWithRegistryError(write(), { code: 'DENIED', status: 403 });
      return false;
    }
    await write();
    return true;
  };
  switch (step.kind) {
    case 'link':
    case 'link-with-quota': {
      const { digest, size } = blobOf(step.blob);
      const key = `${step.repository}\n${digest}`;
      const limit = step.kind === 'link-with-quota' ? step.limit : undefined;
      const quota = limit === undefined ? {} : { quota: { repository: '**', limit } };
      if (await quotaCheck(step.repository, key, model.links, size, limit, () => store.linkBlob(step.repository, digest, size, [], quota))) {
        model.links.set(key, size);
        model.blobs.set(digest, size);
      }
      return;
    }
    case 'unlink': {
      const key = `${step.repository}\n${blobOf(step.blob).digest}`;
      assert.equal(await store.unlinkBlob(step.repository, blobOf(step.blob).digest), model.links.delete(key), 'unlinkBlob answer');
      return;
    }
    case 'touch':
      await store.touchBlob(blobOf(step.blob).digest, blobOf(step.blob).size);
      model.blobs.set(blobOf(step.blob).digest, blobOf(step.blob).size);
      return;
    case 'adopt': {
      const { digest, size } = blobOf(step.blob);
      await store.adoptBlobs([{ digest, size, modifiedAt: new Date() }]);
      if (!model.blobs.has(digest)) model.blobs.set(digest, size);
      return;
    }
    case 'put': {
      const write = manifestOf(step.repository, step.manifest, step.tagged ? 'latest' : undefined);
      const key = `${step.repository}\n${write.manifest.digest}`;
      const quota = step.limit === undefined ? {} : { quota: { repository: 'usage/*', limit: step.limit } };
      if (await quotaCheck(step.repository, key, model.manifests, write.manifest.size, step.limit, () => store.putManifest({ ...write, ...quota }))) {
        model.manifests.set(key, write.manifest.size);
      }
      return;
    }
    case 'delete': {
      const { digest } = manifestOf(step.repository, step.manifest).manifest;
      assert.equal(await store.deleteManifest(step.repository, digest), model.manifests.delete(`${step.repository}\n${digest}`), 'deleteManifest answer');
      return;
    }
    case 'collect': {
      // Everything counts as old: what the collector removes is whatever it reports.
      await store.markReachableManifests();
      for (const removed of await store.sweepManifests({ touchedBefore: later(), limit: 1000 })) model.manifests.delete(`${removed.repository}\n${removed.digest}`);
      for (const removed of await store.sweepBlobLinks({ touchedBefore: later(), limit: 1000, keepWithConversions: [] })) {
        model.links.delete(`${removed.repository}\n${removed.digest}`);
      }
      for (const removed of await store.sweepBlobs({ touchedBefore: later(), limit: 1000 }, noBytes)) model.blobs.delete(removed.digest);
      return;
    }
  }
}

async function allUsage(store: MetadataStore, limit: number): Promise<RepositoryUsage[]> {
  const usage = new Map<string, RepositoryUsage>();
  const pages = await collectPages(async (last) => {
    const page = await store.listRepositoryUsage({ ...(last !== undefined && { last }), limit });
    for (const entry of page) usage.set(entry.repository, entry);
    return page.map((entry) => entry.repository);
  });
  return pages.flat().map((name) => usage.get(name)!);
}

async function assertMatches(store: MetadataStore, model: UsageModel): Promise<void> {
  for (const name of REPOSITORIES) assert.deepEqual(await store.repositoryUsage(name), model.repository(name), `usage of ${name}`);
  assert.deepEqual(await store.registryUsage(), model.registry(), 'registry usage');
  assert.deepEqual(await allUsage(store, 2), model.repositories().map((name) => model.repository(name)), 'listRepositoryUsage');
}

/** The usage methods and the quota check of linkBlob and putManifest. */
export function usageContract(test: TestApi, subject: { store(): MetadataStore }): void {
  const { describe, it } = test;

  describe('usage', () => {
    it('counts a blob once per repository and once in the registry, and manifests by their bytes', async () => {
      const store = subject.store();
      const [first, second] = [blobOf(0), blobOf(1)];
      await store.linkBlob('usage/a', first.digest, first.size);
      await store.linkBlob('usage/a', first.digest, first.size);
      await store.linkBlob('usage/b', first.digest, first.size);
      await store.linkBlob('usage/b', second.digest, second.size);
      const write = manifestOf('usage/a', 0, 'latest');
      await store.putManifest(write);
      await store.putManifest({ ...write, tag: 'again' });
      const manifestBytes = write.manifest.size;
      assert.deepEqual(await store.repositoryUsage('usage/a'), { repository: 'usage/a', blobBytes: 100, blobCount: 1, manifestBytes, manifestCount: 1 });
      assert.deepEqual(await store.repositoryUsage('usage/b'), { repository: 'usage/b', blobBytes: 300, blobCount: 2, manifestBytes: 0, manifestCount: 0 });
      assert.deepEqual(await store.repositoryUsage('usage/none'), { repository: 'usage/none', blobBytes: 0, blobCount: 0, manifestBytes: 0, manifestCount: 0 });
      assert.deepEqual(await store.registryUsage(), { blobBytes: 300, blobCount: 2, manifestBytes, manifestCount: 1 });
      assert.deepEqual(
        (await allUsage(store, 1)).map((entry) => entry.repository),
        ['usage/a', 'usage/b'],
      );
    });

    it('takes unlinked blobs and deleted manifests off the repository, and collected blobs off the registry', async () => {
      const store = subject.store();
      const { digest, size } = blobOf(2);
      await store.linkBlob('usage/a', digest, size);
      const write = manifestOf('usage/a', 3);
      await store.putManifest(write);
      assert.equal(await store.deleteManifest('usage/a', write.manifest.digest), true);
      assert.equal(await store.unlinkBlob('usage/a', digest), true);
      assert.deepEqual(await store.repositoryUsage('usage/a'), { repository: 'usage/a', blobBytes: 0, blobCount: 0, manifestBytes: 0, manifestCount: 0 });
      assert.deepEqual(await store.listRepositoryUsage({ limit: 10 }), [], 'a repository that holds nothing is not listed');
      // The bytes are still in the blob store until the collector removes them.
      assert.deepEqual(await store.registryUsage(), { blobBytes: size, blobCount: 1, manifestBytes: 0, manifestCount: 0 });
      await store.sweepBlobs({ touchedBefore: later(), limit: 10 }, noBytes);
      assert.deepEqual(await store.registryUsage(), { blobBytes: 0, blobCount: 0, manifestBytes: 0, manifestCount: 0 });
    });

    it('refuses a new link or manifest past the quota with DENIED, writing nothing; what is already there is free', async () => {
      const store = subject.store();
      const quota = { repository: 'usage/*', limit: 350 };
      await store.linkBlob('usage/a', blobOf(0).digest, 100, [], { quota });
      await store.linkBlob('usage/a', blobOf(1).digest, 200, [], { quota });
      const refused = await rejectsWithRegistryError(store.linkBlob('usage/a', blobOf(2).digest, 300, [], { quota }), { code: 'DENIED', status: 403 });
      assert.match(refused.message, /usage\/\*/, 'the message names the quota');
      assert.equal(await store.blobLink('usage/a', blobOf(2).digest), undefined, 'no link');
      // Linking again what the repository has costs nothing, even at the limit.
      await store.linkBlob('usage/a', blobOf(1).digest, 200, [], { quota: { ...quota, limit: 300 } });
      const write = manifestOf('usage/a', 0, 'latest');
      await rejectsWithRegistryError(store.putManifest({ ...write, quota: { ...quota, limit: 300 } }), { code: 'DENIED' });
      assert.equal(await store.getManifest('usage/a', write.manifest.digest), undefined, 'no manifest');
      assert.equal(await store.resolveTag('usage/a', 'latest'), undefined, 'no tag');
      assert.deepEqual(await store.repositoryUsage('usage/a'), { repository: 'usage/a', blobBytes: 300, blobCount: 2, manifestBytes: 0, manifestCount: 0 });
      await store.putManifest({ ...write, quota: { ...quota, limit: 300 + write.manifest.size } });
      assert.equal(await store.resolveTag('usage/a', 'latest'), write.manifest.digest);
    });

    it('keeps usage equal to a recount after any sequence of links, unlinks, pushes, deletes, quota refusals and collections', async () => {
      const store = subject.store();
      // One model for the whole test: the store is not emptied between runs.
      const model = new UsageModel();
      await fc.assert(
        fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 25 }), async (steps) => {
          for (const step of steps) await apply(store, model, step);
          await assertMatches(store, model);
        }),
        { numRuns: 12 },
      );
    });
  });
}
