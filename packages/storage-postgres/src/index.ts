/**
 * The PostgreSQL metadata store for berth, for shared and multi-instance registries.
 *
 * @packageDocumentation
 */
export { openPostgresMetadataStore, type PostgresMetadataStoreOptions } from './open-postgres-metadata-store.js';
export { isConnectionFailure } from './postgres-errors.js';
