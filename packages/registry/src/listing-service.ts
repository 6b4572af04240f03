import { RegistryError, parseDigest, type Descriptor } from '@berth/core';
import { MediaType, assertRepositoryName } from '@berth/core/internal';
import type { ResolvedOptions } from './options.js';

/** Which page of a listing to read. */
export interface PageRequest {
  /** The client's `n`; undefined when it gave none. */
  n?: number;
  /** List only items that sort after this one (the client's `last`). */
  last?: string;
}

/** One page of a listing and where the next one starts. */
export interface Page<T> {
  /** The items of this page, in lexical order. */
  items: T[];
  /** Set when more items follow: the `last` to ask for the next page with, and the page size used. */
  next?: { last: string; n: number };
}

/** The referrers of a manifest, as an OCI image index. */
export interface ReferrersIndex {
  /** The OCI image index of the referrers' descriptors. */
  index: { schemaVersion: 2; mediaType: string; manifests: Descriptor[] };
  /** Filters the registry applied (answered as `OCI-Filters-Applied`). */
  filtersApplied: string[];
}

/** Tags, catalog and referrers: read-only listings, paged by key. */
export class ListingService {
  constructor(private readonly options: ResolvedOptions) {}

  /** A page of the repository's tags; NAME_UNKNOWN when the repository does not exist. */
  async tags(repository: string, request: PageRequest): Promise<Page<string>> {
    assertRepositoryName(repository);
    const { metadata } = this.options;
    const page = await this.page(request, (range) => metadata.listTags(repository, range));
    // Tags live only in a repository that exists, so a page with tags is one range scan; only an empty page asks.
    if (page.items.length === 0 && !(await metadata.repositoryExists(repository))) {
      throw new RegistryError('NAME_UNKNOWN', undefined, { detail: { name: repository } });
    }
    return page;
  }

  /**
   * The catalog. With `visible`, only the names it keeps are listed (the repositories the caller may
   * pull), still in pages of `n`: more names are read until the page is full or the list ends.
   */
  async repositories(request: PageRequest, visible?: (names: string[]) => Promise<string[]>): Promise<Page<string>> {
    if (!visible) return this.page(request, (page) => this.options.metadata.listRepositories(page));
    return this.page(request, async ({ last, limit }) => {
      const kept: string[] = [];
      let after = last;
      for (;;) {
        const names = await this.options.metadata.listRepositories({ ...(after !== undefined && { last: after }), limit });
        kept.push(...(await visible(names)));
        if (kept.length >= limit || names.length < limit) return kept.slice(0, limit);
        after = names[names.length - 1];
      }
    });
  }

  /** Manifests of the repository whose subject is `subject`, optionally of one artifact type, as an image index. */
  async referrers(repository: string, subject: string, artifactType?: string): Promise<ReferrersIndex> {
    assertRepositoryName(repository);
    const { value } = parseDigest(subject);
    const referrers = await this.options.metadata.listReferrers(repository, value, artifactType || undefined);
    const manifests = referrers.map((referrer): Descriptor => ({
      mediaType: referrer.mediaType,
      digest: referrer.digest,
      size: referrer.size,
      ...(referrer.artifactType !== undefined && { artifactType: referrer.artifactType }),
      ...(referrer.annotations && { annotations: referrer.annotations }),
    }));
    return {
      index: { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests },
      filtersApplied: artifactType ? ['artifactType'] : [],
    };
  }

  /** Fetches one item more than asked, to know whether a next page exists without a second query. */
  private async page(
    request: PageRequest,
    fetch: (page: { last?: string; limit: number }) => Promise<string[]>,
  ): Promise<Page<string>> {
    const n = Math.min(request.n ?? this.options.defaultPageSize, this.options.maxPageSize);
    if (n <= 0) return { items: [] };
    const rows = await fetch({ ...(request.last !== undefined && { last: request.last }), limit: n + 1 });
    if (rows.length <= n) return { items: rows };
    const items = rows.slice(0, n);
    return { items, next: { last: items[n - 1]!, n } };
  }
}
