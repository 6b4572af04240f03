import {
  RegistryError,
  digestOf,
  parseDigest,
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
import type { NegotiationOutcome } from './observer.js';
import type { EventRecorder } from './events/event-recorder.js';
import type { ResolvedOptions } from './options.js';

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
    const bytes = await readBoundedBody(body, this.options.maxManifestBytes);
    const manifest = parseManifest(bytes, contentType);
    if (manifest.kind === 'schema1' && !this.options.schema1Push) {
      throw new RegistryError('UNSUPPORTED', 'schema1 manifests are not accepted here: push schema2 or OCI', {
        status: 400,
      });
    }
    const digest = target.kind === 'digest' ? verifyDigest(target.digest, bytes, manifest) : manifest.digest;
    await this.assertReferencesStored(repository, manifest);
    const tag = target.kind === 'tag' ? target.tag : undefined;
    const pushed = this.events.prepare(
      { action: 'push', kind: 'manifest', repository, digest, mediaType: manifest.mediaType, size: bytes.byteLength, ...(tag !== undefined && { tag }) },
      context,
    );
    await this.options.metadata.putManifest({
      manifest: {
        repository,
        digest,
        mediaType: manifest.mediaType,
        size: bytes.byteLength,
        content: bytes,
        ...(manifest.subject && { subject: manifest.subject.digest }),
        ...(manifest.artifactType !== undefined && { artifactType: manifest.artifactType }),
        ...(manifest.annotations && { annotations: manifest.annotations }),
      },
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
    if (target.kind === 'digest') {
      const stored = await this.options.metadata.getManifest(repository, target.digest);
      if (stored) return served(stored, 'stored');
      const converted = await this.options.metadata.getConvertedManifest(repository, target.digest);
      if (converted) return served(converted, 'stored');
      throw unknownManifest(target);
    }
    const accepted = parseAccept(accept);
    const found = await this.tagged(repository, target.tag, accepted);
    return this.negotiated(found.manifest, target.tag, accepted, 0, found.converted);
  }

  /**
   * Runs negotiation on a manifest pulled by tag, following a list to its child when the client needs one.
   * `remembered`: a conversion of `stored` the store found with the tag, served if negotiation asks for it.
   */
  private async negotiated(
    stored: StoredManifest,
    tag: string,
    accepted: AcceptedTypes,
    depth: number,
    remembered?: ConvertedManifest,
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
        return served(await this.conversions.toSchema1(stored, tag, remembered), 'schema1');
      case 'convert-to-schema2':
        return served(await this.conversions.toSchema2(stored, remembered), 'schema2');
      case 'refuse':
        throw refusal(decision.error);
      case 'select-child': {
        const child = await this.options.metadata.getManifest(stored.repository, decision.digest);
        if (!child || depth >= MAX_CHILD_DEPTH) throw refusal(unknownManifest({ kind: 'digest', digest: decision.digest }));
        return this.negotiated(child, tag, accepted, depth + 1);
      }
    }
  }

  /** By digest: the manifest and its tags go. By tag: only the tag goes. `context`: the request (see put). */
  async delete(repository: string, reference: string, context?: RequestContext): Promise<void> {
    assertRepositoryName(repository);
    const target = parseManifestLookup(reference);
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
   * with the size its descriptor declares (else MANIFEST_INVALID naming the descriptor). A child stored as
   * signed schema1 is not compared: its size could mean the signed bytes or the payload.
   */
  private async assertReferencesStored(repository: string, manifest: ParsedManifest): Promise<void> {
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
  }
}

/** A push by digest must hash to that digest, in the digest's own algorithm. */
function verifyDigest(expected: string, bytes: Uint8Array, manifest: ParsedManifest): string {
  const { algorithm } = parseDigest(expected);
  // Signed schema1 is addressed by its payload without signatures, which the parser already hashed.
  const actual = manifest.kind === 'schema1' && algorithm === 'sha256' ? manifest.digest : digestOf(bytes, algorithm);
  if (actual !== expected) {
    throw new RegistryError('DIGEST_INVALID', `manifest digest ${actual} does not match ${expected}`, {
      detail: { expected, actual },
    });
  }
  return expected;
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
