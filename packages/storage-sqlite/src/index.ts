export { openSqliteMetadataStore, type SqliteMetadataStoreOptions } from './open-sqlite-metadata-store.js';
export { sqliteDialect } from './sqlite-dialect.js';
