import type { Knex } from 'knex';
import type { Dialect } from './dialect.js';
import { MIGRATIONS_TABLE, TABLES } from './tables.js';

/**
 * One schema step. Names sort in the order they apply; an applied step is never edited, only
 * followed by a new one. Steps return the schema builder unexecuted (knex runs it), so the DDL can
 * also be compiled for another dialect without a connection.
 */
export interface SchemaMigration {
  /** Unique, sortable name, for example `0001_initial`; recorded once the step is applied. */
  name: string;
  /** Builds the schema changes of this step for the dialect. */
  up(db: Knex, dialect: Dialect): Knex.SchemaBuilder;
  /** Builds the schema changes that undo this step. */
  down(db: Knex): Knex.SchemaBuilder;
}

const MIGRATIONS: readonly SchemaMigration[] = [
  {
    name: '0001_initial',
    up(db, dialect) {
      const key = (table: Knex.CreateTableBuilder, column: string) => table.specificType(column, dialect.keyType);

      return db.schema
        .createTable(TABLES.manifests, (table) => {
          key(table, 'repository').notNullable();
          key(table, 'digest').notNullable();
          table.text('media_type').notNullable();
          table.bigInteger('size').notNullable();
          table.binary('content').notNullable();
          key(table, 'subject').nullable();
          table.text('artifact_type').nullable();
          // JSON object of strings; read back whole, never queried.
          table.text('annotations').nullable();
          // Epoch milliseconds on every dialect.
          table.bigInteger('created_at').notNullable();
          table.primary(['repository', 'digest']);
          // listReferrers.
          table.index(['repository', 'subject']);
        })
        .createTable(TABLES.manifestReferences, (table) => {
          key(table, 'repository').notNullable();
          key(table, 'manifest_digest').notNullable();
          key(table, 'referenced_digest').notNullable();
          table.text('kind').notNullable().checkIn(['blob', 'manifest']);
          table.primary(['repository', 'manifest_digest', 'referenced_digest']);
          table
            .foreign(['repository', 'manifest_digest'])
            .references(['repository', 'digest'])
            .inTable(TABLES.manifests)
            .onDelete('CASCADE');
          // Garbage collection asks whether anything still references a digest.
          table.index(['referenced_digest']);
        })
        .createTable(TABLES.tags, (table) => {
          key(table, 'repository').notNullable();
          key(table, 'name').notNullable();
          key(table, 'digest').notNullable();
          table.primary(['repository', 'name']);
          // Deleting a manifest deletes the tags pointing at it.
          table
            .foreign(['repository', 'digest'])
            .references(['repository', 'digest'])
            .inTable(TABLES.manifests)
            .onDelete('CASCADE');
          // Serves that cascade.
          table.index(['repository', 'digest']);
        })
        .createTable(TABLES.blobLinks, (table) => {
          key(table, 'repository').notNullable();
          key(table, 'digest').notNullable();
          table.bigInteger('size').notNullable();
          table.primary(['repository', 'digest']);
          // isBlobLinkedAnywhere.
          table.index(['digest']);
        })
        .createTable(TABLES.uploadSessions, (table) => {
          key(table, 'id').notNullable().primary();
          key(table, 'repository').notNullable();
          table.bigInteger('started_at').notNullable();
        })
        .createTable(TABLES.convertedManifests, (table) => {
          key(table, 'repository').notNullable();
          key(table, 'digest').notNullable();
          key(table, 'source_digest').notNullable();
          table.text('media_type').notNullable();
          table.binary('content').notNullable();
          table.primary(['repository', 'digest']);
          table
            .foreign(['repository', 'source_digest'])
            .references(['repository', 'digest'])
            .inTable(TABLES.manifests)
            .onDelete('CASCADE');
          table.index(['repository', 'source_digest']);
        })
        .createTable(TABLES.settings, (table) => {
          key(table, 'name').notNullable().primary();
          table.text('value').notNullable();
        });
    },
    down(db) {
      return db.schema
        .dropTableIfExists(TABLES.settings)
        .dropTableIfExists(TABLES.convertedManifests)
        .dropTableIfExists(TABLES.uploadSessions)
        .dropTableIfExists(TABLES.blobLinks)
        .dropTableIfExists(TABLES.tags)
        .dropTableIfExists(TABLES.manifestReferences)
        .dropTableIfExists(TABLES.manifests);
    },
  },
  {
    // The stale-upload sweep reads sessions by age.
    name: '0002_upload_sessions_by_age',
    up(db) {
      return db.schema.alterTable(TABLES.uploadSessions, (table) => {
        table.index(['started_at'], 'upload_sessions_started_at');
      });
    },
    down(db) {
      return db.schema.alterTable(TABLES.uploadSessions, (table) => {
        table.dropIndex(['started_at'], 'upload_sessions_started_at');
      });
    },
  },
  {
    // repositoriesLinkingBlob pages through the repositories of one digest in name order.
    name: '0003_blob_links_by_digest_and_repository',
    up(db) {
      return db.schema.alterTable(TABLES.blobLinks, (table) => {
        table.index(['digest', 'repository'], 'blob_links_digest_repository');
      });
    },
    down(db) {
      return db.schema.alterTable(TABLES.blobLinks, (table) => {
        table.dropIndex(['digest', 'repository'], 'blob_links_digest_repository');
      });
    },
  },
  {
    // Webhook events, written with the change they describe and removed once delivered.
    name: '0004_event_outbox',
    up(db, dialect) {
      return db.schema.createTable(TABLES.eventOutbox, (table) => {
        // Write order: events of one repository are delivered in it.
        table.bigIncrements('sequence').primary();
        table.specificType('endpoint', dialect.keyType).notNullable();
        table.specificType('repository', dialect.keyType).notNullable();
        table.text('event_id').notNullable();
        table.text('payload').notNullable();
        // Epoch milliseconds, like every time here.
        table.bigInteger('created_at').notNullable();
        table.integer('attempts').notNullable().defaultTo(0);
        table.bigInteger('next_attempt_at').notNullable();
        table.text('lease_owner').nullable();
        table.bigInteger('lease_expires_at').nullable();
        // claim(): an endpoint's entries in order, and the earlier entries of one repository.
        table.index(['endpoint', 'sequence'], 'event_outbox_endpoint_sequence');
        table.index(['endpoint', 'repository', 'sequence'], 'event_outbox_endpoint_repository_sequence');
      });
    },
    down(db) {
      return db.schema.dropTableIfExists(TABLES.eventOutbox);
    },
  },
  {
    // Online garbage collection: a row per blob and a "touched" time on what the collector may delete
    // (every write naming a row sets it; the collector's deletes re-check it), marks kept in a table
    // rather than in memory, the digest an upload is publishing, and the one collector's lease.
    name: '0005_garbage_collection',
    up(db, dialect) {
      const key = (table: Knex.CreateTableBuilder, column: string) => table.specificType(column, dialect.keyType);
      const now = Date.now();
      return db.schema
        .createTable(TABLES.blobs, (table) => {
          key(table, 'digest').notNullable().primary();
          table.bigInteger('size').notNullable();
          // Epoch milliseconds.
          table.bigInteger('touched_at').notNullable();
          table.index(['touched_at'], 'blobs_touched_at');
        })
        .alterTable(TABLES.blobLinks, (table) => {
          table.bigInteger('touched_at').notNullable().defaultTo(now);
          // "Has the repository linked anything since the cutoff?", asked for every link swept.
          table.index(['repository', 'touched_at'], 'blob_links_repository_touched_at');
        })
        .alterTable(TABLES.manifests, (table) => {
          table.bigInteger('touched_at').notNullable().defaultTo(now);
        })
        .alterTable(TABLES.uploadSessions, (table) => {
          key(table, 'digest').nullable();
          table.index(['digest'], 'upload_sessions_digest');
          table.index(['repository'], 'upload_sessions_repository');
        })
        .createTable(TABLES.collectorMarks, (table) => {
          key(table, 'repository').notNullable();
          key(table, 'digest').notNullable();
          table.primary(['repository', 'digest']);
        })
        .createTable(TABLES.collectorLease, (table) => {
          key(table, 'name').notNullable().primary();
          table.text('owner').notNullable();
          table.bigInteger('expires_at').notNullable();
        })
        .raw(
          `insert into ${TABLES.blobs} (digest, size, touched_at) select digest, max(size), ${now} from ${TABLES.blobLinks} group by digest`,
        );
    },
    down(db) {
      return db.schema
        .dropTableIfExists(TABLES.collectorLease)
        .dropTableIfExists(TABLES.collectorMarks)
        .alterTable(TABLES.uploadSessions, (table) => {
          table.dropIndex(['digest'], 'upload_sessions_digest');
          table.dropIndex(['repository'], 'upload_sessions_repository');
          table.dropColumn('digest');
        })
        .alterTable(TABLES.manifests, (table) => table.dropColumn('touched_at'))
        .alterTable(TABLES.blobLinks, (table) => {
          table.dropIndex(['repository', 'touched_at'], 'blob_links_repository_touched_at');
          table.dropColumn('touched_at');
        })
        .dropTableIfExists(TABLES.blobs);
    },
  },
  {
    // Retention keeps the newest tags and removes old ones: a tag's push time, set whenever a manifest PUT
    // names the tag. Existing tags get the creation time of the manifest they point at (the best known).
    name: '0006_tag_push_times',
    up(db) {
      return db.schema
        .alterTable(TABLES.tags, (table) => {
          table.bigInteger('pushed_at').notNullable().defaultTo(0);
        })
        .raw(
          `update ${TABLES.tags} set pushed_at = coalesce((select m.created_at from ${TABLES.manifests} m where m.repository = ${TABLES.tags}.repository and m.digest = ${TABLES.tags}.digest), 0)`,
        );
    },
    down(db) {
      return db.schema.alterTable(TABLES.tags, (table) => table.dropColumn('pushed_at'));
    },
  },
  {
    // Usage counters, moved by every write that links, unlinks, stores or removes something, in its own
    // transaction: a row per repository, and the registry's totals spread over a few slots so that pushes
    // to different repositories do not all wait for one row. Existing data is counted here.
    name: '0007_usage',
    up(db, dialect) {
      const totals = (table: Knex.CreateTableBuilder) => {
        for (const column of ['blob_bytes', 'blob_count', 'manifest_bytes', 'manifest_count']) table.bigInteger(column).notNullable().defaultTo(0);
      };
      return db.schema
        .createTable(TABLES.repositoryUsage, (table) => {
          table.specificType('repository', dialect.keyType).notNullable().primary();
          totals(table);
        })
        .createTable(TABLES.registryUsage, (table) => {
          table.integer('slot').notNullable().primary();
          totals(table);
        })
        .raw(
          `insert into ${TABLES.repositoryUsage} (repository, blob_bytes, blob_count, manifest_bytes, manifest_count)
           select repository, sum(blob_bytes), sum(blob_count), sum(manifest_bytes), sum(manifest_count) from (
             select repository, size as blob_bytes, 1 as blob_count, 0 as manifest_bytes, 0 as manifest_count from ${TABLES.blobLinks}
             union all
             select repository, 0, 0, size, 1 from ${TABLES.manifests}
           ) as rows group by repository`,
        )
        .raw(
          `insert into ${TABLES.registryUsage} (slot, blob_bytes, blob_count, manifest_bytes, manifest_count)
           select 0, (select coalesce(sum(size), 0) from ${TABLES.blobs}), (select count(*) from ${TABLES.blobs}),
                  (select coalesce(sum(size), 0) from ${TABLES.manifests}), (select count(*) from ${TABLES.manifests})`,
        );
    },
    down(db) {
      return db.schema.dropTableIfExists(TABLES.registryUsage).dropTableIfExists(TABLES.repositoryUsage);
    },
  },
  {
    // The collector asks, for every blob link, whether a manifest of that repository names the digest:
    // with (referenced_digest) alone, SQLite's planner took the primary key's repository prefix and read
    // every reference of the repository per link. Both columns make it one probe; the digest first still
    // serves "does anything name this digest" for the blob sweep, so the single-column index goes.
    name: '0008_references_by_digest_and_repository',
    up(db) {
      return db.schema.alterTable(TABLES.manifestReferences, (table) => {
        table.index(['referenced_digest', 'repository'], 'manifest_references_digest_repository');
        table.dropIndex(['referenced_digest']);
      });
    },
    down(db) {
      return db.schema.alterTable(TABLES.manifestReferences, (table) => {
        table.index(['referenced_digest']);
        table.dropIndex(['referenced_digest', 'repository'], 'manifest_references_digest_repository');
      });
    },
  },
  {
    // A signed schema1 conversion names its tag: recording it lets a pull by tag find the conversion in the
    // same statement as the tag (tags -> manifests -> converted_manifests); rows made before have none and
    // get it when the conversion is remembered again.
    name: '0009_converted_manifest_tag',
    up(db, dialect) {
      return db.schema.alterTable(TABLES.convertedManifests, (table) => {
        table.specificType('tag', dialect.keyType).nullable();
      });
    },
    down(db) {
      return db.schema.alterTable(TABLES.convertedManifests, (table) => {
        table.dropColumn('tag');
      });
    },
  },
  {
    // Browsing (the web UI's API) lists tags with their manifest's total size and platforms without reading
    // manifests again: both are recorded at push time (null for rows stored before, which show their own
    // size). Tags listed newest first page by push time.
    name: '0010_manifest_summaries',
    up(db) {
      return db.schema
        .alterTable(TABLES.manifests, (table) => {
          table.bigInteger('total_size').nullable();
          // JSON array of { os, architecture, variant? }; read back whole, never queried.
          table.text('platforms').nullable();
        })
        .alterTable(TABLES.tags, (table) => {
          table.index(['repository', 'pushed_at'], 'tags_repository_pushed_at');
        });
    },
    down(db) {
      return db.schema
        .alterTable(TABLES.tags, (table) => table.dropIndex(['repository', 'pushed_at'], 'tags_repository_pushed_at'))
        .alterTable(TABLES.manifests, (table) => {
          table.dropColumn('platforms');
          table.dropColumn('total_size');
        });
    },
  },
  {
    // The pull-through cache: which repositories came from an upstream (a `*` mirror keeps serving them,
    // pushes into them are refused) and when each mirrored tag was last fetched or revalidated. Rows are
    // kept apart from the tags table, so nothing about pushed content changes.
    name: '0011_mirror_cache',
    up(db, dialect) {
      const key = (table: Knex.CreateTableBuilder, column: string) => table.specificType(column, dialect.keyType);
      return db.schema
        .createTable(TABLES.mirrorRepositories, (table) => {
          key(table, 'repository').notNullable().primary();
          table.bigInteger('marked_at').notNullable();
        })
        .createTable(TABLES.mirrorTags, (table) => {
          key(table, 'repository').notNullable();
          key(table, 'tag').notNullable();
          table.bigInteger('fetched_at').notNullable();
          table.primary(['repository', 'tag']);
        });
    },
    down(db) {
      return db.schema.dropTable(TABLES.mirrorTags).dropTable(TABLES.mirrorRepositories);
    },
  },
];

/** Names of every schema step, in the order they apply. */
export const MIGRATION_NAMES: readonly string[] = MIGRATIONS.map((migration) => migration.name);

/** Serves the steps above to knex's migrator from code, so nothing is read from disk at run time. */
export function metadataMigrationSource(dialect: Dialect): Knex.MigrationSource<SchemaMigration> {
  return {
    getMigrations: async () => [...MIGRATIONS],
    getMigrationName: (migration) => migration.name,
    getMigration: async (migration) => ({
      up: (db: Knex) => migration.up(db, dialect),
      down: (db: Knex) => migration.down(db),
    }),
  };
}

/** Brings the schema up to date; applied steps are skipped, so running it on every open is cheap and safe. */
export async function migrateMetadataSchema(db: Knex, dialect: Dialect): Promise<void> {
  await db.migrate.latest({ migrationSource: metadataMigrationSource(dialect), tableName: MIGRATIONS_TABLE });
}
