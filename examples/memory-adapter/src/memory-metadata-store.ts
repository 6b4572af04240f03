import {
  RegistryError,
  exceedsQuota,
  quotaExceededError,
  type LinkOptions,
  type RepositoryQuota,
  type RepositoryUsage,
  type UsageTotals,
  type CollectedBlob,
  type CollectedManifest,
  type ListedBlob,
  type BlobLinkSweepOptions,
  type SweepOptions,
  type ManifestSweepOptions,
  type TagExpectation,
  type TagRecord,
  type ConversionLookup,
  type ConvertedManifest,
  type EventOutbox,
  type ManifestWrite,
  type MetadataStore,
  type OutboxEntry,
  type PageOptions,
  type StoredManifest,
  type TaggedManifest,
  type UploadSession,
  type RepositorySummary,
  type RepositorySummaryQuery,
  type TagSummary,
  type TagSummaryQuery,
} from '@berth/core';
import { MemoryDatabase, rowKey, splitRowKey, type ManifestRow } from './memory-database.js';
import { MemoryEventOutbox, appendOutboxEntries } from './memory-event-outbox.js';
import { repositorySummaries, tagSummaries } from './memory-browse.js';
import { registryUsageOf, repositoryUsageOf, usageByRepository } from './memory-usage.js';

/** Keys sort by their UTF-8 bytes, the lexical order the distribution spec asks listings for. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** A page of `names`: sorted, strictly after `last`, at most `limit`. */
function page(names: Iterable<string>, { last, limit }: PageOptions): string[] {
  if (limit <= 0) return [];
  return [...names]
    .filter((name) => last === undefined || byteOrder(name, last) > 0)
    .sort(byteOrder)
    .slice(0, limit);
}

/** Stored bytes are copied in and out, so no caller can change them behind the store's back. */
const copy = (bytes: Uint8Array) => new Uint8Array(bytes);

/**
 * A MetadataStore over a MemoryDatabase: the smallest complete adapter, written to show what the
 * interface asks for. Each method runs to completion without awaiting anything, which makes it
 * atomic on its own (the interface's promise); a real backend gets the same from transactions.
 * Listings sort every name on each call: fine for an example, where a real backend reads pages
 * off an index.
 */
export class MemoryMetadataStore implements MetadataStore {
  readonly #db: MemoryDatabase;
  #closed = false;
  readonly outbox: EventOutbox;

  constructor(db: MemoryDatabase = new MemoryDatabase()) {
    this.#db = db;
    this.outbox = new MemoryEventOutbox(() => this.#open());
  }

  /** The database it works on, to open another store over the same data. */
  get database(): MemoryDatabase {
    return this.#db;
  }

  async listRepositories(options: PageOptions): Promise<string[]> {
    const db = this.#open();
    const names = new Set<string>();
    for (const key of [...db.manifests.keys(), ...db.blobLinks.keys()]) names.add(splitRowKey(key)[0]);
    return page(names, options);
  }

  async repositoryExists(repository: string): Promise<boolean> {
    const db = this.#open();
    const inRepository = (key: string) => splitRowKey(key)[0] === repository;
    return [...db.manifests.keys()].some(inRepository) || [...db.blobLinks.keys()].some(inRepository);
  }

  async linkBlob(repository: string, digest: string, size: number, events?: readonly OutboxEntry[], { quota }: LinkOptions = {}): Promise<void> {
    const db = this.#open();
    if (!db.blobLinks.has(rowKey(repository, digest))) assertWithinQuota(db, repository, size, quota);
    const now = Date.now();
    touchBlobRow(db, digest, size, now);
    db.blobLinks.set(rowKey(repository, digest), size);
    db.blobLinksTouchedAt.set(rowKey(repository, digest), now);
    appendOutboxEntries(db, events);
  }

  async blobLink(repository: string, digest: string): Promise<{ digest: string; size: number } | undefined> {
    const size = this.#open().blobLinks.get(rowKey(repository, digest));
    return size === undefined ? undefined : { digest, size };
  }

  async unlinkBlob(repository: string, digest: string, events?: readonly OutboxEntry[]): Promise<boolean> {
    const db = this.#open();
    if (!db.blobLinks.delete(rowKey(repository, digest))) return false;
    db.blobLinksTouchedAt.delete(rowKey(repository, digest));
    appendOutboxEntries(db, events);
    return true;
  }

  async repositoriesLinkingBlob(digest: string, options: PageOptions): Promise<string[]> {
    const repositories = [...this.#open().blobLinks.keys()]
      .map(splitRowKey)
      .filter(([, linked]) => linked === digest)
      .map(([repository]) => repository);
    return page(repositories, options);
  }

  async isBlobLinkedAnywhere(digest: string): Promise<boolean> {
    return [...this.#open().blobLinks.keys()].some((key) => splitRowKey(key)[1] === digest);
  }

  async putManifest({ manifest, blobReferences, manifestReferences, tag, events, requireReferences, quota }: ManifestWrite): Promise<void> {
    const db = this.#open();
    const key = rowKey(manifest.repository, manifest.digest);
    const now = Date.now();
    const missing = [
      ...blobReferences.filter((digest) => !db.blobLinks.has(rowKey(manifest.repository, digest))),
      ...manifestReferences.filter((digest) => !db.manifests.has(rowKey(manifest.repository, digest))),
    ];
    if (requireReferences === true && missing.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references unknown content: ${missing.join(', ')}`, {
        detail: { digests: missing },
      });
    }
    if (!db.manifests.has(key)) assertWithinQuota(db, manifest.repository, manifest.size, quota);
    // What it names is touched, so a collector running now leaves it.
    for (const digest of blobReferences) {
      if (db.blobLinks.has(rowKey(manifest.repository, digest))) db.blobLinksTouchedAt.set(rowKey(manifest.repository, digest), now);
    }
    for (const digest of manifestReferences) {
      const child = db.manifests.get(rowKey(manifest.repository, digest));
      if (child) child.touchedAt = now;
    }
    // The same digest is the same bytes: a second push keeps the first row and its createdAt.
    if (!db.manifests.has(key)) {
      const references = new Map<string, 'blob' | 'manifest'>();
      for (const digest of blobReferences) references.set(digest, 'blob');
      for (const digest of manifestReferences) references.set(digest, 'manifest');
      const row: ManifestRow = { ...manifest, content: copy(manifest.content), createdAt: now, touchedAt: now, references };
      if (manifest.annotations !== undefined) row.annotations = { ...manifest.annotations };
      db.manifests.set(key, row);
    }
    const stored = db.manifests.get(key)!;
    stored.touchedAt = now;
    // A row stored without a summary gets one from this push of the same bytes.
    if (stored.summary === undefined && manifest.summary !== undefined) stored.summary = manifest.summary;
    if (tag !== undefined) {
      db.tags.set(rowKey(manifest.repository, tag), manifest.digest);
      db.tagsPushedAt.set(rowKey(manifest.repository, tag), now);
    }
    appendOutboxEntries(db, events);
  }

  async getManifest(repository: string, digest: string): Promise<StoredManifest | undefined> {
    const row = this.#open().manifests.get(rowKey(repository, digest));
    return row === undefined ? undefined : storedManifest(row);
  }

  async deleteManifest(repository: string, digest: string, events?: readonly OutboxEntry[]): Promise<boolean> {
    const db = this.#open();
    if (!removeManifest(db, repository, digest)) return false;
    appendOutboxEntries(db, events);
    return true;
  }

  async touchBlob(digest: string, size: number, uploadId?: string): Promise<void> {
    const db = this.#open();
    // A collector removing the bytes right now finishes first; then the row is made again.
    await db.blobsBeingRemoved.get(digest);
    touchBlobRow(db, digest, size, Date.now());
    const session = uploadId === undefined ? undefined : db.uploadSessions.get(uploadId);
    if (session) session.digest = digest;
  }

  async claimCollectorLease(owner: string, until: Date): Promise<boolean> {
    const db = this.#open();
    const lease = db.collectorLease;
    if (lease !== undefined && lease.owner !== owner && lease.expiresAt >= Date.now()) return false;
    db.collectorLease = { owner, expiresAt: until.getTime() };
    return true;
  }

  async releaseCollectorLease(owner: string): Promise<void> {
    const db = this.#open();
    if (db.collectorLease?.owner === owner) db.collectorLease = undefined;
  }

  async markReachableManifests(): Promise<number> {
    const db = this.#open();
    db.collectorMarks.clear();
    const referrers = new Map<string, string[]>();
    for (const row of db.manifests.values()) {
      if (row.subject === undefined) continue;
      const subjectKey = rowKey(row.repository, row.subject);
      referrers.set(subjectKey, [...(referrers.get(subjectKey) ?? []), row.digest]);
    }
    const pending = [...db.tags].map(([key, digest]) => rowKey(splitRowKey(key)[0], digest));
    while (pending.length > 0) {
      const key = pending.pop()!;
      if (db.collectorMarks.has(key)) continue;
      db.collectorMarks.add(key);
      const [repository, digest] = splitRowKey(key);
      const row = db.manifests.get(key);
      for (const [child, kind] of row?.references ?? []) if (kind === 'manifest') pending.push(rowKey(repository, child));
      for (const referrer of referrers.get(rowKey(repository, digest)) ?? []) pending.push(rowKey(repository, referrer));
    }
    return db.collectorMarks.size;
  }

  async sweepManifests({
    touchedBefore,
    limit,
    dryRun = false,
    after,
    only,
  }: ManifestSweepOptions): Promise<CollectedManifest[]> {
    const db = this.#open();
    const tagged = new Set([...db.tags].map(([key, digest]) => rowKey(splitRowKey(key)[0], digest)));
    const afterKey = only === undefined && after !== undefined ? rowKey(after.repository, after.digest) : undefined;
    const listed = only === undefined ? undefined : new Set(only.slice(0, Math.max(limit, 0)).map(({ repository, digest }) => rowKey(repository, digest)));
    const swept = [...db.manifests]
      .filter(([key, row]) => row.touchedAt < touchedBefore.getTime() && !db.collectorMarks.has(key) && !tagged.has(key))
      .filter(([key]) => listed === undefined || listed.has(key))
      .filter(([key]) => afterKey === undefined || byteOrder(key, afterKey) > 0)
      .sort(([a], [b]) => byteOrder(a, b))
      .slice(0, Math.max(limit, 0))
      .map(([, row]) => ({ repository: row.repository, digest: row.digest, size: row.size }));
    if (!dryRun) for (const { repository, digest } of swept) removeManifest(db, repository, digest);
    return swept;
  }

  async sweepBlobLinks({
    touchedBefore,
    limit,
    dryRun = false,
    keepWithConversions,
    after,
  }: BlobLinkSweepOptions): Promise<
    Array<{ repository: string; digest: string }>
  > {
    const db = this.#open();
    const cutoff = touchedBefore.getTime();
    const named = new Set<string>();
    for (const row of db.manifests.values()) {
      for (const [digest, kind] of row.references) if (kind === 'blob') named.add(rowKey(row.repository, digest));
    }
    const active = new Set([...db.uploadSessions.values()].map((session) => session.repository));
    for (const [key, touchedAt] of db.blobLinksTouchedAt) if (touchedAt >= cutoff) active.add(splitRowKey(key)[0]);
    const converting = new Set([...db.convertedManifests.values()].map((row) => row.repository));
    const afterKey = after === undefined ? undefined : rowKey(after.repository, after.digest);
    const swept = [...db.blobLinks.keys()]
      .filter((key) => {
        const [repository, digest] = splitRowKey(key);
        if (named.has(key) || active.has(repository)) return false;
        return !(keepWithConversions.includes(digest) && converting.has(repository));
      })
      .filter((key) => afterKey === undefined || byteOrder(key, afterKey) > 0)
      .sort(byteOrder)
      .slice(0, Math.max(limit, 0));
    if (!dryRun) {
      for (const key of swept) {
        db.blobLinks.delete(key);
        db.blobLinksTouchedAt.delete(key);
      }
    }
    return swept.map((key) => {
      const [repository, digest] = splitRowKey(key);
      return { repository, digest };
    });
  }

  async adoptBlobs(blobs: readonly ListedBlob[]): Promise<void> {
    const db = this.#open();
    for (const blob of blobs) {
      if (!db.blobs.has(blob.digest)) db.blobs.set(blob.digest, { size: blob.size, touchedAt: blob.modifiedAt.getTime() });
    }
  }

  async sweepBlobs(
    { touchedBefore, limit, dryRun = false, after }: SweepOptions & { after?: string },
    removeBytes: (blobs: readonly CollectedBlob[]) => Promise<void>,
  ): Promise<CollectedBlob[]> {
    const db = this.#open();
    const used = new Set<string>();
    for (const key of db.blobLinks.keys()) used.add(splitRowKey(key)[1]);
    for (const row of db.manifests.values()) for (const [digest, kind] of row.references) if (kind === 'blob') used.add(digest);
    for (const session of db.uploadSessions.values()) if (session.digest !== undefined) used.add(session.digest);
    const swept = [...db.blobs]
      .filter(([digest, row]) => row.touchedAt < touchedBefore.getTime() && !used.has(digest))
      .filter(([digest]) => after === undefined || byteOrder(digest, after) > 0)
      .sort(([a], [b]) => byteOrder(a, b))
      .slice(0, Math.max(limit, 0))
      .map(([digest, row]) => ({ digest, size: row.size }));
    if (dryRun || swept.length === 0) return swept;
    const rows = swept.map(({ digest }) => [digest, db.blobs.get(digest)!] as const);
    for (const { digest } of swept) db.blobs.delete(digest);
    // Like a rolled back transaction: bytes that could not be removed keep their rows, for the next run.
    const removal = removeBytes(swept).catch((error: unknown) => {
      for (const [digest, row] of rows) if (!db.blobs.has(digest)) db.blobs.set(digest, row);
      throw error;
    });
    const settled = removal.then(
      () => undefined,
      () => undefined,
    );
    for (const { digest } of swept) db.blobsBeingRemoved.set(digest, settled);
    try {
      await removal;
    } finally {
      for (const { digest } of swept) db.blobsBeingRemoved.delete(digest);
    }
    return swept;
  }

  async getTaggedManifest(repository: string, tag: string, conversion?: ConversionLookup): Promise<TaggedManifest | undefined> {
    const db = this.#open();
    const digest = db.tags.get(rowKey(repository, tag));
    const row = digest === undefined ? undefined : db.manifests.get(rowKey(repository, digest));
    if (row === undefined) return undefined;
    const manifest = storedManifest(row);
    if (conversion === undefined) return { manifest };
    const wantedTag = conversion.perTag ? tag : undefined;
    const converted = [...db.convertedManifests.values()]
      .filter((row) => row.repository === repository && row.sourceDigest === digest && row.mediaType === conversion.mediaType && row.tag === wantedTag)
      .sort((a, b) => byteOrder(a.digest, b.digest))[0];
    return converted === undefined ? { manifest } : { manifest, converted: { ...converted, content: copy(converted.content) } };
  }

  async resolveTag(repository: string, tag: string): Promise<string | undefined> {
    return this.#open().tags.get(rowKey(repository, tag));
  }

  async deleteTag(repository: string, tag: string, events?: readonly OutboxEntry[], expected?: TagExpectation): Promise<boolean> {
    const db = this.#open();
    const key = rowKey(repository, tag);
    if (expected !== undefined) {
      const unchanged = db.tags.get(key) === expected.digest && (db.tagsPushedAt.get(key) ?? 0) < expected.pushedBefore.getTime();
      if (!unchanged) return false;
    }
    if (!db.tags.delete(key)) return false;
    db.tagsPushedAt.delete(key);
    appendOutboxEntries(db, events);
    return true;
  }

  async listTagRecords(repository: string, options: PageOptions): Promise<TagRecord[]> {
    const db = this.#open();
    const names = await this.listTags(repository, options);
    return names.map((name) => {
      const key = rowKey(repository, name);
      return { name, digest: db.tags.get(key)!, pushedAt: new Date(db.tagsPushedAt.get(key) ?? 0) };
    });
  }

  async listTags(repository: string, options: PageOptions): Promise<string[]> {
    const names = [...this.#open().tags.keys()]
      .map(splitRowKey)
      .filter(([owner]) => owner === repository)
      .map(([, name]) => name);
    return page(names, options);
  }

  async listRepositorySummaries(query: RepositorySummaryQuery): Promise<RepositorySummary[]> {
    return repositorySummaries(this.#open(), query);
  }

  async listTagSummaries(repository: string, query: TagSummaryQuery): Promise<TagSummary[]> {
    return tagSummaries(this.#open(), repository, query);
  }

  async listReferrers(repository: string, subjectDigest: string, artifactType?: string): Promise<StoredManifest[]> {
    return [...this.#open().manifests.values()]
      .filter((row) => row.repository === repository && row.subject === subjectDigest)
      .filter((row) => artifactType === undefined || row.artifactType === artifactType)
      .map(storedManifest);
  }

  async createUploadSession(session: UploadSession): Promise<void> {
    this.#open().uploadSessions.set(session.id, { repository: session.repository, startedAt: session.startedAt.getTime() });
  }

  async getUploadSession(id: string): Promise<UploadSession | undefined> {
    const row = this.#open().uploadSessions.get(id);
    return row === undefined ? undefined : { id, repository: row.repository, startedAt: new Date(row.startedAt) };
  }

  async deleteUploadSession(id: string): Promise<boolean> {
    return this.#open().uploadSessions.delete(id);
  }

  async deleteUploadSessionsStartedBefore(date: Date, limit: number): Promise<string[]> {
    const sessions = this.#open().uploadSessions;
    const stale = [...sessions]
      .filter(([, row]) => row.startedAt < date.getTime())
      .sort(([, a], [, b]) => a.startedAt - b.startedAt)
      .slice(0, Math.max(limit, 0))
      .map(([id]) => id);
    for (const id of stale) sessions.delete(id);
    return stale;
  }

  async putConvertedManifest(converted: ConvertedManifest): Promise<void> {
    const db = this.#open();
    // Like a foreign key: a conversion needs its source manifest.
    if (!db.manifests.has(rowKey(converted.repository, converted.sourceDigest))) {
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${converted.sourceDigest} is unknown`);
    }
    const key = rowKey(converted.repository, converted.digest);
    const existing = db.convertedManifests.get(key);
    if (existing === undefined) db.convertedManifests.set(key, { ...converted, content: copy(converted.content) });
    // The first body stays; a tag given now is recorded.
    else if (converted.tag !== undefined) existing.tag = converted.tag;
  }

  async getConvertedManifest(repository: string, digest: string): Promise<ConvertedManifest | undefined> {
    const row = this.#open().convertedManifests.get(rowKey(repository, digest));
    return row === undefined ? undefined : { ...row, content: copy(row.content) };
  }

  async repositoryUsage(repository: string): Promise<RepositoryUsage> {
    return repositoryUsageOf(this.#open(), repository);
  }

  async registryUsage(): Promise<UsageTotals> {
    return registryUsageOf(this.#open());
  }

  async listRepositoryUsage(options: PageOptions): Promise<RepositoryUsage[]> {
    const usage = usageByRepository(this.#open());
    return page(usage.keys(), options).map((repository) => usage.get(repository)!);
  }

  async getOrSetSetting(key: string, value: string): Promise<string> {
    const settings = this.#open().settings;
    if (!settings.has(key)) settings.set(key, value);
    return settings.get(key)!;
  }

  /** Ready while open: memory is always reachable. */
  async ping(): Promise<void> {
    this.#open();
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** The database, or an error once the store is closed (a closed store must not keep serving). */
  #open(): MemoryDatabase {
    if (this.#closed) throw new Error('the metadata store is closed');
    return this.#db;
  }
}

function storedManifest(row: ManifestRow): StoredManifest {
  const { references: _references, touchedAt: _touchedAt, createdAt, content, annotations, ...fields } = row;
  const manifest: StoredManifest = { ...fields, content: copy(content), createdAt: new Date(createdAt) };
  if (annotations !== undefined) manifest.annotations = { ...annotations };
  return manifest;
}

/** Removes a manifest and what hangs on it: tags pointing at it and conversions made from it. */
function removeManifest(db: MemoryDatabase, repository: string, digest: string): boolean {
  if (!db.manifests.delete(rowKey(repository, digest))) return false;
  for (const [key, target] of db.tags) {
    if (target === digest && splitRowKey(key)[0] === repository) {
      db.tags.delete(key);
      db.tagsPushedAt.delete(key);
    }
  }
  for (const [key, converted] of db.convertedManifests) {
    if (converted.repository === repository && converted.sourceDigest === digest) db.convertedManifests.delete(key);
  }
  return true;
}

/** Refuses (writing nothing) a new row of `size` bytes that would take the repository past its quota. */
function assertWithinQuota(db: MemoryDatabase, repository: string, size: number, quota: RepositoryQuota | undefined): void {
  if (quota === undefined) return;
  const usage = repositoryUsageOf(db, repository);
  const used = usage.blobBytes + usage.manifestBytes;
  if (exceedsQuota(quota, used, size)) throw quotaExceededError(quota, repository, used, size);
}

function touchBlobRow(db: MemoryDatabase, digest: string, size: number, touchedAt: number): void {
  db.blobs.set(digest, { size: db.blobs.get(digest)?.size ?? size, touchedAt });
}
