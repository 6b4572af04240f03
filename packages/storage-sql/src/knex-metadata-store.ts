import {
  RegistryError,
  type CollectedBlob,
  type CollectedManifest,
  type LinkOptions,
  type ListedBlob,
  type RepositoryUsage,
  type UsageTotals,
  type BlobLinkSweepOptions,
  type SweepOptions,
  type ManifestSweepOptions,
  type TagExpectation,
  type TagRecord,
  type ConversionLookup,
  type ConvertedManifest,
  type EventOutbox,
  type MirrorCacheStore,
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
import type { Knex } from 'knex';
import type { Dialect, PreparedQuery } from './dialect.js';
import { KnexEventOutbox, insertOutboxEntries } from './knex-event-outbox.js';
import { KnexMirrorCache } from './knex-mirror-cache.js';
import { migrateMetadataSchema } from './migrations.js';
import {
  convertedManifestFromRow,
  manifestFromRow,
  manifestToRow,
  taggedManifestFromRow,
  toBuffer,
  uploadSessionFromRow,
  type ConvertedManifestRow,
  type ManifestRow,
  type TaggedManifestRow,
  type UploadSessionRow,
} from './rows.js';
import { QUERIES } from './request-path-queries.js';
import { TABLES } from './tables.js';
import { listRepositorySummaries, listTagSummaries } from './browse-queries.js';
import { applyUsageChange, listRepositoryUsage, readRegistryUsage, readRepositoryUsage } from './usage-counters.js';

/** Options of a {@link KnexMetadataStore}. */
export interface KnexMetadataStoreOptions {
  /** What differs between the databases (SQLite, PostgreSQL): key column type, error recognition, locking. */
  dialect: Dialect;
  /** Destroy the knex instance (its connection pool) on close(). Defaults to true: the store owns it. */
  destroyOnClose?: boolean;
}

/** What a client is told when the database has no room left for a write (507 Insufficient Storage). */
export const STORAGE_FULL_MESSAGE = "the registry's storage is full";

// Rows per INSERT of manifest references: below SQLite's 500 compound-select terms (knex writes a
// multi-row insert as a UNION ALL there) and far below PostgreSQL's parameter limit.
const REFERENCE_BATCH = 200;

interface ReferenceRow {
  repository: string;
  manifest_digest: string;
  referenced_digest: string;
  kind: 'blob' | 'manifest';
}

const COLLECTOR_LEASE = 'collector';

/**
 * Touches a row, or inserts it when there is none; true when it inserted (the usage counters then move).
 * The update goes first so that, on PostgreSQL, it waits for a collector deleting the row and then finds
 * it gone; an insert that lost a race to another one touches the row that won.
 */
async function touchOrInsert(trx: Knex.Transaction, table: string, key: Record<string, string>, row: Record<string, unknown>, touchedAt: number): Promise<boolean> {
  for (let attempt = 0; attempt < 10; attempt++) {
    if ((await trx(table).where(key).update({ touched_at: touchedAt })) > 0) return false;
    const inserted: unknown[] = await trx(table).insert(row).onConflict(Object.keys(key)).ignore().returning(Object.keys(key));
    if (inserted.length > 0) return true;
  }
  throw new Error(`a row of ${table} kept appearing and disappearing`);
}

/** Creates or touches a blob's row (waiting, on PostgreSQL, for a collector holding it); true when it created it. */
async function touchBlobRow(trx: Knex.Transaction, digest: string, size: number, touchedAt: number): Promise<boolean> {
  return touchOrInsert(trx, TABLES.blobs, { digest }, { digest, size, touched_at: touchedAt }, touchedAt);
}

/**
 * Touches the links of the blobs and the child manifests a manifest names, in its transaction (locking
 * them against a collector). With `required`, fails when one is gone.
 */
async function touchReferences(
  trx: Knex.Transaction,
  repository: string,
  referenceRows: readonly ReferenceRow[],
  touchedAt: number,
  required: boolean,
): Promise<void> {
  const missing: string[] = [];
  for (const [kind, table] of [
    ['blob', TABLES.blobLinks],
    ['manifest', TABLES.manifests],
  ] as const) {
    const digests = referenceRows.filter((row) => row.kind === kind).map((row) => row.referenced_digest);
    for (let start = 0; start < digests.length; start += REFERENCE_BATCH) {
      const batch = digests.slice(start, start + REFERENCE_BATCH);
      const touched: Array<{ digest: string }> = await trx(table)
        .where({ repository })
        .whereIn('digest', batch)
        .update({ touched_at: touchedAt }, ['digest']);
      if (required && touched.length < batch.length) {
        const found = new Set(touched.map((row) => row.digest));
        missing.push(...batch.filter((digest) => !found.has(digest)));
      }
    }
  }
  if (missing.length > 0) {
    throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references unknown content: ${missing.join(', ')}`, {
      detail: { digests: missing },
    });
  }
}

/**
 * Runs the query as a delete and returns the deleted rows' `columns`. Written out because knex leaves
 * RETURNING off a delete on SQLite, which has it since 3.35.
 */
async function deleteReturning<Row>(trx: Knex.Transaction, query: Knex.QueryBuilder, columns: readonly string[]): Promise<Row[]> {
  const { sql, bindings } = query.del().toSQL();
  const result = (await trx.raw(`${sql} returning ${columns.join(', ')}`, bindings)) as Row[] | { rows: Row[] };
  return Array.isArray(result) ? result : result.rows;
}

/** Runs the query as a delete of at most one row and returns the deleted row's `size` (undefined when none matched). */
async function deleteReturningSize(trx: Knex.Transaction, query: Knex.QueryBuilder): Promise<number | undefined> {
  const [row] = await deleteReturning<{ size: number | string }>(trx, query, ['size']);
  return row === undefined ? undefined : Number(row.size);
}

/** Deletes the link the query selects (at most one) and takes its bytes off the repository's usage. */
async function removeBlobLink(trx: Knex.Transaction, query: Knex.QueryBuilder, repository: string): Promise<boolean> {
  const size = await deleteReturningSize(trx, query);
  if (size === undefined) return false;
  await applyUsageChange(trx, repository, { repository: { blobBytes: -size, blobCount: -1 } });
  return true;
}

/** Deletes the manifest the query selects (at most one; what points at it cascades) and takes its bytes off the usage. */
async function removeManifestRow(trx: Knex.Transaction, query: Knex.QueryBuilder, repository: string): Promise<boolean> {
  const size = await deleteReturningSize(trx, query);
  if (size === undefined) return false;
  const change = { manifestBytes: -size, manifestCount: -1 };
  await applyUsageChange(trx, repository, { repository: change, registry: change });
  return true;
}

/** MetadataStore over any knex instance whose database the Dialect describes (SQLite, PostgreSQL). */
export class KnexMetadataStore implements MetadataStore {
  /** The knex instance the store queries; destroyed on close() unless `destroyOnClose` is false. */
  readonly knex: Knex;
  readonly #dialect: Dialect;
  readonly #destroyOnClose: boolean;
  /** The durable webhook outbox, kept in the same database so events commit with their change. */
  readonly outbox: EventOutbox;
  /** The pull-through cache's records, in the same database. */
  readonly mirrorCache: MirrorCacheStore;

  /** Expects a migrated schema; use openKnexMetadataStore() unless the migrations ran elsewhere. */
  constructor(knex: Knex, options: KnexMetadataStoreOptions) {
    this.knex = knex;
    this.#dialect = options.dialect;
    this.#destroyOnClose = options.destroyOnClose ?? true;
    this.outbox = new KnexEventOutbox(knex, options.dialect, (operation) => this.#guard(operation));
    this.mirrorCache = new KnexMirrorCache(knex, (operation) => this.#guard(operation));
  }

  /** Repository names in lexical order, a page at a time. */
  async listRepositories({ last, limit }: PageOptions): Promise<string[]> {
    return this.#guard(async () => {
      if (limit <= 0) return [];
      // Repositories are not a table of their own: they are the names that have a manifest or a blob
      // link (tags cannot outlive their manifest). Each side yields at most `limit` distinct names
      // after `last` straight off its primary key, so a page never reads more than 2 * limit names.
      const namesAfter = (table: string, alias: string) => {
        const names = this.knex(table).distinct('repository').orderBy('repository').limit(limit);
        if (last !== undefined) names.where('repository', '>', last);
        return this.knex.select('repository').from(names.as(alias));
      };
      const rows: Array<{ repository: string }> = await this.knex
        .select('repository')
        .from(namesAfter(TABLES.manifests, 'm').union(namesAfter(TABLES.blobLinks, 'b')).as('r'))
        .orderBy('repository')
        .limit(limit);
      return rows.map((row) => row.repository);
    });
  }

  /** True while the repository has a manifest, tag or blob link. */
  async repositoryExists(repository: string): Promise<boolean> {
    return this.#guard(async () => {
      if ((await this.#select(QUERIES.anyManifest, [repository])).length > 0) return true;
      return (await this.#select(QUERIES.anyBlobLink, [repository])).length > 0;
    });
  }

  /**
   * Links a blob into the repository (idempotent) and writes `events` to the outbox, in one transaction; refuses a
   * new link past `options.quota`.
   */
  async linkBlob(
    repository: string,
    digest: string,
    size: number,
    events: readonly OutboxEntry[] = [],
    { quota }: LinkOptions = {},
  ): Promise<void> {
    return this.#guard(async () => {
      const touchedAt = Date.now();
      await this.#transaction(async (trx) => {
        const newBlob = await touchBlobRow(trx, digest, size, touchedAt);
        const newLink = await touchOrInsert(
          trx,
          TABLES.blobLinks,
          { repository, digest },
          { repository, digest, size, touched_at: touchedAt },
          touchedAt,
        );
        await insertOutboxEntries(trx, events);
        await applyUsageChange(
          trx,
          repository,
          {
            ...(newLink && { repository: { blobBytes: size, blobCount: 1 } }),
            ...(newBlob && { registry: { blobBytes: size, blobCount: 1 } }),
          },
          quota,
        );
      });
    });
  }

  /** The blob's digest and size when the repository links it, else undefined. */
  async blobLink(repository: string, digest: string): Promise<{ digest: string; size: number } | undefined> {
    return this.#guard(async () => {
      const [row] = await this.#select<{ digest: string; size: number | string }>(QUERIES.blobLink, [repository, digest]);
      return row === undefined ? undefined : { digest: row.digest, size: Number(row.size) };
    });
  }

  /**
   * Removes the repository's link to the blob; false when there was none. `events` are written only when a link was
   * removed.
   */
  async unlinkBlob(repository: string, digest: string, events: readonly OutboxEntry[] = []): Promise<boolean> {
    return this.#guard(() =>
      this.#transaction(async (trx) => {
        const removed = await removeBlobLink(trx, trx(TABLES.blobLinks).where({ repository, digest }), repository);
        if (removed) await insertOutboxEntries(trx, events);
        return removed;
      }),
    );
  }

  /** Repositories that link the blob, in lexical order, a page at a time. */
  async repositoriesLinkingBlob(digest: string, { last, limit }: PageOptions): Promise<string[]> {
    return this.#guard(async () => {
      if (limit <= 0) return [];
      const query = this.knex(TABLES.blobLinks).select('repository').where({ digest }).orderBy('repository').limit(limit);
      if (last !== undefined) query.where('repository', '>', last);
      const rows: Array<{ repository: string }> = await query;
      return rows.map((row) => row.repository);
    });
  }

  /** True when any repository links the blob. */
  async isBlobLinkedAnywhere(digest: string): Promise<boolean> {
    return this.#guard(async () => (await this.knex(TABLES.blobLinks).first('digest').where({ digest })) !== undefined);
  }

  /**
   * Stores the manifest, its references, its tag and its events in one transaction (idempotent for the same digest).
   */
  async putManifest({
    manifest,
    blobReferences,
    manifestReferences,
    tag,
    events = [],
    requireReferences = false,
    quota,
  }: ManifestWrite): Promise<void> {
    return this.#guard(async () => {
      const { repository, digest } = manifest;
      const references = new Map<string, 'blob' | 'manifest'>();
      for (const referenced of blobReferences) references.set(referenced, 'blob');
      for (const referenced of manifestReferences) references.set(referenced, 'manifest');
      const referenceRows: ReferenceRow[] = [...references].map(([referenced, kind]) => ({
        repository,
        manifest_digest: digest,
        referenced_digest: referenced,
        kind,
      }));

      try {
        await this.#writeManifest(manifest, referenceRows, tag, events, requireReferences, quota);
      } catch (error) {
        // The manifest existed when the insert skipped it, then a concurrent deleteManifest removed it
        // before the references or the tag could point at it (nothing of this attempt was committed).
        // Writing again, this time locking the row, re-creates it as if this push had come after the
        // delete, and no delete can come between the row and what points at it.
        if (!this.#dialect.isForeignKeyViolation(error)) throw error;
        await this.#writeManifest(manifest, referenceRows, tag, events, requireReferences, quota);
      }
    });
  }

  /** The manifest stored under `digest` in the repository, or undefined. */
  async getManifest(repository: string, digest: string): Promise<StoredManifest | undefined> {
    return this.#guard(async () => {
      const [row] = await this.#select<ManifestRow>(QUERIES.manifest, [repository, digest]);
      return row === undefined ? undefined : manifestFromRow(row);
    });
  }

  /** The manifest the tag points at and the matching remembered conversion, in one statement. */
  async getTaggedManifest(repository: string, tag: string, conversion?: ConversionLookup): Promise<TaggedManifest | undefined> {
    return this.#guard(async () => {
      const [row] =
        conversion === undefined
          ? await this.#select<TaggedManifestRow>(QUERIES.taggedManifest, [repository, tag])
          : await this.#select<TaggedManifestRow>(
              conversion.perTag ? QUERIES.taggedManifestWithTagConversion : QUERIES.taggedManifestWithConversion,
              [conversion.mediaType, repository, tag],
            );
      return row === undefined ? undefined : taggedManifestFromRow(row);
    });
  }

  /**
   * Removes the manifest with its tags and conversions; false when unknown. `events` are written only when it was
   * removed.
   */
  async deleteManifest(repository: string, digest: string, events: readonly OutboxEntry[] = []): Promise<boolean> {
    // Tags, references and conversions go with it through ON DELETE CASCADE.
    return this.#guard(() =>
      this.#transaction(async (trx) => {
        const removed = await removeManifestRow(trx, trx(TABLES.manifests).where({ repository, digest }), repository);
        if (removed) await insertOutboxEntries(trx, events);
        return removed;
      }),
    );
  }

  /** Digest of the manifest the tag points at, or undefined. */
  async resolveTag(repository: string, tag: string): Promise<string | undefined> {
    return this.#guard(async () => {
      const [row] = await this.#select<{ digest: string }>(QUERIES.tagDigest, [repository, tag]);
      return row?.digest;
    });
  }

  /** Removes the tag (only if it still matches `expected`, when given); false when nothing was removed. */
  async deleteTag(repository: string, tag: string, events: readonly OutboxEntry[] = [], expected?: TagExpectation): Promise<boolean> {
    return this.#guard(() =>
      this.#deleteWithEvents((db) => {
        const query = db(TABLES.tags).where({ repository, name: tag });
        // In the delete's own statement: a push that moved the tag meanwhile keeps it.
        if (expected !== undefined) query.where({ digest: expected.digest }).where('pushed_at', '<', expected.pushedBefore.getTime());
        return query.del();
      }, events),
    );
  }

  /** Tags with their digest and push time, in lexical order, a page at a time. */
  async listTagRecords(repository: string, { last, limit }: PageOptions): Promise<TagRecord[]> {
    return this.#guard(async () => {
      if (limit <= 0) return [];
      const query = this.knex(TABLES.tags).select('name', 'digest', 'pushed_at').where({ repository }).orderBy('name').limit(limit);
      if (last !== undefined) query.where('name', '>', last);
      const rows: Array<{ name: string; digest: string; pushed_at: number | string }> = await query;
      return rows.map((row) => ({ name: row.name, digest: row.digest, pushedAt: new Date(Number(row.pushed_at)) }));
    });
  }

  /** Tag names in lexical order, a page at a time. */
  async listTags(repository: string, { last, limit }: PageOptions): Promise<string[]> {
    return this.#guard(async () => {
      if (limit <= 0) return [];
      return last === undefined
        ? this.#select<string>(QUERIES.firstTags, [repository, limit])
        : this.#select<string>(QUERIES.tagsAfter, [repository, last, limit]);
    });
  }

  /** Repositories with their tag count, size and last push, a page at a time (see browse-queries.ts). */
  async listRepositorySummaries(query: RepositorySummaryQuery): Promise<RepositorySummary[]> {
    return this.#guard(() => listRepositorySummaries(this.knex, query));
  }

  /** Tags with their manifest's summary, a page at a time (see browse-queries.ts). */
  async listTagSummaries(repository: string, query: TagSummaryQuery): Promise<TagSummary[]> {
    return this.#guard(() => listTagSummaries(this.knex, repository, query));
  }

  /** Manifests of the repository whose subject is `subjectDigest`, optionally of one artifact type. */
  async listReferrers(repository: string, subjectDigest: string, artifactType?: string): Promise<StoredManifest[]> {
    return this.#guard(async () => {
      const query = this.knex(TABLES.manifests).select('*').where({ repository, subject: subjectDigest }).orderBy('digest');
      if (artifactType !== undefined) query.where({ artifact_type: artifactType });
      const rows: ManifestRow[] = await query;
      return rows.map(manifestFromRow);
    });
  }

  /** Records a new upload session. */
  async createUploadSession(session: UploadSession): Promise<void> {
    return this.#guard(async () => {
      await this.knex(TABLES.uploadSessions).insert({
        id: session.id,
        repository: session.repository,
        started_at: session.startedAt.getTime(),
      });
    });
  }

  /** The upload session with this id, or undefined. */
  async getUploadSession(id: string): Promise<UploadSession | undefined> {
    return this.#guard(async () => {
      const [row] = await this.#select<UploadSessionRow>(QUERIES.uploadSession, [id]);
      return row === undefined ? undefined : uploadSessionFromRow(row);
    });
  }

  /** Removes an upload session; false when it was unknown. */
  async deleteUploadSession(id: string): Promise<boolean> {
    return this.#guard(async () => (await this.knex(TABLES.uploadSessions).where({ id }).del()) > 0);
  }

  /** Removes at most `limit` sessions begun before `date`, oldest first, and returns their ids. */
  async deleteUploadSessionsStartedBefore(date: Date, limit: number): Promise<string[]> {
    return this.#guard(async () => {
      if (limit <= 0) return [];
      return this.#transaction(async (trx) => {
        const rows: Array<{ id: string }> = await trx(TABLES.uploadSessions)
          .select('id')
          .where('started_at', '<', date.getTime())
          .orderBy('started_at')
          .limit(limit);
        const ids = rows.map((row) => row.id);
        if (ids.length > 0) await trx(TABLES.uploadSessions).whereIn('id', ids).del();
        return ids;
      });
    });
  }

  /** Remembers a converted manifest (idempotent). */
  async putConvertedManifest(converted: ConvertedManifest): Promise<void> {
    return this.#guard(async () => {
      try {
        const insert = this.knex(TABLES.convertedManifests)
          .insert({
            repository: converted.repository,
            digest: converted.digest,
            source_digest: converted.sourceDigest,
            media_type: converted.mediaType,
            content: toBuffer(converted.content),
            tag: converted.tag ?? null,
          })
          .onConflict(['repository', 'digest']);
        // The first body stays; a tag is recorded on a row remembered before conversions recorded one.
        await (converted.tag === undefined ? insert.ignore() : insert.merge(['tag']));
      } catch (error) {
        // The source manifest is gone (never stored, or deleted meanwhile): there is nothing to convert from.
        if (this.#dialect.isForeignKeyViolation(error)) {
          throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${converted.sourceDigest} is unknown`, { cause: error });
        }
        throw error;
      }
    });
  }

  /** The converted manifest stored under `digest`, or undefined. */
  async getConvertedManifest(repository: string, digest: string): Promise<ConvertedManifest | undefined> {
    return this.#guard(async () => {
      const [row] = await this.#select<ConvertedManifestRow>(QUERIES.convertedManifest, [repository, digest]);
      return row === undefined ? undefined : convertedManifestFromRow(row);
    });
  }

  /**
   * Creates or touches the blob's row and records the digest on the upload session, so a collector leaves the blob
   * alone.
   */
  async touchBlob(digest: string, size: number, uploadId?: string): Promise<void> {
    return this.#guard(() =>
      this.#transaction(async (trx) => {
        // Waits for a collector deleting this blob's row (and bytes) right now, then re-creates the row.
        const created = await touchBlobRow(trx, digest, size, Date.now());
        if (uploadId !== undefined) await trx(TABLES.uploadSessions).where({ id: uploadId }).update({ digest });
        if (created) await applyUsageChange(trx, undefined, { registry: { blobBytes: size, blobCount: 1 } });
      }),
    );
  }

  /** Takes or extends the collector lease until `until`; true when `owner` holds it now. */
  async claimCollectorLease(owner: string, until: Date): Promise<boolean> {
    return this.#guard(() =>
      this.#transaction(async (trx) => {
        const now = Date.now();
        await trx(TABLES.collectorLease).insert({ name: COLLECTOR_LEASE, owner, expires_at: until.getTime() }).onConflict('name').ignore();
        const taken = await trx(TABLES.collectorLease)
          .where({ name: COLLECTOR_LEASE })
          .andWhere((free) => free.where({ owner }).orWhere('expires_at', '<', now))
          .update({ owner, expires_at: until.getTime() });
        return taken > 0;
      }),
    );
  }

  /** Gives the collector lease up if `owner` holds it. */
  async releaseCollectorLease(owner: string): Promise<void> {
    return this.#guard(async () => {
      await this.knex(TABLES.collectorLease).where({ name: COLLECTOR_LEASE, owner }).del();
    });
  }

  /** Replaces the collector's marks with every reachable manifest and returns how many. */
  async markReachableManifests(): Promise<number> {
    return this.#guard(() =>
      this.#transaction(async (trx) => {
        await trx(TABLES.collectorMarks).del();
        // Edges within a repository: list -> child, subject -> referrer. One recursive term (PostgreSQL
        // allows no more), UNION so a cycle or a shared child is walked once.
        await trx.raw(
          `with recursive edges(repository, source, target) as (
             select repository, manifest_digest, referenced_digest from ${TABLES.manifestReferences} where kind = 'manifest'
             union all
             select repository, subject, digest from ${TABLES.manifests} where subject is not null
           ),
           reachable(repository, digest) as (
             select repository, digest from ${TABLES.tags}
             union
             select e.repository, e.target from edges e join reachable r on e.repository = r.repository and e.source = r.digest
           )
           insert into ${TABLES.collectorMarks} (repository, digest) select repository, digest from reachable`,
        );
        const [row] = (await trx(TABLES.collectorMarks).count({ count: '*' })) as Array<{ count: number | string }>;
        return Number(row?.count ?? 0);
      }),
    );
  }

  /** Removes (or, on a dry run, lists) up to `limit` unreachable manifests touched before `touchedBefore`. */
  async sweepManifests({
    touchedBefore,
    limit,
    dryRun = false,
    after,
    only,
  }: ManifestSweepOptions): Promise<CollectedManifest[]> {
    return this.#guard(async () => {
      if (limit <= 0 || only?.length === 0) return [];
      const cutoff = touchedBefore.getTime();
      // Written for the rows' name: `m` in the listing, the table's own name in the delete, where the guard
      // is on the row itself so that PostgreSQL re-checks it on a row it waited for (a push touched it).
      const unreachable = (query: Knex.QueryBuilder, m: string) =>
        query
          .where(`${m}.touched_at`, '<', cutoff)
          .whereNotExists((marked) =>
            marked
              .select(this.knex.raw('1'))
              .from(`${TABLES.collectorMarks} as k`)
              .whereRaw(`k.repository = ${m}.repository and k.digest = ${m}.digest`),
          )
          .whereNotExists((tagged) =>
            tagged.select(this.knex.raw('1')).from(`${TABLES.tags} as t`).whereRaw(`t.repository = ${m}.repository and t.digest = ${m}.digest`),
          );
      const query = unreachable(this.knex(`${TABLES.manifests} as m`).select('m.repository', 'm.digest', 'm.size'), 'm')
        .orderBy(['m.repository', 'm.digest'])
        .limit(limit);
      if (only !== undefined) {
        const pairs = only.slice(0, limit);
        query.where((listed) => {
          for (const { repository, digest } of pairs) listed.orWhere((one) => one.where('m.repository', repository).where('m.digest', digest));
        });
      } else if (after !== undefined) {
        query.where((later) =>
          later.where('m.repository', '>', after.repository).orWhere((same) => same.where('m.repository', after.repository).where('m.digest', '>', after.digest)),
        );
      }
      const candidates: Array<{ repository: string; digest: string; size: number | string }> = await query;
      if (dryRun || candidates.length === 0) return candidates.map((row) => ({ ...row, size: Number(row.size) }));
      // The guard again, in each delete's own statement: a push that touched one since keeps it.
      return this.#sweepRows(candidates, async (trx, { repository, digest, size }) => {
        const removed = await removeManifestRow(
          trx,
          unreachable(trx(TABLES.manifests).where({ [`${TABLES.manifests}.repository`]: repository, [`${TABLES.manifests}.digest`]: digest }), TABLES.manifests),
          repository,
        );
        return removed ? { repository, digest, size: Number(size) } : undefined;
      });
    });
  }

  /** Removes (or, on a dry run, lists) up to `limit` blob links no manifest of their repository names. */
  async sweepBlobLinks({
    touchedBefore,
    limit,
    dryRun = false,
    keepWithConversions,
    after,
  }: BlobLinkSweepOptions): Promise<
    Array<{ repository: string; digest: string }>
  > {
    return this.#guard(async () => {
      if (limit <= 0) return [];
      const cutoff = touchedBefore.getTime();
      // Unused: touched before the cutoff, named by no manifest of its repository, in a repository with no
      // upload open and (for the conversions' blobs) no conversion. Written for the alias `l`.
      // The rows are named `l` (`link`), or by the table's own name in the delete, so that PostgreSQL
      // re-checks `touched_at` on the row it waited for, not on a copy read before.
      const unused = (query: Knex.QueryBuilder, l: string) =>
        query
          .where(`${l}.touched_at`, '<', cutoff)
          .whereNotExists((named) =>
            named
              .select(this.knex.raw('1'))
              .from(`${TABLES.manifestReferences} as r`)
              .whereRaw(`r.repository = ${l}.repository and r.referenced_digest = ${l}.digest`),
          )
          .whereNotExists((uploading) =>
            uploading.select(this.knex.raw('1')).from(`${TABLES.uploadSessions} as u`).whereRaw(`u.repository = ${l}.repository`),
          )
          .whereNotExists((newer) =>
            newer
              .select(this.knex.raw('1'))
              .from(`${TABLES.blobLinks} as n`)
              .whereRaw(`n.repository = ${l}.repository`)
              .where('n.touched_at', '>=', cutoff),
          )
          .where((kept) => {
            kept.whereNotIn(`${l}.digest`, [...keepWithConversions]);
            kept.orWhereNotExists((converted) =>
              converted.select(this.knex.raw('1')).from(`${TABLES.convertedManifests} as c`).whereRaw(`c.repository = ${l}.repository`),
            );
          });
      const query = unused(this.knex(`${TABLES.blobLinks} as l`).select('l.repository', 'l.digest'), 'l')
        .orderBy(['l.repository', 'l.digest'])
        .limit(limit);
      if (after !== undefined) {
        query.where((later) =>
          later.where('l.repository', '>', after.repository).orWhere((same) => same.where('l.repository', after.repository).where('l.digest', '>', after.digest)),
        );
      }
      const candidates: Array<{ repository: string; digest: string }> = await query;
      if (dryRun || candidates.length === 0) return candidates;
      const keyColumns = [`${TABLES.blobLinks}.repository`, `${TABLES.blobLinks}.digest`];
      return this.#sweepBatch(TABLES.blobLinks, ['repository', 'digest'], candidates, async (trx, keys) => {
        const removed = await deleteReturning<{ repository: string; digest: string; size: number | string }>(
          trx,
          unused(trx(TABLES.blobLinks).whereIn(keyColumns, keys), TABLES.blobLinks),
          ['repository', 'digest', 'size'],
        );
        // One usage change per repository, in name order.
        const freed = new Map<string, { blobBytes: number; blobCount: number }>();
        for (const { repository, size } of removed) {
          const change = freed.get(repository) ?? { blobBytes: 0, blobCount: 0 };
          change.blobBytes -= Number(size);
          change.blobCount -= 1;
          freed.set(repository, change);
        }
        for (const [repository, change] of [...freed].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
          await applyUsageChange(trx, repository, { repository: change });
        }
        return removed;
      });
    });
  }

  /** Gives blob-store blobs the metadata does not know a row, aged by their `modifiedAt`. */
  async adoptBlobs(blobs: readonly ListedBlob[]): Promise<void> {
    return this.#guard(async () => {
      for (let start = 0; start < blobs.length; start += REFERENCE_BATCH) {
        const rows = blobs
          .slice(start, start + REFERENCE_BATCH)
          .map((blob) => ({ digest: blob.digest, size: blob.size, touched_at: blob.modifiedAt.getTime() }));
        await this.#transaction(async (trx) => {
          const adopted: Array<{ size: number | string }> = await trx(TABLES.blobs).insert(rows).onConflict('digest').ignore().returning(['size']);
          const bytes = adopted.reduce((sum, row) => sum + Number(row.size), 0);
          await applyUsageChange(trx, undefined, { registry: { blobBytes: bytes, blobCount: adopted.length } });
        });
      }
    });
  }

  /**
   * Removes (or, on a dry run, lists) up to `limit` unreferenced blobs, calling `removeBytes` before the removal
   * commits.
   */
  async sweepBlobs(
    { touchedBefore, limit, dryRun = false, after }: SweepOptions & { after?: string },
    removeBytes: (blobs: readonly CollectedBlob[]) => Promise<void>,
  ): Promise<CollectedBlob[]> {
    return this.#guard(async () => {
      if (limit <= 0) return [];
      const cutoff = touchedBefore.getTime();
      const unused = (query: Knex.QueryBuilder, b: string) =>
        query
          .where(`${b}.touched_at`, '<', cutoff)
          .whereNotExists((linked) => linked.select(this.knex.raw('1')).from(`${TABLES.blobLinks} as l`).whereRaw(`l.digest = ${b}.digest`))
          .whereNotExists((named) =>
            named.select(this.knex.raw('1')).from(`${TABLES.manifestReferences} as r`).whereRaw(`r.referenced_digest = ${b}.digest`),
          )
          .whereNotExists((uploading) =>
            uploading.select(this.knex.raw('1')).from(`${TABLES.uploadSessions} as u`).whereRaw(`u.digest = ${b}.digest`),
          );
      const query = unused(this.knex(`${TABLES.blobs} as b`).select('b.digest', 'b.size'), 'b').orderBy('b.digest').limit(limit);
      if (after !== undefined) query.where('b.digest', '>', after);
      const candidates: Array<{ digest: string; size: number | string }> = await query;
      if (dryRun || candidates.length === 0) return candidates.map(({ digest, size }) => ({ digest, size: Number(size) }));
      // The rows go in a transaction that removes their bytes before it commits, so a touch waiting on a
      // row finds both gone.
      const rows = candidates.map(({ digest, size }) => ({ digest, size: Number(size) }));
      return this.#sweepBatch(TABLES.blobs, ['digest'], rows, async (trx, keys) => {
        const removed = (
          await deleteReturning<{ digest: string; size: number | string }>(
            trx,
            unused(trx(TABLES.blobs).whereIn(`${TABLES.blobs}.digest`, keys.map(([digest]) => digest!)), TABLES.blobs),
            ['digest', 'size'],
          )
        ).map(({ digest, size }) => ({ digest, size: Number(size) }));
        if (removed.length === 0) return [];
        const blobBytes = removed.reduce((sum, blob) => sum + blob.size, 0);
        await applyUsageChange(trx, undefined, { registry: { blobBytes: -blobBytes, blobCount: -removed.length } });
        await removeBytes(removed);
        return removed;
      });
    });
  }

  /** What the repository holds, read from the usage counters. */
  async repositoryUsage(repository: string): Promise<RepositoryUsage> {
    return this.#guard(() => readRepositoryUsage(this.knex, repository));
  }

  /** What the registry holds, read from the usage counters. */
  async registryUsage(): Promise<UsageTotals> {
    return this.#guard(() => readRegistryUsage(this.knex));
  }

  /** The usage of every repository that holds something, in lexical order, a page at a time. */
  async listRepositoryUsage({ last, limit }: PageOptions): Promise<RepositoryUsage[]> {
    return this.#guard(() => listRepositoryUsage(this.knex, last, limit));
  }

  /** Stores `value` under `key` unless the key is set, and returns the stored value. */
  async getOrSetSetting(key: string, value: string): Promise<string> {
    return this.#guard(async () => {
      return this.#transaction(async (trx) => {
        // Insert-if-absent first, so concurrent callers all read back the one value that won.
        await trx(TABLES.settings).insert({ name: key, value }).onConflict('name').ignore();
        const row: { value: string } | undefined = await trx(TABLES.settings).first('value').where({ name: key });
        if (row === undefined) throw new Error(`setting "${key}" vanished while being set`);
        return row.value;
      });
    });
  }

  /**
   * Manifest, references and tag in one transaction: all of them are written, or none. An existing
   * manifest row is touched (which locks it), so a concurrent delete or collector waits for this
   * transaction instead of pulling the row out from under it, and sees it touched.
   */
  async #writeManifest(
    manifest: ManifestWrite['manifest'],
    referenceRows: ReferenceRow[],
    tag: string | undefined,
    events: readonly OutboxEntry[],
    requireReferences: boolean,
    quota: ManifestWrite['quota'],
  ): Promise<void> {
    const { repository, digest } = manifest;
    const touchedAt = Date.now();
    await this.#transaction(async (trx) => {
      // The same digest means the same bytes: a second push keeps the first row (and its createdAt).
      const created = await touchOrInsert(
        trx,
        TABLES.manifests,
        { repository, digest },
        { ...manifestToRow(manifest, new Date(touchedAt)), touched_at: touchedAt },
        touchedAt,
      );
      // A row stored before summaries were recorded (migration 0010) gets one from this push of the same bytes.
      if (!created && manifest.summary !== undefined) {
        await trx(TABLES.manifests)
          .where({ repository, digest })
          .whereNull('total_size')
          .update({ total_size: manifest.summary.totalSize, platforms: JSON.stringify(manifest.summary.platforms) });
      }
      await touchReferences(trx, repository, referenceRows, touchedAt, requireReferences);
      for (let start = 0; start < referenceRows.length; start += REFERENCE_BATCH) {
        await trx(TABLES.manifestReferences)
          .insert(referenceRows.slice(start, start + REFERENCE_BATCH))
          .onConflict(['repository', 'manifest_digest', 'referenced_digest'])
          .ignore();
      }
      if (tag !== undefined) {
        // Every push of the tag is its push time, also one that names the digest it already had.
        await trx(TABLES.tags)
          .insert({ repository, name: tag, digest, pushed_at: touchedAt })
          .onConflict(['repository', 'name'])
          .merge(['digest', 'pushed_at']);
      }
      await insertOutboxEntries(trx, events);
      if (created) {
        const change = { manifestBytes: manifest.size, manifestCount: 1 };
        await applyUsageChange(trx, repository, { repository: change, registry: change }, quota);
      }
    });
  }

  /**
   * Removes the candidate rows of a table keyed by `columns` (its primary key) that still pass the
   * collector's guard, up to REFERENCE_BATCH per statement, in one transaction: `remove` deletes a chunk
   * (guard in its WHERE) and returns what went. Where writers run side by side (PostgreSQL), each chunk
   * is first locked FOR UPDATE SKIP LOCKED: a row a push holds stays for this run, and the delete waits
   * for no row, so a push and the collector cannot deadlock over them (the tables swept this way have no
   * cascades). Returns what went, in the candidates' order: the sweeps page on from the last one.
   */
  async #sweepBatch<Row extends Record<string, unknown>>(
    table: string,
    columns: readonly string[],
    candidates: readonly Row[],
    remove: (trx: Knex.Transaction, keys: string[][]) => Promise<ReadonlyArray<Record<string, unknown>>>,
  ): Promise<Row[]> {
    const keyOf = (row: Record<string, unknown>) => columns.map((column) => String(row[column]));
    const joined = (row: Record<string, unknown>) => keyOf(row).join('\u0000');
    return this.#transaction(async (trx) => {
      const gone: Row[] = [];
      for (let start = 0; start < candidates.length; start += REFERENCE_BATCH) {
        let chunk = candidates.slice(start, start + REFERENCE_BATCH);
        if (this.#dialect.singleWriter !== true) {
          const locked: Array<Record<string, unknown>> = await trx(table)
            .select([...columns])
            .whereIn([...columns], chunk.map(keyOf))
            .orderBy([...columns])
            .forUpdate()
            .skipLocked();
          const lockedKeys = new Set(locked.map(joined));
          chunk = chunk.filter((row) => lockedKeys.has(joined(row)));
          if (chunk.length === 0) continue;
        }
        const removed = new Set((await remove(trx, chunk.map(keyOf))).map(joined));
        gone.push(...chunk.filter((row) => removed.has(joined(row))));
      }
      return gone;
    });
  }

  /**
   * Removes candidate rows one statement each (each re-checking its guard, then moving the usage
   * counters): in one transaction on a single-writer database, a short transaction per row elsewhere
   * (see Dialect.singleWriter). Returns what went.
   */
  async #sweepRows<Row, Removed>(
    rows: readonly Row[],
    remove: (trx: Knex.Transaction, row: Row) => Promise<Removed | undefined>,
  ): Promise<Removed[]> {
    const removed: Removed[] = [];
    const keep = (gone: Removed | undefined) => {
      if (gone !== undefined) removed.push(gone);
    };
    if (this.#dialect.singleWriter === true) {
      await this.#transaction(async (trx) => {
        for (const row of rows) keep(await remove(trx, row));
      });
    } else {
      for (const row of rows) keep(await this.#transaction((trx) => remove(trx, row)));
    }
    return removed;
  }

  /** Runs a delete and, when it removed a row, writes its events in the same transaction. */
  async #deleteWithEvents(remove: (db: Knex) => Promise<number>, events: readonly OutboxEntry[]): Promise<boolean> {
    if (events.length === 0) return (await remove(this.knex)) > 0;
    return this.#transaction(async (trx) => {
      const removed = (await remove(trx)) > 0;
      if (removed) await insertOutboxEntries(trx, events);
      return removed;
    });
  }

  /** Runs one of the request path's statements, prepared once where the dialect can (see Dialect.queryPrepared). */
  async #select<Row>(query: PreparedQuery, bindings: readonly (string | number)[]): Promise<Row[]> {
    if (this.#dialect.queryPrepared !== undefined) return (await this.#dialect.queryPrepared(this.knex, query, bindings)) as Row[];
    const result = (await this.knex.raw(query.sql, [...bindings])) as Record<string, unknown>[] | { rows: Record<string, unknown>[] };
    const rows = Array.isArray(result) ? result : result.rows;
    return (query.pluck ? rows.map((row) => Object.values(row)[0]) : rows) as Row[];
  }

  /**
   * knex.transaction, but failing with the error that failed the work. A database that rolls a transaction
   * back by itself (SQLite on SQLITE_FULL or a disk I/O error) makes knex's own ROLLBACK fail with "no
   * transaction is active", and knex reports that instead, which would hide what went wrong.
   */
  async #transaction<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    let failure: { error: unknown } | undefined;
    try {
      return await this.knex.transaction(async (trx) => {
        try {
          return await work(trx);
        } catch (error) {
          failure = { error };
          throw error;
        }
      });
    } catch (error) {
      throw failure !== undefined ? failure.error : error;
    }
  }

  /**
   * Runs one store operation, turning a lost database connection into a 503 the client may retry, and
   * a database whose storage is full into a 507 (retried once an operator has made room).
   */
  async #guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      if (this.#dialect.isUnavailable?.(error) === true) {
        throw new RegistryError('UNAVAILABLE', 'the metadata database is unavailable', { cause: error });
      }
      if ((await this.#dialect.isStorageFull?.(error)) === true) {
        throw new RegistryError('UNAVAILABLE', STORAGE_FULL_MESSAGE, { status: 507, cause: error });
      }
      throw error;
    }
  }

  /** One round trip to the database (`select 1`): a lost connection is UNAVAILABLE, as for any operation. */
  async ping(): Promise<void> {
    return this.#guard(async () => {
      await this.knex.raw('select 1');
    });
  }

  /** Destroys the knex instance, unless the options said the store does not own it. */
  async close(): Promise<void> {
    if (this.#destroyOnClose) await this.knex.destroy();
  }
}

/** Brings the schema of the knex instance's database up to date, then returns a store over it. */
export async function openKnexMetadataStore(knex: Knex, options: KnexMetadataStoreOptions): Promise<KnexMetadataStore> {
  await migrateMetadataSchema(knex, options.dialect);
  return new KnexMetadataStore(knex, options);
}
