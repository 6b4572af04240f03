import type { MetadataInspector } from '@berth/storage-testing';
import type { Knex } from 'knex';
import { TABLES } from '../../src/index.js';

/**
 * Reads the metadata tables over a knex instance of its own (its own connection to the same database,
 * never the store's), for the contract suite's inspection group. Shared by the SQLite and PostgreSQL
 * adapters' tests: the schema is the same on both. Drivers return bigint columns as strings on
 * PostgreSQL, hence the Number() calls.
 */
export function sqlInspector(db: Knex): MetadataInspector {
  return {
    async manifest(repository, digest) {
      const row: { media_type: string; size: number | string; content: Buffer } | undefined = await db(TABLES.manifests)
        .first('media_type', 'size', 'content')
        .where({ repository, digest });
      return row === undefined ? undefined : { mediaType: row.media_type, size: Number(row.size), content: row.content };
    },
    async references(repository, digest) {
      const rows: Array<{ referenced_digest: string; kind: 'blob' | 'manifest' }> = await db(TABLES.manifestReferences)
        .select('referenced_digest', 'kind')
        .where({ repository, manifest_digest: digest });
      return rows.map((row) => ({ digest: row.referenced_digest, kind: row.kind }));
    },
    async tags(repository) {
      const rows: Array<{ name: string; digest: string }> = await db(TABLES.tags).select('name', 'digest').where({ repository });
      return Object.fromEntries(rows.map((row) => [row.name, row.digest]));
    },
    async blobLinks(repository) {
      const rows: Array<{ digest: string; size: number | string }> = await db(TABLES.blobLinks).select('digest', 'size').where({ repository });
      return Object.fromEntries(rows.map((row) => [row.digest, Number(row.size)]));
    },
    async uploadSession(id) {
      const row: { repository: string; started_at: number | string } | undefined = await db(TABLES.uploadSessions)
        .first('repository', 'started_at')
        .where({ id });
      return row === undefined ? undefined : { repository: row.repository, startedAt: new Date(Number(row.started_at)) };
    },
    async convertedManifests(repository) {
      const rows: Array<{ digest: string; source_digest: string }> = await db(TABLES.convertedManifests)
        .select('digest', 'source_digest')
        .where({ repository });
      return Object.fromEntries(rows.map((row) => [row.digest, row.source_digest]));
    },
    async setting(key) {
      const row: { value: string } | undefined = await db(TABLES.settings).first('value').where({ name: key });
      return row?.value;
    },
  };
}
