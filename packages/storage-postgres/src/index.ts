export { openPostgresMetadataStore, type PostgresMetadataStoreOptions } from './open-postgres-metadata-store.js';
export { postgresDialect } from './postgres-dialect.js';
export { isConnectionFailure } from './postgres-errors.js';
export { MIGRATION_LOCK_KEY } from './migration-lock.js';
