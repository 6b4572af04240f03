/**
 * The SQLite metadata store for berth (better-sqlite3, WAL): the embedded default.
 *
 * @packageDocumentation
 */
export { openSqliteMetadataStore, type SqliteMetadataStoreOptions } from './open-sqlite-metadata-store.js';
