import type { ListedBlob } from './blob-store.js';
import type { EventOutbox, OutboxEntry } from './event-outbox.js';
import type { MirrorCacheStore } from './mirror-cache.js';
import type { RepositoryQuota } from '../usage/quota.js';
import type { Platform } from '../manifest/types.js';

/** Keyset pagination: return at most `limit` items that sort strictly after `last`. */
export interface PageOptions {
  /** Sort key of the last item of the previous page; absent for the first page. */
  last?: string;
  /** Most items to return. */
  limit: number;
}

/** One stored manifest of one repository: the exact bytes pushed plus what negotiation needs. */
export interface StoredManifest {
  /** Repository that holds the manifest. */
  repository: string;
  /** The manifest's content digest. */
  digest: string;
  /** The media type it is served with. */
  mediaType: string;
  /** Length of `content` in bytes. */
  size: number;
  /** The manifest's bytes exactly as pushed. */
  content: Uint8Array;
  /** Digest of the manifest this one refers to (OCI `subject`), if any. */
  subject?: string;
  /** The artifact type (OCI), reported in referrers listings. */
  artifactType?: string;
  /** The manifest's annotations, reported in referrers listings. */
  annotations?: Record<string, string>;
  /** When the manifest was first stored in the repository. */
  createdAt: Date;
  /**
   * What browsing shows without reading the manifest again, recorded at push time; absent for manifests
   * stored before berth recorded it (they show their own size and no platform).
   */
  summary?: ManifestSummary;
}

/** A manifest's total size and platforms, worked out once when it is pushed. */
export interface ManifestSummary {
  /** Bytes of the manifest, its config and its layers; for a list or index, the sum over its children. */
  totalSize: number;
  /** The image config's platform, or a list's or index's children's platforms (in their order, once each). */
  platforms: Platform[];
}

/** A repository as the browsing pages list it. */
export interface RepositorySummary {
  /** The repository's name. */
  repository: string;
  /** How many tags it has. */
  tagCount: number;
  /** Bytes it holds: its blobs once each and its manifests (the usage counters). */
  size: number;
  /** When a tag was last pushed; undefined when it has no tag. */
  lastPushed?: Date;
}

/** Which repositories `listRepositorySummaries` returns: a page in name order, optionally filtered. */
export interface RepositorySummaryQuery extends PageOptions {
  /** Only names containing this text (case-insensitive). */
  contains?: string;
}

/** A tag with what browsing shows about the manifest it points at. */
export interface TagSummary {
  /** The tag's name. */
  name: string;
  /** Digest of the manifest the tag points at. */
  digest: string;
  /** The manifest's media type. */
  mediaType: string;
  /** The manifest's total size (`ManifestSummary.totalSize`, else the manifest's own size). */
  size: number;
  /** The manifest's platforms (empty when not recorded). */
  platforms: Platform[];
  /** When a manifest was last pushed under this tag. */
  pushedAt: Date;
}

/** Which tags `listTagSummaries` returns: a page in the order asked for, optionally filtered. */
export interface TagSummaryQuery {
  /** Most tags to return. */
  limit: number;
  /** `name`: lexical order (the default); `newest`: latest push first, then by name. */
  order?: 'name' | 'newest';
  /** The last tag of the previous page (with its push time for `newest`); absent for the first page. */
  after?: { name: string; pushedAt?: Date };
  /** Only tags whose name contains this text (case-insensitive). */
  contains?: string;
  /** Only tags pointing at this manifest. */
  digest?: string;
}

/** A manifest to store, with what it references, the tags to move to it and the events of the change. */
export interface ManifestWrite {
  /** The manifest to store; the store sets `createdAt`. */
  manifest: Omit<StoredManifest, 'createdAt'>;
  /** Blob digests the manifest references (config, layers). */
  blobReferences: string[];
  /** Child manifest digests (lists and indexes). */
  manifestReferences: string[];
  /** Tag to point at the manifest in the same transaction. */
  tag?: string;
  /** Outbox entries (events of this push) written in the same transaction. */
  events?: readonly OutboxEntry[];
  /**
   * Fail with MANIFEST_BLOB_UNKNOWN (writing nothing) unless, inside the write's transaction, every blob
   * reference is linked in the repository and every child manifest exists there; the write touches them
   * (see MetadataStore's collector methods), so a collector running now keeps them. The registry sets it.
   */
  requireReferences?: boolean;
  /**
   * Fail with 403 DENIED (`quotaExceededError`, writing nothing) when a new manifest row would take the
   * repository's usage past the quota, checked against the usage inside the write's transaction.
   */
  quota?: RepositoryQuota;
}

/** Options of `linkBlob`. */
export interface LinkOptions {
  /** Fail with 403 DENIED (writing nothing) when a new link would take the repository past the quota. */
  quota?: RepositoryQuota;
}

/**
 * What a repository (or the registry) holds. A repository's blobs are the blobs it links, each once however
 * many manifests name it; the registry's are the blobs the metadata knows of (linked or waiting for the
 * collector), each once however many repositories link it. Manifests are their stored bytes, one row per
 * repository that holds them; conversions made for old clients are not counted.
 */
export interface UsageTotals {
  /** Bytes of the blobs counted. */
  blobBytes: number;
  /** Number of blobs counted. */
  blobCount: number;
  /** Bytes of the stored manifests counted. */
  manifestBytes: number;
  /** Number of manifest rows counted. */
  manifestCount: number;
}

/** The bytes and counts one repository holds. */
export interface RepositoryUsage extends UsageTotals {
  /** The repository's name. */
  repository: string;
}

/** A row the collector removed (or, on a dry run, would remove). */
export interface CollectedManifest {
  /** Repository the manifest was in. */
  repository: string;
  /** The manifest's digest. */
  digest: string;
  /** The manifest's size in bytes. */
  size: number;
}

/** A blob the garbage collector deleted from the metadata, with its size. */
export interface CollectedBlob {
  /** The blob's digest. */
  digest: string;
  /** The blob's size in bytes. */
  size: number;
}


/** A tag with what retention needs: the manifest it points at and when it was last pushed (moved or pushed again). */
export interface TagRecord {
  /** The tag's name. */
  name: string;
  /** Digest of the manifest the tag points at. */
  digest: string;
  /** When a manifest was last pushed under this tag. */
  pushedAt: Date;
}

/** What a guarded tag delete expects: the tag still points at `digest` and was pushed before `pushedBefore`. */
export interface TagExpectation {
  /** The manifest the tag must still point at. */
  digest: string;
  /** The tag must have been pushed before this time. */
  pushedBefore: Date;
}

/** An upload in progress as the metadata store records it. */
export interface UploadSession {
  /** The upload's id, shared with the blob store's upload. */
  id: string;
  /** Repository the upload is for. */
  repository: string;
  /** When the upload began; old sessions are removed by `deleteUploadSessionsStartedBefore`. */
  startedAt: Date;
}

/** What `sweepBlobLinks` takes: the sweep's cutoff and page, links conversions still name, and where the previous page ended. */
export interface BlobLinkSweepOptions extends SweepOptions {
  /** Blob digests converted manifests name: their links stay in repositories that hold conversions. */
  keepWithConversions: readonly string[];
  /** The last link of the previous page (dry runs page by repository, then digest). */
  after?: { repository: string; digest: string };
}

/** Limits of one garbage-collector sweep over the metadata store. */
export interface SweepOptions {
  /** Only rows last touched before this time are swept (the grace period). */
  touchedBefore: Date;
  /** Most rows to sweep in this call. */
  limit: number;
  /** When true, report what would be removed and remove nothing. */
  dryRun?: boolean;
}

/** What `sweepManifests` takes: `only` limits the sweep to these manifests (at most `limit` of them; `after` is then ignored). */
export interface ManifestSweepOptions extends SweepOptions {
  /** The last manifest of the previous page (dry runs page by repository, then digest). */
  after?: CollectedManifest;
  /** Sweep only these manifests, for example retention's candidates. */
  only?: ReadonlyArray<{ repository: string; digest: string }>;
}

/** A manifest berth converted for an older client (for example to signed schema1), kept so its digest can be pulled later. */
export interface ConvertedManifest {
  /** Repository the converted manifest belongs to. */
  repository: string;
  /** Digest of the converted body (what the client was shown). */
  digest: string;
  /** Digest of the stored manifest it was made from; deleting that source deletes this. */
  sourceDigest: string;
  /** Media type the converted body is served with. */
  mediaType: string;
  /** The converted body's bytes. */
  content: Uint8Array;
  /**
   * The tag the conversion was made for, when its body names the tag (signed schema1 does); absent for a
   * conversion any tag of the source may be served (schema2).
   */
  tag?: string;
}

/** Which remembered conversion {@link MetadataStore.getTaggedManifest} looks up beside the manifest. */
export interface ConversionLookup {
  /** Media type of the conversion (for example signed schema1). */
  mediaType: string;
  /** True for a conversion made for the looked-up tag (its `tag`); false for one made for no tag in particular. */
  perTag: boolean;
}

/** What a tag points at, as {@link MetadataStore.getTaggedManifest} finds it. */
export interface TaggedManifest {
  /** The manifest the tag points at. */
  manifest: StoredManifest;
  /** The remembered conversion of that manifest the lookup asked for, when there is one. */
  converted?: ConvertedManifest;
}

/**
 * Registry metadata: repositories, which blobs each repository may see, manifests, tags,
 * referrers and upload sessions. Every method is atomic on its own.
 */
export interface MetadataStore {
  /** Repository names in lexical order. A repository exists while it has a manifest, tag or blob link. */
  listRepositories(page: PageOptions): Promise<string[]>;
  /** True while the repository has a manifest, tag or blob link. */
  repositoryExists(repository: string): Promise<boolean>;

  /**
   * Lets `repository` see a blob of the blob store (after an upload or a mount). Idempotent. `events`
   * go to the outbox in the same transaction (every call writes them, as every upload is an event).
   */
  linkBlob(repository: string, digest: string, size: number, events?: readonly OutboxEntry[], options?: LinkOptions): Promise<void>;
  /** The blob's size when the repository may see it. */
  blobLink(repository: string, digest: string): Promise<{ digest: string; size: number } | undefined>;
  /** `events` go to the outbox in the same transaction, only when a link was removed. */
  unlinkBlob(repository: string, digest: string, events?: readonly OutboxEntry[]): Promise<boolean>;
  /**
   * Repositories that link the blob, in lexical order, a page at a time: automatic mounts look for one
   * the caller may pull.
   */
  repositoriesLinkingBlob(digest: string, page: PageOptions): Promise<string[]>;
  /** True when any repository still links the blob (so it must not leave the blob store). */
  isBlobLinkedAnywhere(digest: string): Promise<boolean>;

  /**
   * Stores a manifest (idempotent for the same digest), its references, and moves `tag` to it,
   * all in one transaction.
   */
  putManifest(write: ManifestWrite): Promise<void>;
  /** The manifest stored under `digest` in the repository, or undefined. */
  getManifest(repository: string, digest: string): Promise<StoredManifest | undefined>;
  /**
   * Removes a manifest, every tag pointing at it and the conversions made from it. False when unknown.
   * `events` go to the outbox in the same transaction, only when the manifest was removed.
   */
  deleteManifest(repository: string, digest: string, events?: readonly OutboxEntry[]): Promise<boolean>;

  /**
   * Optional: the manifest the tag points at and, with `conversion`, the remembered conversion of it that
   * matches, in one lookup (a pull by tag runs it on every request). Without it the registry calls
   * `resolveTag` then `getManifest`, and finds conversions through `getConvertedManifest`.
   */
  getTaggedManifest?(repository: string, tag: string, conversion?: ConversionLookup): Promise<TaggedManifest | undefined>;

  /** Digest of the manifest the tag points at, or undefined when the tag does not exist. */
  resolveTag(repository: string, tag: string): Promise<string | undefined>;
  /**
   * `events` go to the outbox in the same transaction, only when the tag was removed. With `expected`, the
   * tag is removed only if, in the delete's own statement, it still points at that digest and was pushed
   * before that time (retention: a tag pushed again meanwhile stays).
   */
  deleteTag(repository: string, tag: string, events?: readonly OutboxEntry[], expected?: TagExpectation): Promise<boolean>;
  /** Tags in lexical order. */
  listTags(repository: string, page: PageOptions): Promise<string[]>;
  /**
   * Tags in lexical order with their digest and push time (set by every manifest PUT naming the tag),
   * a page at a time (`last` is a tag name).
   */
  listTagRecords(repository: string, page: PageOptions): Promise<TagRecord[]>;

  /**
   * Repositories that hold something, with their tag count, size and last push, in name order a page at a
   * time (`last` is a name), optionally only names containing `contains`. One query per page.
   */
  listRepositorySummaries(query: RepositorySummaryQuery): Promise<RepositorySummary[]>;
  /**
   * Tags of the repository with the summary of the manifest each points at, a page at a time, in name
   * order or newest push first, optionally filtered by name or manifest digest. One query per page.
   */
  listTagSummaries(repository: string, query: TagSummaryQuery): Promise<TagSummary[]>;

  /** Manifests of the repository whose subject is `subjectDigest`, optionally of one artifact type. */
  listReferrers(repository: string, subjectDigest: string, artifactType?: string): Promise<StoredManifest[]>;

  /** Records a new upload session. */
  createUploadSession(session: UploadSession): Promise<void>;
  /** The upload session with this id, or undefined when unknown. */
  getUploadSession(id: string): Promise<UploadSession | undefined>;
  /** Removes an upload session; false when it was unknown. */
  deleteUploadSession(id: string): Promise<boolean>;
  /** Removes at most `limit` sessions begun before `date`, oldest first, and returns their ids. */
  deleteUploadSessionsStartedBefore(date: Date, limit: number): Promise<string[]>;

  /**
   * Remembers a converted manifest (idempotent: the first body stored under a digest stays). Its `tag`, when
   * given, is recorded too, also on a row stored earlier without one.
   */
  putConvertedManifest(converted: ConvertedManifest): Promise<void>;
  /** The converted manifest stored under `digest` (the converted body's digest), or undefined. */
  getConvertedManifest(repository: string, digest: string): Promise<ConvertedManifest | undefined>;

  // The collector's methods. Every row they may delete carries a "touched" time that every write naming
  // it sets in its own transaction; their deletes re-check it (and what still names the row) in the
  // delete's own statement, so a write that raced them either keeps the row or fails cleanly.

  /**
   * Records that an upload is about to publish `digest` (on session `uploadId`, whose repository will link
   * it): a collector leaves the blob alone while the session lasts and for its grace period after. When a
   * collector is deleting the blob's bytes at this moment, waits until they are gone.
   */
  touchBlob(digest: string, size: number, uploadId?: string): Promise<void>;
  /**
   * Takes (or extends) the collector lease when it is free, expired or already `owner`'s, until `until`.
   * True when `owner` holds it now. One collector runs at a time across every instance on the store.
   */
  claimCollectorLease(owner: string, until: Date): Promise<boolean>;
  /** Gives the lease up if `owner` holds it. */
  releaseCollectorLease(owner: string): Promise<void>;
  /**
   * Replaces the collector's marks with every reachable manifest: tagged ones, children of marked ones
   * (recursively) and manifests whose subject is marked, within each repository. Returns how many.
   */
  markReachableManifests(): Promise<number>;
  /**
   * Up to `limit` unmarked, untagged manifests touched before `touchedBefore`, removed (with their tags,
   * references and conversions) unless `dryRun`. `after` pages a dry run (repository, digest order);
   * `only` restricts the sweep to the given manifests (retention's candidates), with the same guards.
   */
  sweepManifests(options: ManifestSweepOptions): Promise<CollectedManifest[]>;
  /**
   * Up to `limit` blob links that no manifest of their repository names, touched before `touchedBefore`,
   * in repositories without an upload session, removed unless `dryRun`. A link to one of `keepWithConversions`
   * stays in a repository that has converted manifests (they name it).
   */
  sweepBlobLinks(
    options: BlobLinkSweepOptions,
  ): Promise<Array<{ repository: string; digest: string }>>;
  /** Gives blobs of the blob store the metadata does not know a row, aged by `modifiedAt`. Known ones are left as they are. */
  adoptBlobs(blobs: readonly ListedBlob[]): Promise<void>;
  /**
   * Up to `limit` blobs that no repository links, no manifest names, no upload session is publishing and
   * nobody touched before `touchedBefore`. Unless `dryRun`, their rows are removed and `removeBytes` is
   * called with them *before* that removal commits, so a concurrent touch waits for the bytes to be gone.
   */
  sweepBlobs(
    options: SweepOptions & { after?: string },
    removeBytes: (blobs: readonly CollectedBlob[]) => Promise<void>,
  ): Promise<CollectedBlob[]>;

  // Usage: kept exact by every write that changes it, so reading it is cheap enough for every push.

  /** What the repository holds (zeros for one that holds nothing). */
  repositoryUsage(repository: string): Promise<RepositoryUsage>;
  /** What the registry holds: every blob once, every manifest row. */
  registryUsage(): Promise<UsageTotals>;
  /** The usage of every repository that holds something, in lexical order of names, a page at a time. */
  listRepositoryUsage(page: PageOptions): Promise<RepositoryUsage[]>;

  /** A small key-value space for registry state (for example the schema1 signing key). Returns the stored value, the existing one when the key was already set. */
  getOrSetSetting(key: string, value: string): Promise<string>;

  /**
   * Optional: resolves when the store can serve requests (its database answers), rejects otherwise.
   * Readiness probes call it; without it they try a cheap read instead.
   */
  ping?(): Promise<void>;

  /**
   * The durable outbox webhooks are delivered from. A store without one cannot serve webhooks (the
   * registry refuses to start with them), and ignores the `events` of the write methods.
   */
  readonly outbox?: EventOutbox;

  /**
   * Optional: the pull-through cache's records (mirrored repositories, tag fetch times), kept with the
   * metadata so they survive restarts and are shared by instances. Without it the registry keeps them in memory.
   */
  readonly mirrorCache?: MirrorCacheStore;

  /** Releases the store's connections; the store is not used afterwards. */
  close(): Promise<void>;
}
