import {
  RegistryError,
  type Descriptor,
  type ImageConfigSummary,
  type Platform,
  type ReferrerGroup,
  type RepositorySummary,
  type Schema1Outcome,
  type StoredManifest,
  type TagSummary,
} from '@berth/core';
import {
  MediaType,
  assertRepositoryName,
  cosignTagsOf,
  kindOfContentType,
  parseImageConfigSummary,
  parseManifest,
  parseManifestLookup,
  referrerGroup,
  schema1Outcome,
  type ParsedManifest,
} from '@berth/core/internal';
import { readConfigForSummary } from './image-config-reader.js';
import type { ResolvedOptions } from './options.js';

/** A page of a browsing listing and the item to continue after, when more follow. */
export interface BrowsePage<T> {
  /** The items of this page. */
  items: T[];
  /** The last item of this page when another page follows. */
  next?: T;
}

/** Which repositories to list: a page after `last` (a name), optionally only names containing `contains`. */
export interface RepositoryBrowseRequest {
  /** Only names containing this text (case-insensitive). */
  contains?: string;
  /** Most repositories on the page (capped by the registry's page limit). */
  n?: number;
  /** The last name of the previous page. */
  last?: string;
}

/** Which tags to list: see `TagSummaryQuery` of the metadata store. */
export interface TagBrowseRequest {
  /** Only tags whose name contains this text (case-insensitive). */
  contains?: string;
  /** `name` (default) or `newest` push first. */
  order?: 'name' | 'newest';
  /** Most tags on the page (capped by the registry's page limit). */
  n?: number;
  /** The last tag of the previous page, with its push time for `newest`. */
  after?: { name: string; pushedAt?: Date };
}

/** A manifest's referrer as the browsing pages group them. */
export interface BrowsedReferrer {
  /** Signature, SBOM, attestation or other. */
  group: ReferrerGroup;
  /** The referrer's artifact type (else its config media type), undefined when it has neither. */
  artifactType?: string;
  /** The referrer manifest's digest. */
  digest: string;
  /** The referrer manifest's media type. */
  mediaType: string;
  /** The referrer manifest's size in bytes. */
  size: number;
  /** The referrer manifest's annotations. */
  annotations: Record<string, string>;
  /** For cosign's tag-style scheme (`sha256-….sig`), the tag it is stored under; absent for OCI referrers. */
  tag?: string;
}

/** One child of a list or index. */
export interface BrowsedChild {
  /** The child manifest's digest. */
  digest: string;
  /** The child's media type. */
  mediaType: string;
  /** The child's total size when it is stored here (else its descriptor's size). */
  size: number;
  /** The platform the list names for it. */
  platform?: Platform;
}

/** Everything the manifest page shows, read from one manifest row, its config blob and its referrers. */
export interface ManifestDetail {
  /** The repository. */
  repository: string;
  /** The manifest's digest. */
  digest: string;
  /** The manifest's media type. */
  mediaType: string;
  /** Total size (manifest, config and layers; for a list, its children's). */
  size: number;
  /** The stored manifest's bytes. */
  content: Uint8Array;
  /** Tags pointing at it. */
  tags: string[];
  /** Children of a list or index (empty otherwise). */
  children: BrowsedChild[];
  /** The config's digest and summary, for an image with an image config whose blob is here. */
  config?: { digest: string; summary: ImageConfigSummary };
  /** Layers, base first, with their sizes (for schema1, the linked blob's size). */
  layers: Descriptor[];
  /** The manifest's annotations. */
  annotations: Record<string, string>;
  /** Digest of its subject (an artifact's). */
  subject?: string;
  /** Its artifact type. */
  artifactType?: string;
  /** Referrers: OCI ones (subject = this manifest) and cosign's tag-style ones. */
  referrers: BrowsedReferrer[];
  /** What a schema1 client pulling a tag of it gets. */
  schema1: Schema1Outcome;
}

/** Most tags of one manifest the detail lists. */
const MAX_TAGS_OF_MANIFEST = 1000;

/**
 * What the web UI's pages read: repository and tag summaries (recorded at push time, one query per page)
 * and the detail of one manifest. Access is the caller's business, as for the other services.
 */
export class BrowseService {
  constructor(private readonly options: ResolvedOptions) {}

  /**
   * Repositories with tag count, size and last push. With `visible`, only the names it keeps (the ones the
   * caller may pull), still in full pages: more are read until the page is full or the list ends.
   */
  async repositories(request: RepositoryBrowseRequest, visible?: (names: string[]) => Promise<string[]>): Promise<BrowsePage<RepositorySummary>> {
    const limit = this.pageSize(request.n);
    const kept: RepositorySummary[] = [];
    let after = request.last;
    for (;;) {
      // One more than asked, to know whether a next page exists.
      const rows = await this.options.metadata.listRepositorySummaries({
        limit: limit + 1,
        ...(after !== undefined && { last: after }),
        ...(request.contains && { contains: request.contains }),
      });
      const names = new Set(visible ? await visible(rows.map((row) => row.repository)) : rows.map((row) => row.repository));
      kept.push(...rows.filter((row) => names.has(row.repository)));
      if (kept.length > limit || rows.length <= limit) return paged(kept, limit);
      after = rows[rows.length - 1]!.repository;
    }
  }

  /** A page of the repository's tags with their manifests' summaries; NAME_UNKNOWN when it does not exist. */
  async tags(repository: string, request: TagBrowseRequest): Promise<BrowsePage<TagSummary>> {
    assertRepositoryName(repository);
    if (!(await this.options.metadata.repositoryExists(repository))) {
      throw new RegistryError('NAME_UNKNOWN', undefined, { detail: { name: repository } });
    }
    const limit = this.pageSize(request.n);
    const rows = await this.options.metadata.listTagSummaries(repository, {
      limit: limit + 1,
      ...(request.order && { order: request.order }),
      ...(request.after && { after: request.after }),
      ...(request.contains && { contains: request.contains }),
    });
    return paged(rows, limit);
  }

  /** The manifest a tag or digest names, with its config summary, children, layers and referrers. */
  async manifest(repository: string, reference: string): Promise<ManifestDetail> {
    assertRepositoryName(repository);
    const stored = await this.resolve(repository, reference);
    const parsed = parseManifest(stored.content, stored.mediaType);
    const { metadata } = this.options;
    const [tags, children, config, layers, referrers] = await Promise.all([
      metadata.listTagSummaries(repository, { digest: stored.digest, limit: MAX_TAGS_OF_MANIFEST }),
      this.children(repository, parsed),
      this.config(repository, parsed),
      this.layers(repository, parsed),
      this.referrers(repository, stored.digest),
    ]);
    const kind = kindOfContentType(stored.mediaType);
    return {
      repository,
      digest: stored.digest,
      mediaType: stored.mediaType,
      size: stored.summary?.totalSize ?? stored.size,
      content: stored.content,
      tags: tags.map((tag) => tag.name),
      children,
      ...(config && { config }),
      layers,
      annotations: stored.annotations ?? {},
      ...(stored.subject !== undefined && { subject: stored.subject }),
      ...(parsed.artifactType !== undefined && { artifactType: parsed.artifactType }),
      referrers,
      schema1: kind
        ? schema1Outcome(kind, () => parsed, this.options.platforms)
        : { servedAs: 'none', note: `${stored.mediaType} is not a manifest format berth converts` },
    };
  }

  private async resolve(repository: string, reference: string): Promise<StoredManifest> {
    const target = parseManifestLookup(reference);
    const digest = target.kind === 'digest' ? target.digest : await this.options.metadata.resolveTag(repository, target.tag);
    const stored = digest === undefined ? undefined : await this.options.metadata.getManifest(repository, digest);
    if (!stored) {
      throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: target.kind === 'tag' ? { tag: target.tag } : { digest: target.digest } });
    }
    return stored;
  }

  private async children(repository: string, parsed: ParsedManifest): Promise<BrowsedChild[]> {
    return Promise.all(
      parsed.manifests.map(async (child) => {
        const stored = await this.options.metadata.getManifest(repository, child.digest);
        return {
          digest: child.digest,
          mediaType: child.mediaType,
          size: stored?.summary?.totalSize ?? child.size,
          ...(child.platform && { platform: child.platform }),
        };
      }),
    );
  }

  private async config(repository: string, parsed: ParsedManifest): Promise<ManifestDetail['config']> {
    const config = parsed.config;
    if (!config || (config.mediaType !== MediaType.OciImageConfig && config.mediaType !== MediaType.DockerImageConfig)) return undefined;
    const bytes = await readConfigForSummary(this.options, repository, config.digest);
    const summary = bytes && parseImageConfigSummary(bytes);
    return summary ? { digest: config.digest, summary } : undefined;
  }

  /** Schema1 layers declare no size: the repository's link has it. */
  private async layers(repository: string, parsed: ParsedManifest): Promise<Descriptor[]> {
    return Promise.all(
      parsed.layers.map(async (layer) =>
        layer.size >= 0 ? layer : { ...layer, size: (await this.options.metadata.blobLink(repository, layer.digest))?.size ?? 0 },
      ),
    );
  }

  private async referrers(repository: string, digest: string): Promise<BrowsedReferrer[]> {
    const { metadata } = this.options;
    const referrers: BrowsedReferrer[] = (await metadata.listReferrers(repository, digest)).map((referrer) => ({
      ...referrerOf(referrer),
      group: referrerGroup(referrer.artifactType),
    }));
    for (const { tag, group } of cosignTagsOf(digest)) {
      const tagged = await metadata.resolveTag(repository, tag);
      const stored = tagged === undefined ? undefined : await metadata.getManifest(repository, tagged);
      if (stored) referrers.push({ ...referrerOf(stored), group, tag });
    }
    return referrers;
  }

  private pageSize(n: number | undefined): number {
    return Math.max(0, Math.min(n ?? this.options.defaultPageSize, this.options.maxPageSize));
  }
}

function referrerOf(manifest: StoredManifest): Omit<BrowsedReferrer, 'group'> {
  return {
    ...(manifest.artifactType !== undefined && { artifactType: manifest.artifactType }),
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    size: manifest.size,
    annotations: manifest.annotations ?? {},
  };
}

function paged<T>(rows: T[], limit: number): BrowsePage<T> {
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  return { items, next: items[limit - 1]! };
}
