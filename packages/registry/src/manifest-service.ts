import {
  RegistryError,
  type RequestContext,
  type ConvertedManifest,
  type StoredManifest,
  type RepositoryQuota,
  type TaggedManifest,
  type TagExpectation,
} from '@berth/core';
import {
  assertDescriptorSizes,
  assertRepositoryName,
  expectedConversion,
  kindOfContentType,
  negotiate,
  parseAccept,
  parseManifest,
  parseManifestLookup,
  parseManifestReference,
  type AcceptedTypes,
  type ManifestReference,
  type ParsedManifest,
} from '@berth/core/internal';
import { readBoundedBody, type ByteStream } from './body.js';
import { ConversionService } from './conversion-service.js';
import { verifyDigest } from './manifest-digest.js';
import { manifestRecord } from './manifest-record.js';
import { summarizePushedManifest } from './manifest-summary.js';
import type { NegotiationOutcome } from './observer.js';
import type { EventRecorder } from './events/event-recorder.js';
import type { ResolvedOptions } from './options.js';
import type { MirrorSource, MirrorTarget } from './mirror/mirror-source.js';

/** A list may name an index which names images; deeper nesting is refused rather than followed. */
const MAX_CHILD_DEPTH = 2;

/** What a manifest push stored. */
export interface PushedManifest {
  /** The stored manifest's digest. */
  digest: string;
  /** Digest of the manifest's `subject`, answered as `OCI-Subject`. */
  subject?: string;
}

/** A manifest body as one client will receive it. */
export interface ServedManifest {
  /** The bytes to send. */
  body: Uint8Array;
  /** Media type to answer with (Content-Type). */
  mediaType: string;
  /** Digest of the bytes sent (`Docker-Content-Digest`). */
  digest: string;
  /** How negotiation answered: the stored bytes, a platform child, or a conversion. */
  negotiation: Exclude<NegotiationOutcome, 'refused'>;
  /** True when a mirrored tag past its freshness was served from the cache because the upstream failed. */
  stale?: boolean;
}

/** Errors thrown because negotiation found no form the client can read (rather than no manifest at all). */
const refusals = new WeakSet<object>();

/** True for the 404 of a manifest GET whose manifest exists but has no form the client can read. */
export function isNegotiationRefusal(error: unknown): boolean {
  return typeof error === 'object' && error !== null && refusals.has(error);
}

/** Pushes, pulls and deletes manifests and tags. */
export class ManifestService {
  private readonly conversions: ConversionService;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly events: EventRecorder,
    private readonly mirror: MirrorSource,
  ) {
    this.conversions = new ConversionService(options);
  }

  /**
   * Stores a pushed manifest exactly as sent, once everything it references is in the repository with
   * the size its descriptor declares, and points the tag at it in the same transaction. A refused
   * manifest leaves nothing behind.
   * `context` is the request (who asked, from where) the push event records.
   */
  async put(
    repository: string,
    reference: string,
    body: ByteStream,
    contentType?: string,
    context?: RequestContext,
  ): Promise<PushedManifest> {
    assertRepositoryName(repository);
    const target = parseManifestReference(reference);
    await this.mirror.refuseWrite(repository, 'a manifest push');
    const bytes = await readBoundedBody(body, this.options.maxManifestBytes);
    const manifest = parseManifest(bytes, contentType);
    if (manifest.kind === 'schema1' && !this.options.schema1Push) {
      throw new RegistryError('UNSUPPORTED', 'schema1 manifests are not accepted here: push schema2 or OCI', {
        status: 400,
      });
    }
    const digest = target.kind === 'digest' ? verifyDigest(target.digest, bytes, manifest) : manifest.digest;
    const stored = await this.assertReferencesStored(repository, manifest);
    const summary = await summarizePushedManifest(this.options, repository, manifest, bytes, stored);
    const tag = target.kind === 'tag' ? target.tag : undefined;
    const pushed = this.events.prepare(
      { action: 'push', kind: 'manifest', repository, digest, mediaType: manifest.mediaType, size: bytes.byteLength, ...(tag !== undefined && { tag }) },
      context,
    );
    await this.options.metadata.putManifest({
      manifest: manifestRecord(repository, digest, manifest, bytes, summary),
      blobReferences: manifest.blobReferences,
      manifestReferences: manifest.manifestReferences,
      ...(tag !== undefined && { tag }),
      events: pushed.outbox,
      // Checked again in the write's transaction: a collector may have removed one since the check above.
      requireReferences: true,
      ...quotaOf(this.options, repository),
    });
    this.events.published(pushed);
    return { digest, ...(manifest.subject && { subject: manifest.subject.digest }) };
  }

  /**
   * The manifest a client gets for a tag or digest, given its Accept header values: by digest the
   * stored bytes (or a conversion berth showed a client earlier), by tag whatever negotiation decides.
   */
  async get(repository: string, reference: string, accept: readonly string[] = []): Promise<ServedManifest> {
    try {
      const result = await this.lookup(repository, reference, accept);
      this.options.observer.manifestServed({ repository, outcome: result.negotiation });
      return result;
    } catch (error) {
      if (isNegotiationRefusal(error)) this.options.observer.manifestServed({ repository, outcome: 'refused' });
      throw error;
    }
  }

  private async lookup(repository: string, reference: string, accept: readonly string[]): Promise<ServedManifest> {
    assertRepositoryName(repository);
    const target = parseManifestLookup(reference);
    const mirror = await this.mirror.targetOf(repository);
    if (target.kind === 'digest') {
      const stored = await this.options.metadata.getManifest(repository, target.digest);
      const local = stored ?? (await this.options.metadata.getConvertedManifest(repository, target.digest));
      if (local) {
        if (mirror) this.mirror.hit(repository, 'manifest');
        return served(local, 'stored');
      }
      if (mirror) return served(await this.mirror.manifestByDigest(mirror, repository, target.digest), 'stored');
      throw unknownManifest(target);
    }
    const accepted = parseAccept(accept);
    if (mirror) {
      const { stored, stale } = await this.mirror.manifestByTag(mirror, repository, target.tag);
      const result = await this.negotiated(stored, target.tag, accepted, 0, { mirror });
      return stale ? { ...result, stale } : result;
    }
    const found = await this.tagged(repository, target.tag, accepted);
    return this.negotiated(found.manifest, target.tag, accepted, 0, { remembered: found.converted });
  }

  /**
   * Runs negotiation on a manifest pulled by tag, following a list to its child when the client needs one.
   * `source.remembered`: a conversion of `stored` the store found with the tag, served if negotiation asks for it;
   * `source.mirror`: the upstream a mirrored repository's missing config or child comes from.
   */
  private async negotiated(
    stored: StoredManifest,
    tag: string,
    accepted: AcceptedTypes,
    depth: number,
    source: { mirror?: MirrorTarget; remembered?: ConvertedManifest } = {},
  ): Promise<ServedManifest> {
    const kind = kindOfContentType(stored.mediaType);
    // A list's child served as it is stored is what `child` counts.
    const asStored = depth === 0 ? 'stored' : 'child';
    if (!kind) return served(stored, asStored);
    const decision = negotiate({
      kind,
      parsed: () => parseManifest(stored.content, stored.mediaType),
      reference: 'tag',
      accepted,
      platforms: this.options.platforms,
    });
    switch (decision.action) {
      case 'serve-stored':
        return served(stored, asStored);
      case 'convert-to-schema1':
        // The conversion reads the image config: a mirror fetches it first.
        if (source.mirror) await this.cacheConfig(source.mirror, stored);
        return served(await this.conversions.toSchema1(stored, tag, source.remembered), 'schema1');
      case 'convert-to-schema2':
        return served(await this.conversions.toSchema2(stored, source.remembered), 'schema2');
      case 'refuse':
        throw refusal(decision.error);
      case 'select-child': {
        if (depth >= MAX_CHILD_DEPTH) throw refusal(unknownManifest({ kind: 'digest', digest: decision.digest }));
        const child =
          (await this.options.metadata.getManifest(stored.repository, decision.digest)) ??
          (source.mirror && (await this.mirror.manifestByDigest(source.mirror, stored.repository, decision.digest)));
        if (!child) throw refusal(unknownManifest({ kind: 'digest', digest: decision.digest }));
        return this.negotiated(child, tag, accepted, depth + 1, { mirror: source.mirror });
      }
    }
  }

  /** By digest: the manifest and its tags go. By tag: only the tag goes. `context`: the request (see put). */
  async delete(repository: string, reference: string, context?: RequestContext): Promise<void> {
    assertRepositoryName(repository);
    const target = parseManifestLookup(reference);
    await this.mirror.refuseWrite(repository, 'a delete');
    const deletion = this.events.prepare(
      target.kind === 'digest'
        ? { action: 'delete', kind: 'manifest', repository, digest: target.digest }
        : { action: 'delete', kind: 'tag', repository, tag: target.tag },
      context,
    );
    const deleted =
      target.kind === 'digest'
        ? await this.options.metadata.deleteManifest(repository, target.digest, deletion.outbox)
        : await this.options.metadata.deleteTag(repository, target.tag, deletion.outbox);
    if (!deleted) throw unknownManifest(target);
    this.events.published(deletion);
  }

  /**
   * Removes a tag as a DELETE of it would (same event and outbox entries), but only while it still points
   * at `expected.digest` and was pushed before `expected.pushedBefore`: retention removes what it judged,
   * never a tag pushed again since. False when the tag was left.
   */
  async deleteTagIfUnchanged(repository: string, tag: string, expected: TagExpectation, context?: RequestContext): Promise<boolean> {
    const deletion = this.events.prepare({ action: 'delete', kind: 'tag', repository, tag }, context);
    const deleted = await this.options.metadata.deleteTag(repository, tag, deletion.outbox, expected);
    if (deleted) this.events.published(deletion);
    return deleted;
  }

  private async cacheConfig(mirror: MirrorTarget, stored: StoredManifest): Promise<void> {
    const config = parseManifest(stored.content, stored.mediaType).config;
    if (config) await this.mirror.cacheBlob(mirror, stored.repository, config.digest);
  }

  /**
   * The manifest the tag points at, with the conversion this client would be served if it has been made:
   * one lookup where the store offers it, else the tag then the manifest.
   */
  private async tagged(repository: string, tag: string, accepted: AcceptedTypes): Promise<TaggedManifest> {
    const { metadata } = this.options;
    let found: TaggedManifest | undefined;
    if (metadata.getTaggedManifest !== undefined) {
      found = await metadata.getTaggedManifest(repository, tag, expectedConversion(accepted));
    } else {
      const digest = await metadata.resolveTag(repository, tag);
      const manifest = digest === undefined ? undefined : await metadata.getManifest(repository, digest);
      found = manifest && { manifest };
    }
    if (!found) throw unknownManifest({ kind: 'tag', tag });
    return found;
  }

  /**
   * Every blob and child manifest the manifest names must be in the repository (else MANIFEST_BLOB_UNKNOWN),
   * with the size its descriptor declares (else MANIFEST_INVALID naming the descriptor). Returns what it found. A child stored as
   * signed schema1 is not compared: its size could mean the signed bytes or the payload.
   */
  private async assertReferencesStored(repository: string, manifest: ParsedManifest): Promise<StoredReferences> {
    const { metadata } = this.options;
    const blobSizes = new Map(
      await Promise.all(
        manifest.blobReferences.map(async (digest) => [digest, (await metadata.blobLink(repository, digest))?.size] as const),
      ),
    );
    const children = new Map(
      await Promise.all(
        manifest.manifestReferences.map(async (digest) => [digest, await metadata.getManifest(repository, digest)] as const),
      ),
    );
    const missing = [
      ...[...blobSizes].filter(([, size]) => size === undefined).map(([digest]) => digest),
      ...[...children].filter(([, child]) => child === undefined).map(([digest]) => digest),
    ];
    if (missing.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references unknown content: ${missing.join(', ')}`, {
        detail: { digests: missing },
      });
    }
    assertDescriptorSizes(manifest, ({ descriptor, target }) => {
      if (target === 'blob') return blobSizes.get(descriptor.digest);
      const child = children.get(descriptor.digest);
      return child && kindOfContentType(child.mediaType) !== 'schema1' ? child.size : undefined;
    });
    return { children, blobSizes };
  }
}

/** What a pushed manifest names, as the repository holds it: child manifests and blob sizes. */
interface StoredReferences {
  children: ReadonlyMap<string, StoredManifest | undefined>;
  blobSizes: ReadonlyMap<string, number | undefined>;
}

function served(
  manifest: { content: Uint8Array; mediaType: string; digest: string },
  negotiation: ServedManifest['negotiation'],
): ServedManifest {
  return { body: manifest.content, mediaType: manifest.mediaType, digest: manifest.digest, negotiation };
}

function refusal(error: RegistryError): RegistryError {
  refusals.add(error);
  return error;
}

function unknownManifest(target: ManifestReference): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', undefined, {
    detail: target.kind === 'tag' ? { tag: target.tag } : { digest: target.digest },
  });
}

/** The quota of the repository as a write option (none without one). */
function quotaOf(options: ResolvedOptions, repository: string): { quota?: RepositoryQuota } {
  const quota = options.quotas.quotaFor(repository);
  return quota === undefined ? {} : { quota };
}
