import {
  RegistryError,
  type ConvertedManifest,
  type EventOutbox,
  type ManifestWrite,
  type MetadataStore,
  type OutboxEntry,
  type PageOptions,
  type StoredManifest,
  type UploadSession,
} from '@berth/core';
import type { Knex } from 'knex';
import type { Dialect } from './dialect.js';
import { KnexEventOutbox, insertOutboxEntries } from './knex-event-outbox.js';
import { migrateMetadataSchema } from './migrations.js';
import {
  convertedManifestFromRow,
  manifestFromRow,
  manifestToRow,
  toBuffer,
  uploadSessionFromRow,
  type ConvertedManifestRow,
  type ManifestRow,
  type UploadSessionRow,
} from './rows.js';
import { TABLES } from './tables.js';

export interface KnexMetadataStoreOptions {
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

/** MetadataStore over any knex instance whose database the Dialect describes (SQLite, PostgreSQL). */
export class KnexMetadataStore implements MetadataStore {
  readonly knex: Knex;
  readonly #dialect: Dialect;
  readonly #destroyOnClose: boolean;
  readonly outbox: EventOutbox;

  /** Brings the schema up to date, then returns a store over it. */
  static async open(knex: Knex, options: KnexMetadataStoreOptions): Promise<KnexMetadataStore> {
    await migrateMetadataSchema(knex, options.dialect);
    return new KnexMetadataStore(knex, options);
  }

  /** Expects a migrated schema; use open() unless the migrations ran elsewhere. */
  constructor(knex: Knex, options: KnexMetadataStoreOptions) {
    this.knex = knex;
    this.#dialect = options.dialect;
    this.#destroyOnClose = options.destroyOnClose ?? true;
    this.outbox = new KnexEventOutbox(knex, options.dialect, (operation) => this.#guard(operation));
  }

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

  async repositoryExists(repository: string): Promise<boolean> {
    return this.#guard(async () => {
      const manifest = await this.knex(TABLES.manifests).first('repository').where({ repository });
      if (manifest !== undefined) return true;
      const link = await this.knex(TABLES.blobLinks).first('repository').where({ repository });
      return link !== undefined;
    });
  }

  async linkBlob(repository: string, digest: string, size: number, events: readonly OutboxEntry[] = []): Promise<void> {
    return this.#guard(async () => {
      const link = (db: Knex) => db(TABLES.blobLinks).insert({ repository, digest, size }).onConflict(['repository', 'digest']).ignore();
      if (events.length === 0) {
        await link(this.knex);
        return;
      }
      await this.#transaction(async (trx) => {
        await link(trx);
        await insertOutboxEntries(trx, events);
      });
    });
  }

  async blobLink(repository: string, digest: string): Promise<{ digest: string; size: number } | undefined> {
    return this.#guard(async () => {
      const row: { digest: string; size: number | string } | undefined = await this.knex(TABLES.blobLinks)
        .first('digest', 'size')
        .where({ repository, digest });
      return row === undefined ? undefined : { digest: row.digest, size: Number(row.size) };
    });
  }

  async unlinkBlob(repository: string, digest: string, events: readonly OutboxEntry[] = []): Promise<boolean> {
    return this.#guard(() => this.#deleteWithEvents((db) => db(TABLES.blobLinks).where({ repository, digest }).del(), events));
  }

  async repositoriesLinkingBlob(digest: string, { last, limit }: PageOptions): Promise<string[]> {
    return this.#guard(async () => {
      if (limit <= 0) return [];
      const query = this.knex(TABLES.blobLinks).select('repository').where({ digest }).orderBy('repository').limit(limit);
      if (last !== undefined) query.where('repository', '>', last);
      const rows: Array<{ repository: string }> = await query;
      return rows.map((row) => row.repository);
    });
  }

  async isBlobLinkedAnywhere(digest: string): Promise<boolean> {
    return this.#guard(async () => (await this.knex(TABLES.blobLinks).first('digest').where({ digest })) !== undefined);
  }

  async putManifest({ manifest, blobReferences, manifestReferences, tag, events = [] }: ManifestWrite): Promise<void> {
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
        await this.#writeManifest(manifest, referenceRows, tag, events, false);
      } catch (error) {
        // The manifest existed when the insert skipped it, then a concurrent deleteManifest removed it
        // before the references or the tag could point at it (nothing of this attempt was committed).
        // Writing again, this time locking the row, re-creates it as if this push had come after the
        // delete, and no delete can come between the row and what points at it.
        if (!this.#dialect.isForeignKeyViolation(error)) throw error;
        await this.#writeManifest(manifest, referenceRows, tag, events, true);
      }
    });
  }

  async getManifest(repository: string, digest: string): Promise<StoredManifest | undefined> {
    return this.#guard(async () => {
      const row: ManifestRow | undefined = await this.knex(TABLES.manifests).first('*').where({ repository, digest });
      return row === undefined ? undefined : manifestFromRow(row);
    });
  }

  async deleteManifest(repository: string, digest: string, events: readonly OutboxEntry[] = []): Promise<boolean> {
    // Tags, references and conversions go with it through ON DELETE CASCADE.
    return this.#guard(() => this.#deleteWithEvents((db) => db(TABLES.manifests).where({ repository, digest }).del(), events));
  }

  async resolveTag(repository: string, tag: string): Promise<string | undefined> {
    return this.#guard(async () => {
      const row: { digest: string } | undefined = await this.knex(TABLES.tags)
        .first('digest')
        .where({ repository, name: tag });
      return row?.digest;
    });
  }

  async deleteTag(repository: string, tag: string, events: readonly OutboxEntry[] = []): Promise<boolean> {
    return this.#guard(() => this.#deleteWithEvents((db) => db(TABLES.tags).where({ repository, name: tag }).del(), events));
  }

  async listTags(repository: string, { last, limit }: PageOptions): Promise<string[]> {
    return this.#guard(async () => {
      if (limit <= 0) return [];
      const query = this.knex(TABLES.tags).select('name').where({ repository }).orderBy('name').limit(limit);
      if (last !== undefined) query.where('name', '>', last);
      const rows: Array<{ name: string }> = await query;
      return rows.map((row) => row.name);
    });
  }

  async listReferrers(repository: string, subjectDigest: string, artifactType?: string): Promise<StoredManifest[]> {
    return this.#guard(async () => {
      const query = this.knex(TABLES.manifests).select('*').where({ repository, subject: subjectDigest }).orderBy('digest');
      if (artifactType !== undefined) query.where({ artifact_type: artifactType });
      const rows: ManifestRow[] = await query;
      return rows.map(manifestFromRow);
    });
  }

  async createUploadSession(session: UploadSession): Promise<void> {
    return this.#guard(async () => {
      await this.knex(TABLES.uploadSessions).insert({
        id: session.id,
        repository: session.repository,
        started_at: session.startedAt.getTime(),
      });
    });
  }

  async getUploadSession(id: string): Promise<UploadSession | undefined> {
    return this.#guard(async () => {
      const row: UploadSessionRow | undefined = await this.knex(TABLES.uploadSessions).first('*').where({ id });
      return row === undefined ? undefined : uploadSessionFromRow(row);
    });
  }

  async deleteUploadSession(id: string): Promise<boolean> {
    return this.#guard(async () => (await this.knex(TABLES.uploadSessions).where({ id }).del()) > 0);
  }

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

  async putConvertedManifest(converted: ConvertedManifest): Promise<void> {
    return this.#guard(async () => {
      try {
        await this.knex(TABLES.convertedManifests)
          .insert({
            repository: converted.repository,
            digest: converted.digest,
            source_digest: converted.sourceDigest,
            media_type: converted.mediaType,
            content: toBuffer(converted.content),
          })
          .onConflict(['repository', 'digest'])
          .ignore();
      } catch (error) {
        // The source manifest is gone (never stored, or deleted meanwhile): there is nothing to convert from.
        if (this.#dialect.isForeignKeyViolation(error)) {
          throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${converted.sourceDigest} is unknown`, { cause: error });
        }
        throw error;
      }
    });
  }

  async getConvertedManifest(repository: string, digest: string): Promise<ConvertedManifest | undefined> {
    return this.#guard(async () => {
      const row: ConvertedManifestRow | undefined = await this.knex(TABLES.convertedManifests)
        .first('*')
        .where({ repository, digest });
      return row === undefined ? undefined : convertedManifestFromRow(row);
    });
  }

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
   * Manifest, references and tag in one transaction: all of them are written, or none. With
   * `lockExisting`, an existing manifest row is locked (a no-op update) rather than skipped, so a
   * concurrent delete waits for this transaction instead of pulling the row out from under it.
   */
  async #writeManifest(
    manifest: ManifestWrite['manifest'],
    referenceRows: ReferenceRow[],
    tag: string | undefined,
    events: readonly OutboxEntry[],
    lockExisting: boolean,
  ): Promise<void> {
    const { repository, digest } = manifest;
    await this.#transaction(async (trx) => {
      // The same digest means the same bytes: a second push keeps the first row (and its createdAt).
      const insert = trx(TABLES.manifests).insert(manifestToRow(manifest, new Date())).onConflict(['repository', 'digest']);
      await (lockExisting ? insert.merge(['digest']) : insert.ignore());
      for (let start = 0; start < referenceRows.length; start += REFERENCE_BATCH) {
        await trx(TABLES.manifestReferences)
          .insert(referenceRows.slice(start, start + REFERENCE_BATCH))
          .onConflict(['repository', 'manifest_digest', 'referenced_digest'])
          .ignore();
      }
      if (tag !== undefined) {
        await trx(TABLES.tags)
          .insert({ repository, name: tag, digest })
          .onConflict(['repository', 'name'])
          .merge(['digest']);
      }
      await insertOutboxEntries(trx, events);
    });
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

  async close(): Promise<void> {
    if (this.#destroyOnClose) await this.knex.destroy();
  }
}
