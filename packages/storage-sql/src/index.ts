/**
 * The berth metadata store over knex, with its migrations: what the SQLite and PostgreSQL adapters
 * share, and what an adapter for another SQL database builds on (describe the database with a
 * {@link Dialect}, then {@link openKnexMetadataStore}).
 *
 * @packageDocumentation
 */
export type { Dialect, PreparedQuery } from './dialect.js';
export { KnexMetadataStore, openKnexMetadataStore, type KnexMetadataStoreOptions } from './knex-metadata-store.js';
export { MIGRATION_NAMES, metadataMigrationSource, migrateMetadataSchema, type SchemaMigration } from './migrations.js';
export { MIGRATIONS_TABLE, TABLES } from './tables.js';
