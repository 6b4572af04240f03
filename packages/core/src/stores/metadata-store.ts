import type { EventOutbox, OutboxEntry } from './event-outbox.js';

/** Keyset pagination: return at most `limit` items that sort strictly after `last`. */
export interface PageOptions {
  last?: string;
  limit: number;
}

/** One stored manifest of one repository: the exact bytes pushed plus what negotiation needs. */
export interface StoredManifest {
  repository: string;
  digest: string;
  /** The media type it is served with. */
  mediaType: string;
  size: number;
  content: Uint8Array;
  /** Digest of the manifest this one refers to (OCI `subject`), if any. */
  subject?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
  createdAt: Date;
}

export interface ManifestWrite {
  manifest: Omit<StoredManifest, 'createdAt'>;
  /** Blob digests the manifest references (config, layers). */
  blobReferences: string[];
  /** Child manifest digests (lists and indexes). */
  manifestReferences: string[];
  /** Tag to point at the manifest in the same transaction. */
  tag?: string;
  /** Outbox entries (events of this push) written in the same transaction. */
  events?: readonly OutboxEntry[];
}

export interface UploadSession {
  id: string;
  repository: string;
  startedAt: Date;
}

/** A manifest berth converted for an older client (for example to signed schema1), kept so its digest can be pulled later. */
export interface ConvertedManifest {
  repository: string;
  /** Digest of the converted body (what the client was shown). */
  digest: string;
  /** Digest of the stored manifest it was made from; deleting that source deletes this. */
  sourceDigest: string;
  mediaType: string;
  content: Uint8Array;
}

/**
 * Registry metadata: repositories, which blobs each repository may see, manifests, tags,
 * referrers and upload sessions. Every method is atomic on its own.
 */
export interface MetadataStore {
  /** Repository names in lexical order. A repository exists while it has a manifest, tag or blob link. */
  listRepositories(page: PageOptions): Promise<string[]>;
  repositoryExists(repository: string): Promise<boolean>;

  /**
   * Lets `repository` see a blob of the blob store (after an upload or a mount). Idempotent. `events`
   * go to the outbox in the same transaction (every call writes them, as every upload is an event).
   */
  linkBlob(repository: string, digest: string, size: number, events?: readonly OutboxEntry[]): Promise<void>;
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
  getManifest(repository: string, digest: string): Promise<StoredManifest | undefined>;
  /**
   * Removes a manifest, every tag pointing at it and the conversions made from it. False when unknown.
   * `events` go to the outbox in the same transaction, only when the manifest was removed.
   */
  deleteManifest(repository: string, digest: string, events?: readonly OutboxEntry[]): Promise<boolean>;

  resolveTag(repository: string, tag: string): Promise<string | undefined>;
  /** `events` go to the outbox in the same transaction, only when the tag was removed. */
  deleteTag(repository: string, tag: string, events?: readonly OutboxEntry[]): Promise<boolean>;
  /** Tags in lexical order. */
  listTags(repository: string, page: PageOptions): Promise<string[]>;

  /** Manifests of the repository whose subject is `subjectDigest`, optionally of one artifact type. */
  listReferrers(repository: string, subjectDigest: string, artifactType?: string): Promise<StoredManifest[]>;

  createUploadSession(session: UploadSession): Promise<void>;
  getUploadSession(id: string): Promise<UploadSession | undefined>;
  deleteUploadSession(id: string): Promise<boolean>;
  /** Removes at most `limit` sessions begun before `date`, oldest first, and returns their ids. */
  deleteUploadSessionsStartedBefore(date: Date, limit: number): Promise<string[]>;

  /** Remembers a converted manifest (idempotent). */
  putConvertedManifest(converted: ConvertedManifest): Promise<void>;
  getConvertedManifest(repository: string, digest: string): Promise<ConvertedManifest | undefined>;

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

  close(): Promise<void>;
}
