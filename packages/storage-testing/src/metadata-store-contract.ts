import assert from 'node:assert/strict';
import { digestOf, type ConvertedManifest, type ManifestWrite, type MetadataStore, type StoredManifest } from '@berth/core';
import { rejectsWithRegistryError } from './assertions.js';
import { asyncOnly } from './async-only.js';
import { blobDigest, chunk, collectPages, hex, IMAGE_INDEX, manifestWrite, SCHEMA1_SIGNED } from './fixtures.js';
import { outboxContract } from './outbox-contract.js';
import { mirrorCacheContract } from './mirror-cache-contract.js';
import { usageContract } from './usage-contract.js';
import { browseContract } from './browse-contract.js';
import { required, type TestApi } from './test-api.js';

/**
 * Reads what a metadata store persisted without going through the store: raw SQL, the files, the
 * backing service's own client. The suite compares it with what the store was told, so a store that
 * answers from a cache, or keeps a field in memory only, is caught.
 */
export interface MetadataInspector {
  /** The persisted manifest, undefined when there is none. */
  manifest(repository: string, digest: string): Promise<{ mediaType: string; size: number; content: Uint8Array } | undefined>;
  /** What the manifest references, as recorded (any order). */
  references(repository: string, digest: string): Promise<Array<{ digest: string; kind: 'blob' | 'manifest' }>>;
  /** Every tag of the repository and the digest it points at. */
  tags(repository: string): Promise<Record<string, string>>;
  /** Every blob the repository links, with its recorded size. */
  blobLinks(repository: string): Promise<Record<string, number>>;
  /** The persisted upload session, undefined when there is none. */
  uploadSession(id: string): Promise<{ repository: string; startedAt: Date } | undefined>;
  /** Digests of the conversions kept for the repository, each with its source manifest's digest. */
  convertedManifests(repository: string): Promise<Record<string, string>>;
  /** The persisted value of a setting, undefined when it is not set. */
  setting(key: string): Promise<string | undefined>;
}

/** What the factory gives each test: a fresh, empty store and, optionally, ways to look past it. */
export interface MetadataStoreSubject {
  /** The store under test, fresh and empty. */
  store: MetadataStore;
  /** Closes the store and opens a new one on the same data (the 'persistence' group). */
  reopen?: () => Promise<MetadataStore>;
  /**
   * Opens a second, independent store on the same data, as another process would (the 'sharing'
   * group: several registry instances on one database). The suite closes it.
   */
  openSibling?: () => Promise<MetadataStore>;
  /** Reads persisted state past the store (the 'inspection' group). */
  inspect?: MetadataInspector;
  /** Runs after the store is closed: drop the database, remove the folder. */
  dispose?: () => Promise<void>;
}

/** Opens a fresh metadata store for one test of {@link metadataStoreContract}. */
export type MetadataStoreFactory = () => Promise<MetadataStoreSubject>;

/**
 * Groups a store may switch off, each because the MetadataStore interface does not promise it:
 * - persistence: data outlives the store object (an in-memory store keeps nothing);
 * - sharing: several store objects, in several processes, on one set of data;
 * - inspection: there is a way to read the data other than the store itself;
 * - ping: the optional `ping()` readiness check (without it, probes fall back to a read);
 * - mirror-cache: the optional `mirrorCache` of the pull-through cache (without it, the registry keeps it in memory).
 * - tagged-lookup: the optional `getTaggedManifest()` (without it, the registry resolves the tag, then the manifest).
 * Everything else is the interface itself and always runs.
 */
export type MetadataContractGroup = 'persistence' | 'sharing' | 'inspection' | 'ping' | 'mirror-cache' | 'tagged-lookup';

/** Options of {@link metadataStoreContract}: groups to skip, the suite name. */
export interface MetadataStoreContractOptions {
  /** Names the store in the test titles. */
  name?: string;
  /** Groups the store does not promise, left out. Default: none (every group runs). */
  skip?: readonly MetadataContractGroup[];
}

/** Sorted digests of manifests, for order-free comparison. */
const digestsOf = (manifests: StoredManifest[]) => manifests.map((manifest) => manifest.digest).sort();

const converted = (repository: string, sourceDigest: string, label: string): ConvertedManifest => {
  const content = new TextEncoder().encode(`converted ${label}`);
  return { repository, digest: digestOf(content), sourceDigest, mediaType: SCHEMA1_SIGNED, content };
};

/**
 * Registers the behaviour every MetadataStore must have as tests of the given runner. Each test gets
 * a new subject from the factory and closes (then disposes) it afterwards.
 */
export function metadataStoreContract(test: TestApi, factory: MetadataStoreFactory, options: MetadataStoreContractOptions = {}): void {
  const { describe, it, beforeEach, afterEach } = test;
  const skipped = new Set(options.skip ?? []);
  const group = (name: MetadataContractGroup, body: () => void) => {
    if (!skipped.has(name)) describe(name, body);
  };

  describe(`MetadataStore contract: ${options.name ?? 'store'}`, () => {
    let subject: MetadataStoreSubject;
    let store: MetadataStore;
    /** Further stores a test opened (siblings); closed after it. */
    let others: MetadataStore[];

    beforeEach(async () => {
      subject = await factory();
      store = asyncOnly(subject.store, 'MetadataStore');
      others = [];
    });

    afterEach(async () => {
      for (const other of others) await other.close();
      await store.close();
      await subject.dispose?.();
    });

    /** Stores a manifest and returns what getManifest then gives back. */
    async function put(write: ManifestWrite): Promise<StoredManifest> {
      await store.putManifest(write);
      const stored = await store.getManifest(write.manifest.repository, write.manifest.digest);
      assert.ok(stored, 'manifest was not stored');
      return stored;
    }

    async function sibling(): Promise<MetadataStore> {
      const opened = asyncOnly(await required(subject.openSibling, 'openSibling()', 'sharing')(), 'MetadataStore');
      others.push(opened);
      return opened;
    }

    describe('garbage collection', () => {
      // Cutoffs are given, never waited for: `later` treats everything written so far as old, `earlier` nothing.
      const later = () => new Date(Date.now() + 60_000);
      const earlier = () => new Date(Date.now() - 60_000);
      const noBytes = async () => undefined;

      it('takes the collector lease for one owner at a time, renews it, and frees it on release or expiry', async () => {
        assert.equal(await store.claimCollectorLease('one', later()), true);
        assert.equal(await store.claimCollectorLease('two', later()), false);
        assert.equal(await store.claimCollectorLease('one', later()), true, 'the owner renews its lease');
        await store.releaseCollectorLease('two');
        assert.equal(await store.claimCollectorLease('two', later()), false, 'only the owner releases');
        await store.releaseCollectorLease('one');
        assert.equal(await store.claimCollectorLease('two', earlier()), true);
        assert.equal(await store.claimCollectorLease('three', later()), true, 'an expired lease is taken over');
      });

      it('marks tagged manifests, their children and referrers, and sweeps only the unmarked, untagged, untouched ones', async () => {
        const child = manifestWrite('app', { blobReferences: [blobDigest('layer')] });
        const index = manifestWrite('app', { mediaType: IMAGE_INDEX, manifestReferences: [child.manifest.digest], tag: 'v1' });
        const signature = manifestWrite('app', { subject: child.manifest.digest });
        const untagged = manifestWrite('app');
        const untaggedReferrer = manifestWrite('app', { subject: untagged.manifest.digest });
        const elsewhere = manifestWrite('other', { content: child.manifest.content });
        for (const write of [child, index, signature, untagged, untaggedReferrer, elsewhere]) await store.putManifest(write);

        assert.equal(await store.markReachableManifests(), 3);
        assert.deepEqual(await store.sweepManifests({ touchedBefore: earlier(), limit: 10 }), [], 'nothing untouched for long enough');
        const dry = await store.sweepManifests({ touchedBefore: later(), limit: 10, dryRun: true });
        const expected = [elsewhere, untagged, untaggedReferrer]
          .map(({ manifest }) => ({ repository: manifest.repository, digest: manifest.digest, size: manifest.size }))
          .sort((a, b) => (a.repository + a.digest < b.repository + b.digest ? -1 : 1));
        assert.deepEqual(dry, expected);
        assert.ok(await store.getManifest('app', untagged.manifest.digest), 'a dry run removes nothing');
        const paged = await store.sweepManifests({ touchedBefore: later(), limit: 1, dryRun: true, after: dry[0] });
        assert.deepEqual(paged, [dry[1]]);

        const swept = await store.sweepManifests({ touchedBefore: later(), limit: 10 });
        assert.deepEqual(swept, expected);
        for (const gone of [untagged, untaggedReferrer, elsewhere]) {
          assert.equal(await store.getManifest(gone.manifest.repository, gone.manifest.digest), undefined);
        }
        for (const kept of [child, index, signature]) assert.ok(await store.getManifest('app', kept.manifest.digest));
        assert.equal(await store.resolveTag('app', 'v1'), index.manifest.digest);
      });

      it('keeps an unmarked manifest that a push touched after the marks were made', async () => {
        const untagged = manifestWrite('app');
        await store.putManifest(untagged);
        await store.markReachableManifests();
        const cutoff = later();
        // Tagged after marking: the put touches it (and a tag is a root anyway).
        await store.putManifest({ ...untagged, tag: 'now' });
        assert.deepEqual(await store.sweepManifests({ touchedBefore: cutoff, limit: 10 }), []);
        assert.equal(await store.resolveTag('app', 'now'), untagged.manifest.digest);
      });

      it('sweeps only the listed manifests when given `only`, with the same guards', async () => {
        const listed = manifestWrite('app');
        const listedReferrer = manifestWrite('app', { subject: listed.manifest.digest });
        const unlisted = manifestWrite('app');
        const listedTagged = manifestWrite('app', { tag: 'kept' });
        const listedElsewhere = manifestWrite('other', { content: listed.manifest.content });
        for (const write of [listed, listedReferrer, unlisted, listedTagged, listedElsewhere]) await store.putManifest(write);
        await store.markReachableManifests();
        const only = [listed, listedReferrer, listedTagged].map(({ manifest }) => ({ repository: manifest.repository, digest: manifest.digest }));

        assert.deepEqual(await store.sweepManifests({ touchedBefore: earlier(), limit: 10, only }), [], 'nothing untouched for long enough');
        const expected = [listed, listedReferrer]
          .map(({ manifest }) => ({ repository: manifest.repository, digest: manifest.digest, size: manifest.size }))
          .sort((a, b) => (a.digest < b.digest ? -1 : 1));
        assert.deepEqual(await store.sweepManifests({ touchedBefore: later(), limit: 10, only, dryRun: true }), expected);
        assert.equal((await store.sweepManifests({ touchedBefore: later(), limit: 1, only, dryRun: true })).length, 1, 'at most limit');
        assert.deepEqual(await store.sweepManifests({ touchedBefore: later(), limit: 10, only: [] }), []);
        assert.deepEqual(await store.sweepManifests({ touchedBefore: later(), limit: 10, only }), expected);
        for (const kept of [unlisted, listedTagged, listedElsewhere]) {
          assert.ok(await store.getManifest(kept.manifest.repository, kept.manifest.digest), 'an unlisted or tagged manifest stays');
        }
      });

      it('sweeps links no manifest of the repository names, unless the repository is uploading or a conversion needs them', async () => {
        const named = blobDigest('named');
        const unnamed = blobDigest('unnamed');
        const conversionBlob = blobDigest('empty layer');
        await store.linkBlob('app', named, 1);
        await store.linkBlob('app', unnamed, 2);
        await store.linkBlob('app', conversionBlob, 3);
        await store.linkBlob('busy', unnamed, 2);
        await store.linkBlob('converting', conversionBlob, 3);
        await store.putManifest(manifestWrite('app', { blobReferences: [named], tag: 'v1' }));
        const source = manifestWrite('converting', { tag: 'v1' });
        await store.putManifest(source);
        await store.putConvertedManifest(converted('converting', source.manifest.digest, 'schema1'));
        await store.createUploadSession({ id: 'busy-upload', repository: 'busy', startedAt: new Date() });
        const options = { limit: 10, keepWithConversions: [conversionBlob] };

        assert.deepEqual(await store.sweepBlobLinks({ ...options, touchedBefore: earlier() }), [], 'recently linked');
        const expected = [
          { repository: 'app', digest: conversionBlob },
          { repository: 'app', digest: unnamed },
        ].sort((a, b) => (a.digest < b.digest ? -1 : 1));
        assert.deepEqual(await store.sweepBlobLinks({ ...options, touchedBefore: later(), dryRun: true }), expected);
        assert.ok(await store.blobLink('app', unnamed), 'a dry run removes nothing');
        assert.deepEqual(await store.sweepBlobLinks({ ...options, touchedBefore: later() }), expected);
        assert.equal(await store.blobLink('app', unnamed), undefined);
        assert.ok(await store.blobLink('app', named));
        assert.ok(await store.blobLink('busy', unnamed), 'a repository with an upload open keeps its links');
        assert.ok(await store.blobLink('converting', conversionBlob), 'conversions keep the blob they name');
      });

      it('sweeps blobs nothing links, names or is uploading, removing the bytes before the row is gone', async () => {
        const free = blobDigest('free');
        const linked = blobDigest('linked');
        const named = blobDigest('named');
        const uploading = blobDigest('uploading');
        await store.touchBlob(free, 10);
        await store.linkBlob('app', linked, 20);
        await store.touchBlob(named, 30);
        await store.putManifest(manifestWrite('app', { blobReferences: [named] }));
        await store.createUploadSession({ id: 'upload-1', repository: 'app', startedAt: new Date() });
        await store.touchBlob(uploading, 40, 'upload-1');

        assert.deepEqual(await store.sweepBlobs({ touchedBefore: earlier(), limit: 10 }, noBytes), [], 'recently touched');
        assert.deepEqual(await store.sweepBlobs({ touchedBefore: later(), limit: 10, dryRun: true }, noBytes), [{ digest: free, size: 10 }]);
        const removed: string[] = [];
        const swept = await store.sweepBlobs({ touchedBefore: later(), limit: 10 }, async (blobs) => {
          removed.push(...blobs.map((blob) => blob.digest));
        });
        assert.deepEqual(swept, [{ digest: free, size: 10 }]);
        assert.deepEqual(removed, [free]);
        assert.deepEqual(await store.sweepBlobs({ touchedBefore: later(), limit: 10, dryRun: true }, noBytes), [], 'its row went with it');

        // Once the upload is done with and the link is gone, that blob goes too.
        await store.deleteUploadSession('upload-1');
        await store.unlinkBlob('app', linked);
        const rest = await store.sweepBlobs({ touchedBefore: later(), limit: 10 }, noBytes);
        assert.deepEqual(rest.map((blob) => blob.digest).sort(), [linked, uploading].sort());
      });

      it('keeps a blob when removing its bytes fails, so the next run tries again', async () => {
        const digest = blobDigest('stubborn');
        await store.touchBlob(digest, 5);
        await assert.rejects(
          store.sweepBlobs({ touchedBefore: later(), limit: 10 }, async () => {
            throw new Error('disk says no');
          }),
          /disk says no/,
        );
        assert.deepEqual(await store.sweepBlobs({ touchedBefore: later(), limit: 10, dryRun: true }, noBytes), [{ digest, size: 5 }]);
      });

      it('adopts blobs it did not know with the age of their bytes, leaving known ones as they are', async () => {
        const old = blobDigest('old');
        const known = blobDigest('known');
        await store.touchBlob(known, 2);
        await store.adoptBlobs([
          { digest: old, size: 1, modifiedAt: new Date(Date.now() - 3_600_000) },
          { digest: known, size: 2, modifiedAt: new Date(Date.now() - 3_600_000) },
        ]);
        const swept = await store.sweepBlobs({ touchedBefore: earlier(), limit: 10 }, noBytes);
        assert.deepEqual(swept, [{ digest: old, size: 1 }]);
      });

      it('refuses a manifest whose references are gone when asked to require them, writing nothing', async () => {
        const child = manifestWrite('app');
        await store.putManifest(child);
        await store.linkBlob('app', blobDigest('present'), 1);
        const missingBlob = manifestWrite('app', { blobReferences: [blobDigest('present'), blobDigest('absent')], tag: 'v1' });
        await rejectsWithRegistryError(store.putManifest({ ...missingBlob, requireReferences: true }), { code: 'MANIFEST_BLOB_UNKNOWN' });
        const missingChild = manifestWrite('app', { mediaType: IMAGE_INDEX, manifestReferences: [digestOf('no such manifest')], tag: 'v1' });
        await rejectsWithRegistryError(store.putManifest({ ...missingChild, requireReferences: true }), { code: 'MANIFEST_BLOB_UNKNOWN' });
        assert.equal(await store.getManifest('app', missingBlob.manifest.digest), undefined);
        assert.equal(await store.resolveTag('app', 'v1'), undefined);

        const complete = manifestWrite('app', {
          mediaType: IMAGE_INDEX,
          blobReferences: [blobDigest('present')],
          manifestReferences: [child.manifest.digest],
          tag: 'v1',
        });
        await store.putManifest({ ...complete, requireReferences: true });
        assert.equal(await store.resolveTag('app', 'v1'), complete.manifest.digest);
      });
    });

    describe('repositories', () => {
      it('has none when empty', async () => {
        assert.deepEqual(await store.listRepositories({ limit: 10 }), []);
        assert.equal(await store.repositoryExists('library/alpine'), false);
      });

      it('exists while it has a manifest or a blob link', async () => {
        const write = manifestWrite('with/manifest');
        await store.putManifest(write);
        await store.linkBlob('with/link', blobDigest('a'), 3);
        assert.equal(await store.repositoryExists('with/manifest'), true);
        assert.equal(await store.repositoryExists('with/link'), true);
        assert.equal(await store.repositoryExists('with'), false);

        await store.unlinkBlob('with/link', blobDigest('a'));
        await store.deleteManifest('with/manifest', write.manifest.digest);
        assert.equal(await store.repositoryExists('with/manifest'), false);
        assert.equal(await store.repositoryExists('with/link'), false);
        assert.deepEqual(await store.listRepositories({ limit: 10 }), []);
      });

      it('lists each repository once, in lexical (bytewise) order, from manifests and blob links', async () => {
        const withManifest = ['b', 'a/b', 'a.b', 'ab', 'shared'];
        const withLink = ['a-b', 'a_b', 'a', 'shared', 'z0'];
        for (const repository of withManifest) await store.putManifest(manifestWrite(repository));
        for (const repository of withLink) await store.linkBlob(repository, blobDigest(repository), 1);
        // Two manifests in one repository still list it once.
        await store.putManifest(manifestWrite('b'));

        const expected = [...new Set([...withManifest, ...withLink])].sort();
        assert.deepEqual(await store.listRepositories({ limit: 100 }), expected);
      });

      it('pages by key: full pages, an exact last page, and a `last` past the end', async () => {
        const names = ['r/a', 'r/b', 'r/c', 'r/d', 'r/e'];
        for (const [index, repository] of names.entries()) {
          if (index % 2 === 0) await store.putManifest(manifestWrite(repository));
          else await store.linkBlob(repository, blobDigest(repository), 1);
        }

        assert.deepEqual(await collectPages((last) => store.listRepositories({ last, limit: 2 })), chunk(names, 2));
        // The page size divides the count: the page after the last full one is empty.
        assert.deepEqual(await store.listRepositories({ limit: names.length }), names);
        assert.deepEqual(await store.listRepositories({ last: names.at(-1), limit: names.length }), []);
        assert.deepEqual(await store.listRepositories({ last: 'zzz', limit: 10 }), []);
        // `last` need not be a repository itself.
        assert.deepEqual(await store.listRepositories({ last: 'r/bb', limit: 10 }), ['r/c', 'r/d', 'r/e']);
        assert.deepEqual(await store.listRepositories({ limit: 0 }), []);
      });
    });

    describe('blob links', () => {
      it('links, reads and unlinks a blob per repository', async () => {
        const digest = blobDigest('layer');
        assert.equal(await store.blobLink('app', digest), undefined);

        await store.linkBlob('app', digest, 1234);
        assert.deepEqual(await store.blobLink('app', digest), { digest, size: 1234 });
        assert.equal(await store.blobLink('other', digest), undefined);

        assert.equal(await store.unlinkBlob('app', digest), true);
        assert.equal(await store.unlinkBlob('app', digest), false);
        assert.equal(await store.blobLink('app', digest), undefined);
      });

      it('is idempotent and keeps sizes beyond 32 bits', async () => {
        const digest = blobDigest('big');
        const size = 5 * 2 ** 32 + 7;
        await store.linkBlob('app', digest, size);
        await store.linkBlob('app', digest, size);
        assert.deepEqual(await store.blobLink('app', digest), { digest, size });
        assert.equal(await store.unlinkBlob('app', digest), true);
        assert.equal(await store.blobLink('app', digest), undefined);
      });

      it('lists the repositories linking a blob, in lexical order, a page at a time', async () => {
        const digest = blobDigest('mountable');
        const other = blobDigest('other');
        for (const repository of ['team/b', 'team/a', 'zeta', 'alpha/x']) await store.linkBlob(repository, digest, 3);
        await store.linkBlob('beta', other, 3);
        await store.unlinkBlob('zeta', digest);
        assert.deepEqual(await store.repositoriesLinkingBlob(digest, { limit: 10 }), ['alpha/x', 'team/a', 'team/b']);
        assert.deepEqual(await store.repositoriesLinkingBlob(digest, { limit: 2 }), ['alpha/x', 'team/a']);
        assert.deepEqual(await store.repositoriesLinkingBlob(digest, { last: 'team/a', limit: 2 }), ['team/b']);
        assert.deepEqual(await store.repositoriesLinkingBlob(digest, { limit: 0 }), []);
        assert.deepEqual(await store.repositoriesLinkingBlob(blobDigest('nowhere'), { limit: 10 }), []);
      });

      it('tells whether any repository still links a blob', async () => {
        const digest = blobDigest('shared');
        assert.equal(await store.isBlobLinkedAnywhere(digest), false);
        await store.linkBlob('one', digest, 10);
        await store.linkBlob('two', digest, 10);
        await store.unlinkBlob('one', digest);
        assert.equal(await store.isBlobLinkedAnywhere(digest), true);
        await store.unlinkBlob('two', digest);
        assert.equal(await store.isBlobLinkedAnywhere(digest), false);
      });
    });

    describe('manifests', () => {
      it('returns the exact bytes and every field that was stored', async () => {
        // Every byte value, so no text decoding or trimming can pass unnoticed.
        const content = Uint8Array.from({ length: 512 }, (_, index) => (index * 7) % 256);
        const write = manifestWrite('app', {
          content,
          mediaType: IMAGE_INDEX,
          subject: digestOf('subject'),
          artifactType: 'application/vnd.example.sbom',
          annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z', empty: '' },
          blobReferences: [blobDigest('config'), blobDigest('layer')],
          manifestReferences: [digestOf('child')],
        });
        const before = Date.now();
        const stored = await put(write);
        const after = Date.now();

        const { content: storedContent, createdAt, ...fields } = stored;
        const { content: writtenContent, ...writtenFields } = write.manifest;
        assert.deepEqual(fields, writtenFields);
        assert.equal(hex(storedContent), hex(writtenContent));
        assert.equal(storedContent.byteLength, 512);
        assert.ok(createdAt instanceof Date, 'createdAt is a Date');
        assert.ok(createdAt.getTime() >= before && createdAt.getTime() <= after, `createdAt ${createdAt.toISOString()} is the time of the write`);
      });

      it('leaves optional fields absent when they were not given', async () => {
        const stored = await put(manifestWrite('app'));
        for (const field of ['subject', 'artifactType', 'annotations']) {
          assert.ok(!(field in stored), `${field} is absent, not ${String((stored as unknown as Record<string, unknown>)[field])}`);
        }
      });

      it('keeps manifests per repository', async () => {
        const write = manifestWrite('one');
        await store.putManifest(write);
        assert.equal(await store.getManifest('two', write.manifest.digest), undefined);
        assert.equal(await store.getManifest('one', digestOf('never pushed')), undefined);
      });

      it('treats the same manifest pushed twice as one, while still moving the tag', async () => {
        const first = manifestWrite('app', { tag: 'v1' });
        const other = manifestWrite('app', { tag: 'latest' });
        const original = await put(first);
        await store.putManifest(other);

        await store.putManifest({ ...first, tag: 'latest' });
        const again = await store.getManifest('app', first.manifest.digest);
        assert.ok(again);
        assert.equal(again.createdAt.getTime(), original.createdAt.getTime(), 'the first createdAt is kept');
        assert.equal(hex(again.content), hex(first.manifest.content));
        assert.equal(await store.resolveTag('app', 'latest'), first.manifest.digest);
        assert.equal(await store.resolveTag('app', 'v1'), first.manifest.digest);
        assert.deepEqual(await store.listTags('app', { limit: 10 }), ['latest', 'v1']);
      });

      it('survives concurrent pushes of one manifest under different tags', async () => {
        const write = manifestWrite('app', { blobReferences: [blobDigest('layer')] });
        const tags = Array.from({ length: 8 }, (_, index) => `t${index}`);
        await Promise.all(tags.map((tag) => store.putManifest({ ...write, tag })));
        assert.deepEqual(await store.listTags('app', { limit: 100 }), tags);
        for (const tag of tags) assert.equal(await store.resolveTag('app', tag), write.manifest.digest);
      });
    });

    describe('tags', () => {
      it('resolves, moves and deletes a tag without touching the manifest', async () => {
        assert.equal(await store.resolveTag('app', 'latest'), undefined);
        const a = manifestWrite('app', { tag: 'latest' });
        const b = manifestWrite('app');
        await store.putManifest(a);
        assert.equal(await store.resolveTag('app', 'latest'), a.manifest.digest);
        assert.equal(await store.resolveTag('other', 'latest'), undefined);

        await store.putManifest({ ...b, tag: 'latest' });
        assert.equal(await store.resolveTag('app', 'latest'), b.manifest.digest);
        assert.deepEqual(await store.listTags('app', { limit: 10 }), ['latest']);

        assert.equal(await store.deleteTag('app', 'latest'), true);
        assert.equal(await store.deleteTag('app', 'latest'), false);
        assert.equal(await store.resolveTag('app', 'latest'), undefined);
        assert.ok(await store.getManifest('app', b.manifest.digest), 'the manifest stays');
        assert.equal(await store.repositoryExists('app'), true);
      });

      it('lists tags of one repository in lexical (bytewise) order', async () => {
        const tags = ['v1', 'V2', 'latest', '1.0', '_x', 'a-b', 'a.b', 'a_b', 'A'];
        const write = manifestWrite('app');
        for (const tag of tags) await store.putManifest({ ...write, tag });
        await store.putManifest(manifestWrite('other', { tag: 'zzz' }));
        assert.deepEqual(await store.listTags('app', { limit: 100 }), [...tags].sort());
      });

      it('records when a tag was pushed, moved or pushed again, and lists tags with digest and push time a page at a time', async () => {
        const a = manifestWrite('app');
        const b = manifestWrite('app');
        const before = Date.now();
        await store.putManifest({ ...a, tag: 'v1' });
        await store.putManifest({ ...a, tag: 'v2' });
        await store.putManifest(manifestWrite('other', { tag: 'v0' }));
        const first = await store.listTagRecords('app', { limit: 10 });
        assert.deepEqual(first.map(({ name, digest }) => ({ name, digest })), [
          { name: 'v1', digest: a.manifest.digest },
          { name: 'v2', digest: a.manifest.digest },
        ]);
        for (const record of first) {
          assert.ok(record.pushedAt instanceof Date);
          assert.ok(record.pushedAt.getTime() >= before - 1000 && record.pushedAt.getTime() <= Date.now() + 1000, 'the push time is the time of the push');
        }
        // Wait for the clock to move on, so a later push has a later time.
        const v1At = first[0]!.pushedAt.getTime();
        while (Date.now() <= v1At + 1) await new Promise((resolve) => setTimeout(resolve, 2));
        await store.putManifest({ ...b, tag: 'v1' });
        await store.putManifest({ ...a, tag: 'v2' });
        const [moved, again] = await store.listTagRecords('app', { limit: 10 });
        assert.equal(moved!.digest, b.manifest.digest);
        assert.ok(moved!.pushedAt.getTime() > v1At, 'moving a tag sets its push time');
        assert.ok(again!.pushedAt.getTime() > v1At, 'pushing a tag again sets its push time');

        const names = ['t1', 't2', 't3', 't4', 't5'];
        for (const name of names) await store.putManifest({ ...a, tag: name });
        const pages = await collectPages(async (last) =>
          (await store.listTagRecords('app', { ...(last !== undefined && { last }), limit: 2 })).map((record) => record.name),
        );
        assert.deepEqual(pages, chunk(['t1', 't2', 't3', 't4', 't5', 'v1', 'v2'], 2));
        assert.deepEqual(await store.listTagRecords('app', { limit: 0 }), []);
        assert.deepEqual(await store.listTagRecords('none', { limit: 5 }), []);
      });

      it('deletes a tag with an expectation only while it points at that digest and was pushed before that time', async () => {
        const a = manifestWrite('app', { tag: 'v1' });
        const b = manifestWrite('app');
        await store.putManifest(a);
        const [record] = await store.listTagRecords('app', { limit: 1 });
        const after = new Date(record!.pushedAt.getTime() + 1);
        assert.equal(await store.deleteTag('app', 'v1', [], { digest: b.manifest.digest, pushedBefore: new Date(Date.now() + 60_000) }), false, 'another digest');
        assert.equal(await store.deleteTag('app', 'v1', [], { digest: a.manifest.digest, pushedBefore: record!.pushedAt }), false, 'pushed since');
        assert.equal(await store.resolveTag('app', 'v1'), a.manifest.digest);
        assert.equal(await store.deleteTag('app', 'v1', [], { digest: a.manifest.digest, pushedBefore: after }), true);
        assert.equal(await store.resolveTag('app', 'v1'), undefined);
        assert.ok(await store.getManifest('app', a.manifest.digest), 'the manifest stays');
        assert.equal(await store.deleteTag('app', 'v1', [], { digest: a.manifest.digest, pushedBefore: new Date(Date.now() + 60_000) }), false, 'already gone');
      });

      it('pages by key: empty, full pages, an exact last page, and a `last` past the end', async () => {
        assert.deepEqual(await store.listTags('app', { limit: 3 }), []);
        const tags = ['t1', 't2', 't3', 't4', 't5', 't6'];
        const write = manifestWrite('app');
        for (const tag of tags) await store.putManifest({ ...write, tag });

        assert.deepEqual(await collectPages((last) => store.listTags('app', { last, limit: 4 })), chunk(tags, 4));
        assert.deepEqual(await collectPages((last) => store.listTags('app', { last, limit: 3 })), chunk(tags, 3));
        assert.deepEqual(await store.listTags('app', { last: 't6', limit: 3 }), []);
        assert.deepEqual(await store.listTags('app', { last: 'u', limit: 3 }), []);
        assert.deepEqual(await store.listTags('app', { last: 't2a', limit: 2 }), ['t3', 't4']);
        assert.deepEqual(await store.listTags('app', { limit: 0 }), []);
      });
    });

    describe('deleteManifest', () => {
      it('answers false for an unknown manifest', async () => {
        assert.equal(await store.deleteManifest('app', digestOf('unknown')), false);
      });

      it('removes the manifest with its tags, conversions and referrer entry, and nothing else', async () => {
        const target = manifestWrite('app', { tag: 'v1', blobReferences: [blobDigest('layer')] });
        const kept = manifestWrite('app', { tag: 'v2' });
        await store.putManifest(target);
        await store.putManifest({ ...target, tag: 'latest' });
        await store.putManifest(kept);
        // The same digest in another repository is another manifest.
        await store.putManifest({ ...target, manifest: { ...target.manifest, repository: 'mirror' }, tag: 'v1' });
        const conversion = converted('app', target.manifest.digest, 'target');
        await store.putConvertedManifest(conversion);
        const referrer = manifestWrite('app', { subject: kept.manifest.digest, artifactType: 'x' });
        await store.putManifest(referrer);

        assert.equal(await store.deleteManifest('app', target.manifest.digest), true);
        assert.equal(await store.deleteManifest('app', target.manifest.digest), false);

        assert.equal(await store.getManifest('app', target.manifest.digest), undefined);
        assert.equal(await store.resolveTag('app', 'v1'), undefined);
        assert.equal(await store.resolveTag('app', 'latest'), undefined);
        assert.deepEqual(await store.listTags('app', { limit: 10 }), ['v2']);
        assert.equal(await store.getConvertedManifest('app', conversion.digest), undefined);

        assert.ok(await store.getManifest('mirror', target.manifest.digest), 'the mirror copy stays');
        assert.equal(await store.resolveTag('mirror', 'v1'), target.manifest.digest);

        assert.equal(await store.deleteManifest('app', referrer.manifest.digest), true);
        assert.deepEqual(await store.listReferrers('app', kept.manifest.digest), []);
      });

      it('lets a repository disappear with its last manifest', async () => {
        const write = manifestWrite('gone', { tag: 'latest' });
        await store.putManifest(write);
        await store.deleteManifest('gone', write.manifest.digest);
        assert.equal(await store.repositoryExists('gone'), false);
        assert.deepEqual(await store.listRepositories({ limit: 10 }), []);
      });
    });

    describe('referrers', () => {
      it('lists the manifests of one repository whose subject matches, optionally of one artifact type', async () => {
        const subjectManifest = manifestWrite('app');
        await store.putManifest(subjectManifest);
        const subjectDigest = subjectManifest.manifest.digest;
        const sbom = manifestWrite('app', { subject: subjectDigest, artifactType: 'application/sbom' });
        const signature = manifestWrite('app', { subject: subjectDigest, artifactType: 'application/sig' });
        const untyped = manifestWrite('app', { subject: subjectDigest });
        const elsewhere = manifestWrite('other', { subject: subjectDigest, artifactType: 'application/sbom' });
        const unrelated = manifestWrite('app', { subject: digestOf('another'), artifactType: 'application/sbom' });
        for (const write of [sbom, signature, untyped, elsewhere, unrelated]) await store.putManifest(write);

        assert.deepEqual(
          digestsOf(await store.listReferrers('app', subjectDigest)),
          [sbom, signature, untyped].map((write) => write.manifest.digest).sort(),
        );
        const sboms = await store.listReferrers('app', subjectDigest, 'application/sbom');
        assert.deepEqual(digestsOf(sboms), [sbom.manifest.digest]);
        assert.equal(sboms[0]?.artifactType, 'application/sbom');
        assert.equal(hex(sboms[0]!.content), hex(sbom.manifest.content));
        assert.deepEqual(await store.listReferrers('app', subjectDigest, 'application/none'), []);
        assert.deepEqual(await store.listReferrers('app', digestOf('nothing refers here')), []);
      });
    });

    describe('upload sessions', () => {
      it('creates, reads and deletes a session', async () => {
        const session = { id: 'c0ffee00-0000-4000-8000-000000000001', repository: 'app', startedAt: new Date(1_700_000_000_123) };
        assert.equal(await store.getUploadSession(session.id), undefined);
        await store.createUploadSession(session);
        assert.deepEqual(await store.getUploadSession(session.id), session);
        assert.equal(await store.deleteUploadSession(session.id), true);
        assert.equal(await store.deleteUploadSession(session.id), false);
        assert.equal(await store.getUploadSession(session.id), undefined);
      });

      it('removes the sessions begun before a time, oldest first, at most limit at a time', async () => {
        const at = (ms: number) => new Date(1_700_000_000_000 + ms);
        for (const [id, ms] of [['s3', 3000], ['s1', 1000], ['s2', 2000], ['s4', 4000]] as const) {
          await store.createUploadSession({ id, repository: 'app', startedAt: at(ms) });
        }
        assert.deepEqual(await store.deleteUploadSessionsStartedBefore(at(3500), 2), ['s1', 's2']);
        assert.equal(await store.getUploadSession('s1'), undefined);
        assert.deepEqual(await store.deleteUploadSessionsStartedBefore(at(3500), 2), ['s3']);
        assert.deepEqual(await store.deleteUploadSessionsStartedBefore(at(3500), 2), []);
        assert.deepEqual(await store.deleteUploadSessionsStartedBefore(at(9999), 0), []);
        assert.equal((await store.getUploadSession('s4'))?.repository, 'app');
      });

      it('does not make a repository exist', async () => {
        await store.createUploadSession({ id: 'session', repository: 'pending', startedAt: new Date() });
        assert.equal(await store.repositoryExists('pending'), false);
      });
    });

    describe('converted manifests', () => {
      it('stores a conversion once and returns its exact bytes', async () => {
        const source = manifestWrite('app');
        await store.putManifest(source);
        const content = Uint8Array.from([0, 255, 10, 13, 0x7b]);
        const conversion = { repository: 'app', digest: digestOf(content), sourceDigest: source.manifest.digest, mediaType: SCHEMA1_SIGNED, content };
        await store.putConvertedManifest(conversion);
        await store.putConvertedManifest(conversion);

        const stored = await store.getConvertedManifest('app', conversion.digest);
        assert.ok(stored);
        const { content: storedContent, ...fields } = stored;
        const { content: _written, ...writtenFields } = conversion;
        assert.deepEqual(fields, writtenFields);
        assert.equal(hex(storedContent), hex(content));
        assert.equal(await store.getConvertedManifest('other', conversion.digest), undefined);
      });

      it('refuses a conversion of an unknown manifest with MANIFEST_UNKNOWN', async () => {
        await rejectsWithRegistryError(store.putConvertedManifest(converted('app', digestOf('never stored'), 'orphan')), {
          code: 'MANIFEST_UNKNOWN',
        });
        assert.equal(await store.getConvertedManifest('app', converted('app', digestOf('never stored'), 'orphan').digest), undefined);
      });
    });

    describe('settings', () => {
      it('keeps the first value set for a key', async () => {
        assert.equal(await store.getOrSetSetting('signing-key', 'first'), 'first');
        assert.equal(await store.getOrSetSetting('signing-key', 'second'), 'first');
        assert.equal(await store.getOrSetSetting('other-key', 'second'), 'second');
      });

      it('gives concurrent callers one and the same value', async () => {
        const values = Array.from({ length: 10 }, (_, index) => `value-${index}`);
        const results = await Promise.all(values.map((value) => store.getOrSetSetting('race', value)));
        assert.equal(new Set(results).size, 1);
        assert.ok(values.includes(results[0]!));
        assert.equal(await store.getOrSetSetting('race', 'late'), results[0]);
      });
    });

    group('tagged-lookup', () => {
      const SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json';
      const tagged: NonNullable<MetadataStore['getTaggedManifest']> = (...args) =>
        required(store.getTaggedManifest, 'getTaggedManifest() on the store', 'tagged-lookup').apply(store, args);
      const conversion = (sourceDigest: string, mediaType: string, label: string, tag?: string): ConvertedManifest => {
        const content = new TextEncoder().encode(`${mediaType} of ${label}`);
        return { repository: 'app', digest: digestOf(content), sourceDigest, mediaType, content, ...(tag !== undefined && { tag }) };
      };

      it('finds the manifest a tag points at, with every field getManifest gives', async () => {
        const write = manifestWrite('app', { tag: 'v1', subject: digestOf('subject'), annotations: { a: 'b' } });
        const stored = await put(write);
        const found = await tagged('app', 'v1');
        assert.ok(found);
        assert.equal(hex(found.manifest.content), hex(stored.content));
        assert.deepEqual({ ...found.manifest, content: undefined }, { ...stored, content: undefined });
        assert.ok(!('converted' in found), 'no conversion was asked for');
        assert.equal(await tagged('app', 'v2'), undefined);
        assert.equal(await tagged('other', 'v1'), undefined);
      });

      it('follows the tag when it moves, and finds nothing once it is deleted', async () => {
        const first = manifestWrite('app', { tag: 'v1' });
        const second = manifestWrite('app');
        await store.putManifest(first);
        await store.putManifest({ ...second, tag: 'v1' });
        assert.equal((await tagged('app', 'v1'))?.manifest.digest, second.manifest.digest);
        await store.deleteTag('app', 'v1');
        assert.equal(await tagged('app', 'v1'), undefined);
      });

      it('returns the conversion made for this tag, or for no tag, of the manifest the tag points at', async () => {
        const write = manifestWrite('app', { tag: 'v1' });
        await store.putManifest(write);
        await store.putManifest({ ...write, tag: 'v2' });
        const source = write.manifest.digest;
        const forV1 = conversion(source, SCHEMA1_SIGNED, 'v1', 'v1');
        const untagged = conversion(source, SCHEMA2, 'any tag');
        await store.putConvertedManifest(forV1);
        await store.putConvertedManifest(untagged);

        const schema1 = await tagged('app', 'v1', { mediaType: SCHEMA1_SIGNED, perTag: true });
        assert.equal(schema1?.manifest.digest, source);
        assert.equal(schema1?.converted?.digest, forV1.digest);
        assert.equal(schema1?.converted?.tag, 'v1');
        assert.equal(schema1?.converted?.sourceDigest, source);
        assert.equal(hex(schema1!.converted!.content), hex(forV1.content));
        // Made for v1, so not v2's; nor one made for no tag when a tag's own is asked for.
        assert.equal((await tagged('app', 'v2', { mediaType: SCHEMA1_SIGNED, perTag: true }))?.converted, undefined);
        assert.equal((await tagged('app', 'v1', { mediaType: SCHEMA2, perTag: true }))?.converted, undefined);

        for (const tag of ['v1', 'v2']) {
          const schema2 = await tagged('app', tag, { mediaType: SCHEMA2, perTag: false });
          assert.equal(schema2?.converted?.digest, untagged.digest);
          assert.ok(!('tag' in schema2!.converted!), 'a conversion for no tag has no tag');
          assert.equal(hex(schema2!.converted!.content), hex(untagged.content));
        }
        assert.equal((await tagged('app', 'v1', { mediaType: SCHEMA1_SIGNED, perTag: false }))?.converted, undefined);
      });

      it("does not return a conversion of the manifest the tag pointed at before", async () => {
        const old = manifestWrite('app', { tag: 'v1' });
        await store.putManifest(old);
        await store.putConvertedManifest(conversion(old.manifest.digest, SCHEMA1_SIGNED, 'old', 'v1'));
        const moved = manifestWrite('app');
        await store.putManifest({ ...moved, tag: 'v1' });
        const found = await tagged('app', 'v1', { mediaType: SCHEMA1_SIGNED, perTag: true });
        assert.equal(found?.manifest.digest, moved.manifest.digest);
        assert.equal(found?.converted, undefined);
      });

      it('records the tag of a conversion remembered earlier without one, keeping its first body', async () => {
        const write = manifestWrite('app', { tag: 'v1' });
        await store.putManifest(write);
        const withoutTag = conversion(write.manifest.digest, SCHEMA1_SIGNED, 'v1');
        await store.putConvertedManifest(withoutTag);
        assert.equal((await tagged('app', 'v1', { mediaType: SCHEMA1_SIGNED, perTag: true }))?.converted, undefined);
        await store.putConvertedManifest({ ...withoutTag, content: new Uint8Array([1, 2, 3]), tag: 'v1' });
        const found = await tagged('app', 'v1', { mediaType: SCHEMA1_SIGNED, perTag: true });
        assert.equal(found?.converted?.digest, withoutTag.digest);
        assert.equal(hex(found!.converted!.content), hex(withoutTag.content));
        assert.equal((await store.getConvertedManifest('app', withoutTag.digest))?.tag, 'v1');
      });
    });

    group('ping', () => {
      it('resolves while the store is open, and changes nothing', async () => {
        const ping = required(store.ping, 'ping() on the store', 'ping');
        await put(manifestWrite('app', { tag: 'latest' }));
        await ping.call(store);
        await ping.call(store);
        assert.deepEqual(await store.listRepositories({ limit: 10 }), ['app']);
        assert.deepEqual(await store.listTags('app', { limit: 10 }), ['latest']);
      });

      it('rejects once the store is closed', async () => {
        const ping = required(store.ping, 'ping() on the store', 'ping');
        await store.close();
        await assert.rejects(ping.call(store));
      });
    });

    usageContract(test, { store: () => store });
    browseContract(test, { store: () => store });

    outboxContract(test, {
      store: () => store,
      sibling: () => (skipped.has('sharing') ? undefined : sibling()),
      reopen: skipped.has('persistence')
        ? undefined
        : async () => (store = asyncOnly(await required(subject.reopen, 'reopen()', 'persistence')(), 'MetadataStore')),
    });

    group('mirror-cache', () => {
      mirrorCacheContract(test, {
        store: () => store,
        reopen: skipped.has('persistence')
          ? undefined
          : async () => (store = asyncOnly(await required(subject.reopen, 'reopen()', 'persistence')(), 'MetadataStore')),
      });
    });

    group('persistence', () => {
      it('keeps everything across a reopen', async () => {
        const reopen = required(subject.reopen, 'reopen()', 'persistence');
        const write = manifestWrite('app', { tag: 'latest', subject: digestOf('s'), artifactType: 'a', annotations: { k: 'v' } });
        const original = await put(write);
        await store.linkBlob('app', blobDigest('layer'), 42);
        const session = { id: 'persisted', repository: 'app', startedAt: new Date(1_700_000_000_000) };
        await store.createUploadSession(session);
        const conversion = { ...converted('app', write.manifest.digest, 'kept'), content: new Uint8Array([9, 8, 7]) };
        await store.putConvertedManifest(conversion);
        await store.getOrSetSetting('key', 'value');

        store = asyncOnly(await reopen(), 'MetadataStore');

        const reopened = await store.getManifest('app', write.manifest.digest);
        assert.ok(reopened);
        assert.deepEqual({ ...reopened, content: hex(reopened.content) }, { ...original, content: hex(original.content) });
        assert.equal(await store.resolveTag('app', 'latest'), write.manifest.digest);
        assert.deepEqual(await store.blobLink('app', blobDigest('layer')), { digest: blobDigest('layer'), size: 42 });
        assert.deepEqual(await store.getUploadSession('persisted'), session);
        assert.equal(hex((await store.getConvertedManifest('app', conversion.digest))!.content), '090807');
        assert.equal(await store.getOrSetSetting('key', 'other'), 'value');
        assert.deepEqual(await store.listRepositories({ limit: 10 }), ['app']);
      });
    });

    group('inspection', () => {
      const inspector = () => required(subject.inspect, 'inspect', 'inspection');

      it('persists a manifest with its references and tag as given', async () => {
        const inspect = inspector();
        const child = manifestWrite('app');
        const write = manifestWrite('app', {
          content: Uint8Array.from({ length: 300 }, (_, index) => (index * 13) % 256),
          mediaType: IMAGE_INDEX,
          tag: 'latest',
          // A reference listed twice is recorded once.
          blobReferences: [blobDigest('config'), blobDigest('layer'), blobDigest('layer')],
          manifestReferences: [child.manifest.digest],
        });
        await store.putManifest(child);
        await store.putManifest(write);

        const persisted = await inspect.manifest('app', write.manifest.digest);
        assert.ok(persisted, 'the manifest is persisted');
        assert.equal(hex(persisted.content), hex(write.manifest.content));
        assert.equal(persisted.mediaType, IMAGE_INDEX);
        assert.equal(persisted.size, 300);
        const references = await inspect.references('app', write.manifest.digest);
        const byDigest = (a: { digest: string }, b: { digest: string }) => (a.digest < b.digest ? -1 : 1);
        assert.deepEqual(
          [...references].sort(byDigest),
          [
            { digest: blobDigest('config'), kind: 'blob' },
            { digest: blobDigest('layer'), kind: 'blob' },
            { digest: child.manifest.digest, kind: 'manifest' },
          ].sort(byDigest),
        );
        assert.deepEqual(await inspect.tags('app'), { latest: write.manifest.digest });
        assert.equal(await inspect.manifest('other', write.manifest.digest), undefined);
      });

      it('persists a tag move, and a delete with everything that hung on the manifest', async () => {
        const inspect = inspector();
        const first = manifestWrite('app', { tag: 'latest', blobReferences: [blobDigest('layer')] });
        const second = manifestWrite('app', { tag: 'stable' });
        await store.putManifest(first);
        await store.putManifest({ ...first, tag: 'v1' });
        await store.putManifest(second);
        await store.putManifest({ ...second, tag: 'latest' });
        assert.deepEqual(await inspect.tags('app'), { latest: second.manifest.digest, stable: second.manifest.digest, v1: first.manifest.digest });

        const conversion = converted('app', second.manifest.digest, 'second');
        await store.putConvertedManifest(conversion);
        assert.deepEqual(await inspect.convertedManifests('app'), { [conversion.digest]: second.manifest.digest });

        await store.deleteManifest('app', second.manifest.digest);
        assert.equal(await inspect.manifest('app', second.manifest.digest), undefined);
        assert.deepEqual(await inspect.tags('app'), { v1: first.manifest.digest });
        assert.deepEqual(await inspect.convertedManifests('app'), {});
        assert.ok(await inspect.manifest('app', first.manifest.digest), 'the other manifest stays');

        await store.deleteManifest('app', first.manifest.digest);
        assert.deepEqual(await inspect.references('app', first.manifest.digest), []);
        assert.deepEqual(await inspect.tags('app'), {});
      });

      it('persists blob links, upload sessions and settings', async () => {
        const inspect = inspector();
        await store.linkBlob('app', blobDigest('a'), 5 * 2 ** 32);
        await store.linkBlob('app', blobDigest('b'), 0);
        assert.deepEqual(await inspect.blobLinks('app'), { [blobDigest('a')]: 5 * 2 ** 32, [blobDigest('b')]: 0 });
        await store.unlinkBlob('app', blobDigest('a'));
        assert.deepEqual(await inspect.blobLinks('app'), { [blobDigest('b')]: 0 });

        const startedAt = new Date(1_700_000_000_456);
        await store.createUploadSession({ id: 'inspected', repository: 'app', startedAt });
        assert.deepEqual(await inspect.uploadSession('inspected'), { repository: 'app', startedAt });
        await store.deleteUploadSession('inspected');
        assert.equal(await inspect.uploadSession('inspected'), undefined);

        await store.getOrSetSetting('signing-key', 'first');
        await store.getOrSetSetting('signing-key', 'second');
        assert.equal(await inspect.setting('signing-key'), 'first');
      });
    });

    group('sharing', () => {
      it('shows what one instance wrote to another at once', async () => {
        const other = await sibling();
        const write = manifestWrite('app', { tag: 'latest' });
        await store.putManifest(write);
        await store.linkBlob('app', blobDigest('layer'), 7);
        await store.createUploadSession({ id: 'shared-session', repository: 'app', startedAt: new Date(1_700_000_000_000) });

        assert.equal(await other.resolveTag('app', 'latest'), write.manifest.digest);
        assert.equal(hex((await other.getManifest('app', write.manifest.digest))!.content), hex(write.manifest.content));
        assert.deepEqual(await other.blobLink('app', blobDigest('layer')), { digest: blobDigest('layer'), size: 7 });
        assert.equal((await other.getUploadSession('shared-session'))?.repository, 'app');

        // And back: a delete through the other is seen here.
        assert.equal(await other.deleteUploadSession('shared-session'), true);
        assert.equal(await store.getUploadSession('shared-session'), undefined);
      });

      it('moves one tag from two instances at once without losing a write or the tag', async () => {
        const other = await sibling();
        const writes = Array.from({ length: 12 }, () => manifestWrite('app', { tag: 'latest', blobReferences: [blobDigest('layer')] }));
        await Promise.all(writes.map((write, index) => (index % 2 === 0 ? store : other).putManifest(write)));

        // Every push stored its manifest; the tag points at one of them, the same one seen from both.
        for (const write of writes) assert.ok(await other.getManifest('app', write.manifest.digest), 'no manifest was lost');
        const winner = await store.resolveTag('app', 'latest');
        assert.ok(writes.some((write) => write.manifest.digest === winner), `the tag points at a pushed manifest, not ${winner}`);
        assert.equal(await other.resolveTag('app', 'latest'), winner);
        assert.deepEqual(await other.listTags('app', { limit: 10 }), ['latest']);
      });

      it('never leaves a tag on a missing manifest when pushes and deletes of it race', async () => {
        const other = await sibling();
        const write = manifestWrite('app', { blobReferences: [blobDigest('layer')] });
        await store.putManifest(write);
        const operations: Array<Promise<unknown>> = [];
        for (let round = 0; round < 10; round++) {
          const through = round % 2 === 0 ? store : other;
          const across = round % 2 === 0 ? other : store;
          operations.push(through.putManifest({ ...write, tag: `t${round}` }));
          operations.push(across.deleteManifest('app', write.manifest.digest));
        }
        // Every operation succeeds: a push that loses the race to a delete is not an error.
        await Promise.all(operations);

        const present = (await store.getManifest('app', write.manifest.digest)) !== undefined;
        for (const tag of await store.listTags('app', { limit: 100 })) {
          assert.equal(await other.resolveTag('app', tag), write.manifest.digest);
          assert.ok(present, `tag ${tag} points at a manifest that is gone`);
        }
        if (subject.inspect !== undefined) {
          const tags = await subject.inspect.tags('app');
          const persisted = (await subject.inspect.manifest('app', write.manifest.digest)) !== undefined;
          assert.ok(Object.keys(tags).length === 0 || persisted, 'persisted tags point at a missing manifest');
        }
      });

      it('agrees on one setting value across instances', async () => {
        const other = await sibling();
        const values = Array.from({ length: 10 }, (_, index) => `value-${index}`);
        const results = await Promise.all(values.map((value, index) => (index % 2 === 0 ? store : other).getOrSetSetting('race', value)));
        assert.equal(new Set(results).size, 1);
      });
    });
  });
}
