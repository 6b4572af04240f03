import { PassThrough, type Readable } from 'node:stream';
import { RegistryError, type BlobInfo, type MirrorCacheStore, type StoredManifest } from '@berth/core';
import { MediaType, MirrorRules, parseManifest, type ParsedManifest } from '@berth/core/internal';
import { readBoundedBody } from '../body.js';
import { verifyDigest } from '../manifest-digest.js';
import { manifestRecord } from '../manifest-record.js';
import { summarizePushedManifest } from '../manifest-summary.js';
import type { ResolvedOptions } from '../options.js';
import { MemoryMirrorCache } from './memory-mirror-cache.js';
import { UpstreamClient, type UpstreamTimeouts } from './upstream-client.js';

/** A fetched manifest's references are not checked against the repository: the cache holds what was pulled. */
const NOTHING_CHECKED = { children: new Map(), blobSizes: new Map() };

/** Every manifest format berth stores, so the upstream sends what it has as it is (negotiation happens here). */
const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerSchema2,
  MediaType.DockerSchema1Signed,
  MediaType.DockerSchema1,
].join(', ');

/** Where a mirrored repository comes from. */
export interface MirrorTarget {
  /** The prefix of the mirror rule serving the repository (`*` for the catch-all). */
  readonly prefix: string;
  /** The upstream's URL, without credentials. */
  readonly upstream: string;
  /** The repository's name at the upstream. */
  readonly upstreamName: string;
  /** The rule's tag freshness in milliseconds. */
  readonly tagTtl: number;
}

/** A manifest served from a mirror: whether the cache answered because the upstream could not. */
export interface MirroredManifest {
  /** The manifest as the cache holds it now. */
  stored: StoredManifest;
  /** True when a tag past its freshness was served because the upstream failed. */
  stale: boolean;
}

/** A blob of a mirrored repository: from the blob store, or streaming from the upstream right now. */
export interface MirroredBlob {
  /** The blob's digest and size. */
  info: BlobInfo;
  /** The upstream's bytes as they arrive (also going into the blob store); absent when the store serves it. */
  stream?: Readable;
}

/**
 * The pull-through cache: what a mirrored repository holds locally, else what its upstream has, stored
 * on the way through as a push would store it. Manifests by digest are immutable; a tag is served from
 * the cache while fresh, then revalidated with a HEAD. Blobs go to the client and into the blob store at
 * once through an upload (verified against the digest before they become visible); concurrent pulls of
 * the same digest wait for the one fetch in flight to commit, then read the store.
 */
export class MirrorSource {
  readonly #rules: MirrorRules;
  /** One client per rule, by prefix (its tokens are cached per scope). */
  readonly #clients = new Map<string, UpstreamClient>();
  /** Blob fetches in flight, by digest: followers wait for them. */
  readonly #fetches = new Map<string, { repository: string; done: Promise<void> }>();
  readonly #cache: MirrorCacheStore;
  /** Manifest fetches in flight, by repository and reference. */
  readonly #manifestFetches = new Map<string, Promise<StoredManifest>>();

  constructor(
    private readonly options: ResolvedOptions,
    timeouts: UpstreamTimeouts = {},
  ) {
    this.#rules = new MirrorRules(options.mirrors);
    for (const rule of this.#rules.rules) this.#clients.set(rule.prefix, new UpstreamClient(rule, timeouts));
    // Without mirrors nothing is ever recorded: the store's records are not even looked at.
    this.#cache = (this.#rules.empty ? undefined : options.metadata.mirrorCache) ?? new MemoryMirrorCache();
  }

  /** The mirror's records (the store's, else this process's memory). */
  get cache(): MirrorCacheStore {
    return this.#cache;
  }

  /** True when at least one mirror is configured. */
  get enabled(): boolean {
    return !this.#rules.empty;
  }

  /** The mirror serving a repository, undefined for a local one. */
  async targetOf(repository: string): Promise<MirrorTarget | undefined> {
    if (!this.enabled) return undefined;
    const target = await this.#rules.targetOf(
      repository,
      async () => !(await this.#cache.isMirrored(repository)) && (await this.options.metadata.repositoryExists(repository)),
    );
    return target && { prefix: target.rule.prefix, upstream: target.rule.url, upstreamName: target.upstreamName, tagTtl: target.rule.tagTtl };
  }

  /** UNSUPPORTED (405) for a write into a mirrored repository; local repositories pass. */
  async refuseWrite(repository: string, what: string): Promise<void> {
    if (!this.enabled) return;
    const prefixed = this.#rules.prefixed(repository);
    const mirrored = prefixed ?? ((await this.#cache.isMirrored(repository)) ? { rule: undefined } : undefined);
    if (mirrored === undefined) return;
    throw new RegistryError('UNSUPPORTED', `${repository} is a read-only mirror${prefixed ? ` of ${prefixed.rule.url}` : ''}: ${what} is not accepted here; push to a repository outside the mirrored names`, {
      detail: { repository },
    });
  }

  /** A manifest by digest: immutable, so fetched once and never revalidated. */
  async manifestByDigest(target: MirrorTarget, repository: string, digest: string): Promise<StoredManifest> {
    const cached = await this.options.metadata.getManifest(repository, digest);
    if (cached) {
      this.#read(repository, 'manifest', 'hit');
      return cached;
    }
    const fetched = await this.#fetchManifest(target, repository, digest);
    this.#read(repository, 'manifest', 'miss');
    return fetched;
  }

  /**
   * The manifest a tag points at: the cached one while the tag is fresh; past its freshness the upstream
   * is asked (HEAD) whether it moved, and the new manifest fetched if so. When the upstream fails, a cached
   * tag is served stale (logged); an uncached one is UNAVAILABLE.
   */
  async manifestByTag(target: MirrorTarget, repository: string, tag: string): Promise<MirroredManifest> {
    const { metadata } = this.options;
    const cachedDigest = await metadata.resolveTag(repository, tag);
    const cached = cachedDigest === undefined ? undefined : await metadata.getManifest(repository, cachedDigest);
    const fetchedAt = cached && (await this.#cache.tagFetchedAt(repository, tag));
    if (cached && fetchedAt && Date.now() - fetchedAt.getTime() < target.tagTtl) {
      this.#read(repository, 'manifest', 'hit');
      return { stored: cached, stale: false };
    }
    try {
      if (cached) {
        const head = await this.#client(target).request('HEAD', target.upstreamName, `manifests/${tag}`, MANIFEST_ACCEPT);
        if (head.status === 200 && head.headers.get('docker-content-digest') === cached.digest) {
          await this.#cache.setTagFetchedAt(repository, tag, new Date());
          this.#read(repository, 'manifest', 'hit');
          return { stored: cached, stale: false };
        }
        if (head.status === 404) throw unknownManifest({ tag });
      }
      const fetched = await this.#fetchManifest(target, repository, tag);
      this.#read(repository, 'manifest', 'miss');
      return { stored: fetched, stale: false };
    } catch (error) {
      if (!(cached && isUnavailable(error))) {
        if (isUnavailable(error)) this.#read(repository, 'manifest', 'unavailable');
        throw error;
      }
      this.options.mirrorLog.warn(
        { repository, tag, digest: cached.digest, upstream: target.upstream, reason: (error as Error).message },
        'mirror: upstream unavailable, serving a stale tag from the cache',
      );
      this.#read(repository, 'manifest', 'stale');
      return { stored: cached, stale: true };
    }
  }

  /**
   * A blob of a mirrored repository the repository does not link yet. A blob the store holds (another
   * repository's, or a fetch that just finished) is linked once the upstream confirms this repository has it;
   * otherwise it is fetched, or, when a fetch of it is in flight, waited for.
   */
  async blob(target: MirrorTarget, repository: string, digest: string): Promise<MirroredBlob> {
    for (;;) {
      const inflight = this.#fetches.get(digest);
      if (inflight) await inflight.done.catch(() => undefined);
      const stored = await this.#linkStored(target, repository, digest, inflight?.repository === repository);
      if (stored) {
        this.#read(repository, 'blob', 'hit');
        return { info: stored };
      }
      // Another pull started the fetch meanwhile: wait for it too. Else this one leads (a failed leader's followers included).
      if (!this.#fetches.has(digest)) return this.#fetchBlob(target, repository, digest);
    }
  }

  /**
   * A blob's size for a HEAD of a blob the repository does not link: asked of the upstream, nothing fetched,
   * nothing linked (a HEAD writes nothing). Under `*`, an upstream that cannot answer makes it 404 rather than
   * 503: a client pushing a new repository checks its blobs with HEADs, and must then upload them.
   */
  async blobInfo(target: MirrorTarget, repository: string, digest: string): Promise<BlobInfo> {
    let head;
    try {
      head = await this.#client(target).request('HEAD', target.upstreamName, `blobs/${digest}`);
    } catch (error) {
      if (target.prefix === '*' && isUnavailable(error)) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest }, cause: error });
      throw error;
    }
    if (head.status === 404) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest } });
    const size = Number(head.headers.get('content-length'));
    if (!Number.isSafeInteger(size) || size < 0) throw new RegistryError('UNAVAILABLE', `the upstream ${target.upstream} gave no length for ${digest}`);
    return { digest, size };
  }

  /** Counts a read the cache answered (a hit). */
  hit(repository: string, kind: 'manifest' | 'blob'): void {
    this.#read(repository, kind, 'hit');
  }

  /**
   * Fetches a blob the repository needs (a config for a conversion) into the store, without a client.
   * Resolves once it is linked.
   */
  async cacheBlob(target: MirrorTarget, repository: string, digest: string): Promise<void> {
    if (await this.options.metadata.blobLink(repository, digest)) return;
    const blob = await this.blob(target, repository, digest);
    if (blob.stream) {
      blob.stream.resume();
      await this.#fetches.get(digest)?.done;
    }
  }

  /** Links a blob the store already holds into the repository, once the upstream says the repository has it. */
  async #linkStored(target: MirrorTarget, repository: string, digest: string, confirmed: boolean): Promise<BlobInfo | undefined> {
    const { metadata, blobs } = this.options;
    const link = await metadata.blobLink(repository, digest);
    if (link) {
      const stored = await blobs.stat(digest);
      if (stored) return stored;
    }
    const stored = await blobs.stat(digest);
    if (!stored) return undefined;
    if (!link && !confirmed) {
      // Knowing a digest must not reveal what another repository holds: the upstream vouches for this one.
      const head = await this.#client(target).request('HEAD', target.upstreamName, `blobs/${digest}`);
      if (head.status === 404) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest } });
    }
    await this.#cache.markMirrored(repository);
    await metadata.touchBlob(digest, stored.size);
    await metadata.linkBlob(repository, digest, stored.size);
    // A collector may have taken the bytes between the stat and the link: fetch them again then.
    return (await blobs.stat(digest)) ? stored : (await metadata.unlinkBlob(repository, digest), undefined);
  }

  /** Starts the one fetch of a digest: its bytes go to the returned stream and into an upload at once. */
  async #fetchBlob(target: MirrorTarget, repository: string, digest: string): Promise<MirroredBlob> {
    const toClient = new PassThrough();
    // The client may be gone (or never there, for cacheBlob) by the time a failure is known.
    toClient.on('error', () => undefined);
    const requested = this.#client(target).request('GET', target.upstreamName, `blobs/${digest}`);
    // Registered before the first await, so that concurrent pulls of the digest find it and wait.
    const done = (async () => {
      const response = await requested;
      if (response.status === 404 || response.body === undefined) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest } });
      await this.#store(target, repository, digest, response.body, toClient);
    })();
    const entry = { repository, done };
    this.#fetches.set(digest, entry);
    done
      .catch((error: unknown) => {
        toClient.destroy(error as Error);
        if (!(error instanceof RegistryError && error.code === 'BLOB_UNKNOWN')) {
          this.options.mirrorLog.warn({ repository, digest, upstream: target.upstream, reason: (error as Error).message }, 'mirror: a blob fetch from the upstream failed; nothing was cached');
        }
      })
      .finally(() => {
        if (this.#fetches.get(digest) === entry) this.#fetches.delete(digest);
      });
    let response;
    try {
      response = await requested;
    } catch (error) {
      if (isUnavailable(error)) this.#read(repository, 'blob', 'unavailable');
      throw error;
    }
    if (response.status === 404) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest } });
    this.#read(repository, 'blob', 'miss');
    const length = response.headers.get('content-length');
    const size = Number(length);
    if (length === null || !Number.isSafeInteger(size) || size < 0) {
      // Without a length the response cannot be framed up front: the client waits for the store.
      toClient.resume();
      await done;
      const stored = await this.options.blobs.stat(digest);
      if (!stored) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest } });
      return { info: stored };
    }
    return { info: { digest, size }, stream: toClient };
  }

  /**
   * Streams the upstream body into an upload and to the client together (the slower sets the pace, and a
   * client that leaves no longer counts). The client's stream ends only after the digest is verified and
   * the blob published, so a corrupt transfer reaches no one whole.
   */
  async #store(target: MirrorTarget, repository: string, digest: string, body: AsyncIterable<Uint8Array>, toClient: PassThrough): Promise<void> {
    const { blobs, metadata, observer } = this.options;
    const upload = await blobs.beginUpload();
    try {
      // The session keeps the collector away from the repository's links while the fetch lasts, and lets stale uploads be purged.
      await metadata.createUploadSession({ id: upload.id, repository, startedAt: upload.startedAt });
      const held: { chunk?: Uint8Array } = {};
      await blobs.appendUpload(upload.id, teeTo(body, toClient, (bytes) => observer.mirrorUpstreamBytes({ upstream: target.upstream, bytes }), held), 0);
      const received = await blobs.uploadState(upload.id);
      await metadata.touchBlob(digest, received?.size ?? 0, upload.id);
      const blob = await blobs.commitUpload(upload.id, digest);
      await this.#cache.markMirrored(repository);
      await metadata.linkBlob(repository, blob.digest, blob.size);
      await metadata.deleteUploadSession(upload.id);
      if (held.chunk !== undefined && !toClient.destroyed) toClient.write(held.chunk);
      toClient.end();
    } catch (error) {
      // The upload stopped reading: the download is cancelled with it (the iterator's return).
      await body[Symbol.asyncIterator]().return?.();
      await blobs.abortUpload(upload.id).catch(() => undefined);
      await metadata.deleteUploadSession(upload.id).catch(() => undefined);
      throw error;
    }
  }

  /** One upstream GET per repository and reference at a time: concurrent pulls of an uncached tag share it. */
  #fetchManifest(target: MirrorTarget, repository: string, reference: string): Promise<StoredManifest> {
    const key = `${repository}\n${reference}`;
    const inflight = this.#manifestFetches.get(key);
    if (inflight) return inflight;
    const fetched = this.#fetchManifestNow(target, repository, reference).finally(() => this.#manifestFetches.delete(key));
    this.#manifestFetches.set(key, fetched);
    return fetched;
  }

  async #fetchManifestNow(target: MirrorTarget, repository: string, reference: string): Promise<StoredManifest> {
    const byDigest = reference.includes(':');
    const response = await this.#client(target).request('GET', target.upstreamName, `manifests/${reference}`, MANIFEST_ACCEPT);
    if (response.status === 404 || response.body === undefined) {
      throw unknownManifest(byDigest ? { digest: reference } : { tag: reference });
    }
    let bytes: Buffer;
    let manifest: ParsedManifest;
    try {
      bytes = await readBoundedBody(response.body, this.options.maxManifestBytes);
      manifest = parseManifest(bytes, response.headers.get('content-type') ?? undefined);
    } catch (error) {
      if (isUnavailable(error)) throw error;
      throw new RegistryError('UNAVAILABLE', `the upstream ${target.upstream} sent a manifest berth cannot store: ${(error as Error).message}`, { cause: error });
    }
    this.options.observer.mirrorUpstreamBytes({ upstream: target.upstream, bytes: bytes.byteLength });
    const digest = byDigest ? verifyDigest(reference, bytes, manifest) : manifest.digest;
    await this.#cache.markMirrored(repository);
    await this.options.metadata.putManifest({
      // Browsing's summary from what is at hand: a list's children and an image's config may come later, so a list
      // counts its children's manifests and an image shows a platform only when its config is cached already.
      manifest: manifestRecord(repository, digest, manifest, bytes, await summarizePushedManifest(this.options, repository, manifest, bytes, NOTHING_CHECKED)),
      // Layers and children come when clients ask for them: the cache holds what was pulled.
      blobReferences: manifest.blobReferences,
      manifestReferences: manifest.manifestReferences,
      ...(!byDigest && { tag: reference }),
    });
    if (!byDigest) await this.#cache.setTagFetchedAt(repository, reference, new Date());
    const stored = await this.options.metadata.getManifest(repository, digest);
    if (!stored) throw unknownManifest({ digest });
    return stored;
  }

  #client(target: MirrorTarget): UpstreamClient {
    return this.#clients.get(target.prefix)!;
  }

  #read(repository: string, kind: 'manifest' | 'blob', outcome: 'hit' | 'miss' | 'stale' | 'unavailable'): void {
    this.options.observer.mirrorRead({ repository, kind, outcome });
  }
}

/**
 * Yields the body's chunks to the upload and writes them to the client, waiting for a client that is
 * behind. The last chunk is held back (the caller sends it once the digest is verified): with a
 * Content-Length, the client would otherwise hold the whole blob before the check.
 */
async function* teeTo(body: AsyncIterable<Uint8Array>, toClient: PassThrough, counted: (bytes: number) => void, held: { chunk?: Uint8Array }): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    counted(chunk.byteLength);
    const previous = held.chunk;
    held.chunk = chunk;
    if (previous !== undefined && !toClient.destroyed && !toClient.write(previous)) await drained(toClient);
    yield chunk;
  }
}

function drained(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}

function isUnavailable(error: unknown): boolean {
  return error instanceof RegistryError && error.code === 'UNAVAILABLE';
}

function unknownManifest(detail: { tag: string } | { digest: string }): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', undefined, { detail });
}
