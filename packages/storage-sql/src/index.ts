export type { Dialect } from './dialect.js';
export { KnexMetadataStore, type KnexMetadataStoreOptions } from './knex-metadata-store.js';
export { MIGRATION_NAMES, metadataMigrationSource, migrateMetadataSchema } from './migrations.js';
export { MIGRATIONS_TABLE, TABLES } from './tables.js';
export { KnexEventOutbox } from './knex-event-outbox.js';
