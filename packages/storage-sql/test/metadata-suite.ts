import { digestOf, RegistryError, type ManifestWrite, type MetadataStore, type StoredManifest } from '@berth/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * Behaviour every MetadataStore must have, written once and run against each adapter
 * (SQLite here, PostgreSQL next). The factory gives each test a fresh, empty store.
 */
export interface MetadataStoreHarness {
  store: MetadataStore;
  /** Closes the store and opens a new one on the same data. Stores that keep nothing leave it out. */
  reopen?: () => Promise<MetadataStore>;
}

export type MetadataStoreFactory = () => Promise<MetadataStoreHarness>;

const IMAGE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const IMAGE_INDEX = 'application/vnd.oci.image.index.v1+json';

let nonce = 0;

/** A manifest write with unique bytes (so a unique digest) unless the caller passes content. */
export function manifestWrite(
  repository: string,
  options: Partial<Omit<ManifestWrite['manifest'], 'repository'>> & Partial<Omit<ManifestWrite, 'manifest'>> = {},
): ManifestWrite {
  const { blobReferences = [], manifestReferences = [], tag, ...fields } = options;
  const content = fields.content ?? new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, nonce: nonce++ }));
  const write: ManifestWrite = {
    manifest: {
      repository,
      digest: fields.digest ?? digestOf(content),
      mediaType: fields.mediaType ?? IMAGE_MANIFEST,
      size: fields.size ?? content.byteLength,
      content,
      ...(fields.subject === undefined ? {} : { subject: fields.subject }),
      ...(fields.artifactType === undefined ? {} : { artifactType: fields.artifactType }),
      ...(fields.annotations === undefined ? {} : { annotations: fields.annotations }),
    },
    blobReferences,
    manifestReferences,
  };
  if (tag !== undefined) write.tag = tag;
  return write;
}

export function blobDigest(label: string): string {
  return digestOf(`blob ${label}`);
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

/** Pages through a keyset listing until an empty page, returning every page it got (the empty one excluded). */
async function collectPages(fetch: (last: string | undefined) => Promise<string[]>): Promise<string[][]> {
  const pages: string[][] = [];
  let last: string | undefined;
  for (;;) {
    const page = await fetch(last);
    if (page.length === 0) return pages;
    pages.push(page);
    last = page.at(-1);
    if (pages.length > 100) throw new Error('pagination does not end');
  }
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}

export function describeMetadataStore(name: string, factory: MetadataStoreFactory): void {
  describe(`MetadataStore contract: ${name}`, () => {
    let harness: MetadataStoreHarness;
    let store: MetadataStore;

    beforeEach(async () => {
      harness = await factory();
      store = harness.store;
    });

    afterEach(async () => {
      await store.close();
    });

    /** Stores a manifest and returns what getManifest then gives back. */
    async function put(write: ManifestWrite): Promise<StoredManifest> {
      await store.putManifest(write);
      const stored = await store.getManifest(write.manifest.repository, write.manifest.digest);
      if (stored === undefined) throw new Error('manifest was not stored');
      return stored;
    }

    describe('repositories', () => {
      it('has none when empty', async () => {
        expect(await store.listRepositories({ limit: 10 })).toEqual([]);
        expect(await store.repositoryExists('library/alpine')).toBe(false);
      });

      it('exists while it has a manifest or a blob link', async () => {
        const write = manifestWrite('with/manifest');
        await store.putManifest(write);
        await store.linkBlob('with/link', blobDigest('a'), 3);
        expect(await store.repositoryExists('with/manifest')).toBe(true);
        expect(await store.repositoryExists('with/link')).toBe(true);
        expect(await store.repositoryExists('with')).toBe(false);

        await store.unlinkBlob('with/link', blobDigest('a'));
        await store.deleteManifest('with/manifest', write.manifest.digest);
        expect(await store.repositoryExists('with/manifest')).toBe(false);
        expect(await store.repositoryExists('with/link')).toBe(false);
        expect(await store.listRepositories({ limit: 10 })).toEqual([]);
      });

      it('lists each repository once, in lexical (bytewise) order, from manifests and blob links', async () => {
        const withManifest = ['b', 'a/b', 'a.b', 'ab', 'shared'];
        const withLink = ['a-b', 'a_b', 'a', 'shared', 'z0'];
        for (const repository of withManifest) await store.putManifest(manifestWrite(repository));
        for (const repository of withLink) await store.linkBlob(repository, blobDigest(repository), 1);
        // Two manifests in one repository still list it once.
        await store.putManifest(manifestWrite('b'));

        const expected = [...new Set([...withManifest, ...withLink])].sort();
        expect(await store.listRepositories({ limit: 100 })).toEqual(expected);
      });

      it('pages by key: full pages, an exact last page, and a `last` past the end', async () => {
        const names = ['r/a', 'r/b', 'r/c', 'r/d', 'r/e'];
        for (const [index, repository] of names.entries()) {
          if (index % 2 === 0) await store.putManifest(manifestWrite(repository));
          else await store.linkBlob(repository, blobDigest(repository), 1);
        }

        expect(await collectPages((last) => store.listRepositories({ last, limit: 2 }))).toEqual(chunk(names, 2));
        // The page size divides the count: the page after the last full one is empty.
        expect(await store.listRepositories({ limit: names.length })).toEqual(names);
        expect(await store.listRepositories({ last: names.at(-1), limit: names.length })).toEqual([]);
        expect(await store.listRepositories({ last: 'zzz', limit: 10 })).toEqual([]);
        // `last` need not be a repository itself.
        expect(await store.listRepositories({ last: 'r/bb', limit: 10 })).toEqual(['r/c', 'r/d', 'r/e']);
        expect(await store.listRepositories({ limit: 0 })).toEqual([]);
      });
    });

    describe('blob links', () => {
      it('links, reads and unlinks a blob per repository', async () => {
        const digest = blobDigest('layer');
        expect(await store.blobLink('app', digest)).toBeUndefined();

        await store.linkBlob('app', digest, 1234);
        expect(await store.blobLink('app', digest)).toEqual({ digest, size: 1234 });
        expect(await store.blobLink('other', digest)).toBeUndefined();

        expect(await store.unlinkBlob('app', digest)).toBe(true);
        expect(await store.unlinkBlob('app', digest)).toBe(false);
        expect(await store.blobLink('app', digest)).toBeUndefined();
      });

      it('is idempotent and keeps sizes beyond 32 bits', async () => {
        const digest = blobDigest('big');
        const size = 5 * 2 ** 32 + 7;
        await store.linkBlob('app', digest, size);
        await store.linkBlob('app', digest, size);
        expect(await store.blobLink('app', digest)).toEqual({ digest, size });
        expect(await store.unlinkBlob('app', digest)).toBe(true);
        expect(await store.blobLink('app', digest)).toBeUndefined();
      });

      it('tells whether any repository still links a blob', async () => {
        const digest = blobDigest('shared');
        expect(await store.isBlobLinkedAnywhere(digest)).toBe(false);
        await store.linkBlob('one', digest, 10);
        await store.linkBlob('two', digest, 10);
        await store.unlinkBlob('one', digest);
        expect(await store.isBlobLinkedAnywhere(digest)).toBe(true);
        await store.unlinkBlob('two', digest);
        expect(await store.isBlobLinkedAnywhere(digest)).toBe(false);
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
        expect(fields).toEqual(writtenFields);
        expect(hex(storedContent)).toBe(hex(writtenContent));
        expect(storedContent.byteLength).toBe(512);
        expect(createdAt).toBeInstanceOf(Date);
        expect(createdAt.getTime()).toBeGreaterThanOrEqual(before);
        expect(createdAt.getTime()).toBeLessThanOrEqual(after);
      });

      it('leaves optional fields absent when they were not given', async () => {
        const stored = await put(manifestWrite('app'));
        expect(stored).not.toHaveProperty('subject');
        expect(stored).not.toHaveProperty('artifactType');
        expect(stored).not.toHaveProperty('annotations');
      });

      it('keeps manifests per repository', async () => {
        const write = manifestWrite('one');
        await store.putManifest(write);
        expect(await store.getManifest('two', write.manifest.digest)).toBeUndefined();
        expect(await store.getManifest('one', digestOf('never pushed'))).toBeUndefined();
      });

      it('treats the same manifest pushed twice as one, while still moving the tag', async () => {
        const first = manifestWrite('app', { tag: 'v1' });
        const other = manifestWrite('app', { tag: 'latest' });
        const original = await put(first);
        await store.putManifest(other);

        await store.putManifest({ ...first, tag: 'latest' });
        const again = await store.getManifest('app', first.manifest.digest);
        expect(again?.createdAt.getTime()).toBe(original.createdAt.getTime());
        expect(hex(again!.content)).toBe(hex(first.manifest.content));
        expect(await store.resolveTag('app', 'latest')).toBe(first.manifest.digest);
        expect(await store.resolveTag('app', 'v1')).toBe(first.manifest.digest);
        expect(await store.listTags('app', { limit: 10 })).toEqual(['latest', 'v1']);
      });

      it('survives concurrent pushes of one manifest under different tags', async () => {
        const write = manifestWrite('app', { blobReferences: [blobDigest('layer')] });
        const tags = Array.from({ length: 8 }, (_, index) => `t${index}`);
        await Promise.all(tags.map((tag) => store.putManifest({ ...write, tag })));
        expect(await store.listTags('app', { limit: 100 })).toEqual(tags);
        for (const tag of tags) expect(await store.resolveTag('app', tag)).toBe(write.manifest.digest);
      });
    });

    describe('tags', () => {
      it('resolves, moves and deletes a tag without touching the manifest', async () => {
        expect(await store.resolveTag('app', 'latest')).toBeUndefined();
        const a = manifestWrite('app', { tag: 'latest' });
        const b = manifestWrite('app');
        await store.putManifest(a);
        expect(await store.resolveTag('app', 'latest')).toBe(a.manifest.digest);
        expect(await store.resolveTag('other', 'latest')).toBeUndefined();

        await store.putManifest({ ...b, tag: 'latest' });
        expect(await store.resolveTag('app', 'latest')).toBe(b.manifest.digest);
        expect(await store.listTags('app', { limit: 10 })).toEqual(['latest']);

        expect(await store.deleteTag('app', 'latest')).toBe(true);
        expect(await store.deleteTag('app', 'latest')).toBe(false);
        expect(await store.resolveTag('app', 'latest')).toBeUndefined();
        expect(await store.getManifest('app', b.manifest.digest)).toBeDefined();
        expect(await store.repositoryExists('app')).toBe(true);
      });

      it('lists tags of one repository in lexical (bytewise) order', async () => {
        const tags = ['v1', 'V2', 'latest', '1.0', '_x', 'a-b', 'a.b', 'a_b', 'A'];
        const write = manifestWrite('app');
        for (const tag of tags) await store.putManifest({ ...write, tag });
        await store.putManifest(manifestWrite('other', { tag: 'zzz' }));
        expect(await store.listTags('app', { limit: 100 })).toEqual([...tags].sort());
      });

      it('pages by key: empty, full pages, an exact last page, and a `last` past the end', async () => {
        expect(await store.listTags('app', { limit: 3 })).toEqual([]);
        const tags = ['t1', 't2', 't3', 't4', 't5', 't6'];
        const write = manifestWrite('app');
        for (const tag of tags) await store.putManifest({ ...write, tag });

        expect(await collectPages((last) => store.listTags('app', { last, limit: 4 }))).toEqual(chunk(tags, 4));
        expect(await collectPages((last) => store.listTags('app', { last, limit: 3 }))).toEqual(chunk(tags, 3));
        expect(await store.listTags('app', { last: 't6', limit: 3 })).toEqual([]);
        expect(await store.listTags('app', { last: 'u', limit: 3 })).toEqual([]);
        expect(await store.listTags('app', { last: 't2a', limit: 2 })).toEqual(['t3', 't4']);
        expect(await store.listTags('app', { limit: 0 })).toEqual([]);
      });
    });

    describe('deleteManifest', () => {
      it('answers false for an unknown manifest', async () => {
        expect(await store.deleteManifest('app', digestOf('unknown'))).toBe(false);
      });

      it('removes the manifest with its tags, conversions and referrer entry, and nothing else', async () => {
        const target = manifestWrite('app', { tag: 'v1', blobReferences: [blobDigest('layer')] });
        const kept = manifestWrite('app', { tag: 'v2' });
        await store.putManifest(target);
        await store.putManifest({ ...target, tag: 'latest' });
        await store.putManifest(kept);
        // The same digest in another repository is another manifest.
        await store.putManifest({ ...target, manifest: { ...target.manifest, repository: 'mirror' }, tag: 'v1' });
        const converted = {
          repository: 'app',
          digest: digestOf('converted'),
          sourceDigest: target.manifest.digest,
          mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
          content: new TextEncoder().encode('converted'),
        };
        await store.putConvertedManifest(converted);
        const referrer = manifestWrite('app', { subject: kept.manifest.digest, artifactType: 'x' });
        await store.putManifest(referrer);

        expect(await store.deleteManifest('app', target.manifest.digest)).toBe(true);
        expect(await store.deleteManifest('app', target.manifest.digest)).toBe(false);

        expect(await store.getManifest('app', target.manifest.digest)).toBeUndefined();
        expect(await store.resolveTag('app', 'v1')).toBeUndefined();
        expect(await store.resolveTag('app', 'latest')).toBeUndefined();
        expect(await store.listTags('app', { limit: 10 })).toEqual(['v2']);
        expect(await store.getConvertedManifest('app', converted.digest)).toBeUndefined();

        expect(await store.getManifest('mirror', target.manifest.digest)).toBeDefined();
        expect(await store.resolveTag('mirror', 'v1')).toBe(target.manifest.digest);

        expect(await store.deleteManifest('app', referrer.manifest.digest)).toBe(true);
        expect(await store.listReferrers('app', kept.manifest.digest)).toEqual([]);
      });

      it('lets a repository disappear with its last manifest', async () => {
        const write = manifestWrite('gone', { tag: 'latest' });
        await store.putManifest(write);
        await store.deleteManifest('gone', write.manifest.digest);
        expect(await store.repositoryExists('gone')).toBe(false);
        expect(await store.listRepositories({ limit: 10 })).toEqual([]);
      });
    });

    describe('referrers', () => {
      it('lists the manifests of one repository whose subject matches, optionally of one artifact type', async () => {
        const subject = manifestWrite('app');
        await store.putManifest(subject);
        const sbom = manifestWrite('app', { subject: subject.manifest.digest, artifactType: 'application/sbom' });
        const signature = manifestWrite('app', { subject: subject.manifest.digest, artifactType: 'application/sig' });
        const untyped = manifestWrite('app', { subject: subject.manifest.digest });
        const elsewhere = manifestWrite('other', { subject: subject.manifest.digest, artifactType: 'application/sbom' });
        const unrelated = manifestWrite('app', { subject: digestOf('another'), artifactType: 'application/sbom' });
        for (const write of [sbom, signature, untyped, elsewhere, unrelated]) await store.putManifest(write);

        const digests = (manifests: StoredManifest[]) => manifests.map((manifest) => manifest.digest).sort();
        expect(digests(await store.listReferrers('app', subject.manifest.digest))).toEqual(
          [sbom, signature, untyped].map((write) => write.manifest.digest).sort(),
        );
        const sboms = await store.listReferrers('app', subject.manifest.digest, 'application/sbom');
        expect(digests(sboms)).toEqual([sbom.manifest.digest]);
        expect(sboms[0]?.artifactType).toBe('application/sbom');
        expect(hex(sboms[0]!.content)).toBe(hex(sbom.manifest.content));
        expect(await store.listReferrers('app', subject.manifest.digest, 'application/none')).toEqual([]);
        expect(await store.listReferrers('app', digestOf('nothing refers here'))).toEqual([]);
      });
    });

    describe('upload sessions', () => {
      it('creates, reads and deletes a session', async () => {
        const session = { id: 'c0ffee00-0000-4000-8000-000000000001', repository: 'app', startedAt: new Date(1_700_000_000_123) };
        expect(await store.getUploadSession(session.id)).toBeUndefined();
        await store.createUploadSession(session);
        expect(await store.getUploadSession(session.id)).toEqual(session);
        expect(await store.deleteUploadSession(session.id)).toBe(true);
        expect(await store.deleteUploadSession(session.id)).toBe(false);
        expect(await store.getUploadSession(session.id)).toBeUndefined();
      });

      it('does not make a repository exist', async () => {
        await store.createUploadSession({ id: 'session', repository: 'pending', startedAt: new Date() });
        expect(await store.repositoryExists('pending')).toBe(false);
      });
    });

    describe('converted manifests', () => {
      it('stores a conversion once and returns its exact bytes', async () => {
        const source = manifestWrite('app');
        await store.putManifest(source);
        const content = Uint8Array.from([0, 255, 10, 13, 0x7b]);
        const converted = {
          repository: 'app',
          digest: digestOf(content),
          sourceDigest: source.manifest.digest,
          mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
          content,
        };
        await store.putConvertedManifest(converted);
        await store.putConvertedManifest(converted);

        const stored = await store.getConvertedManifest('app', converted.digest);
        expect(stored).toBeDefined();
        const { content: storedContent, ...fields } = stored!;
        const { content: _written, ...writtenFields } = converted;
        expect(fields).toEqual(writtenFields);
        expect(hex(storedContent)).toBe(hex(content));
        expect(await store.getConvertedManifest('other', converted.digest)).toBeUndefined();
      });

      it('refuses a conversion of an unknown manifest with MANIFEST_UNKNOWN', async () => {
        const attempt = store.putConvertedManifest({
          repository: 'app',
          digest: digestOf('converted'),
          sourceDigest: digestOf('never stored'),
          mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
          content: new Uint8Array([1]),
        });
        await expect(attempt).rejects.toBeInstanceOf(RegistryError);
        await expect(attempt).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
      });
    });

    describe('settings', () => {
      it('keeps the first value set for a key', async () => {
        expect(await store.getOrSetSetting('signing-key', 'first')).toBe('first');
        expect(await store.getOrSetSetting('signing-key', 'second')).toBe('first');
        expect(await store.getOrSetSetting('other-key', 'second')).toBe('second');
      });

      it('gives concurrent callers one and the same value', async () => {
        const values = Array.from({ length: 10 }, (_, index) => `value-${index}`);
        const results = await Promise.all(values.map((value) => store.getOrSetSetting('race', value)));
        expect(new Set(results).size).toBe(1);
        expect(values).toContain(results[0]);
        expect(await store.getOrSetSetting('race', 'late')).toBe(results[0]);
      });
    });

    describe('persistence', () => {
      it('keeps everything across a reopen', async (context) => {
        if (harness.reopen === undefined) context.skip();
        const write = manifestWrite('app', { tag: 'latest', subject: digestOf('s'), artifactType: 'a', annotations: { k: 'v' } });
        const original = await put(write);
        await store.linkBlob('app', blobDigest('layer'), 42);
        const session = { id: 'persisted', repository: 'app', startedAt: new Date(1_700_000_000_000) };
        await store.createUploadSession(session);
        const converted = {
          repository: 'app',
          digest: digestOf('converted'),
          sourceDigest: write.manifest.digest,
          mediaType: 'application/x',
          content: new Uint8Array([9, 8, 7]),
        };
        await store.putConvertedManifest(converted);
        await store.getOrSetSetting('key', 'value');

        store = await harness.reopen!();

        const reopened = await store.getManifest('app', write.manifest.digest);
        expect({ ...reopened, content: hex(reopened!.content) }).toEqual({ ...original, content: hex(original.content) });
        expect(await store.resolveTag('app', 'latest')).toBe(write.manifest.digest);
        expect(await store.blobLink('app', blobDigest('layer'))).toEqual({ digest: blobDigest('layer'), size: 42 });
        expect(await store.getUploadSession('persisted')).toEqual(session);
        expect(hex((await store.getConvertedManifest('app', converted.digest))!.content)).toBe('090807');
        expect(await store.getOrSetSetting('key', 'other')).toBe('value');
        expect(await store.listRepositories({ limit: 10 })).toEqual(['app']);
      });
    });
  });
}
