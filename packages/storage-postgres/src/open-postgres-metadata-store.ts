import { KnexMetadataStore, migrateMetadataSchema } from '@berth/storage-sql';
import knex, { type Knex } from 'knex';
import { withMigrationLock } from './migration-lock.js';
import { postgresDialect } from './postgres-dialect.js';

/** Options of {@link openPostgresMetadataStore}. */
export interface PostgresMetadataStoreOptions {
  /** A `postgres://user:password@host:port/database` URL, or pg connection settings. */
  connection: string | Knex.PgConnectionConfig;
  /** knex (tarn) pool settings. Defaults: min 0, max 10 connections. */
  pool?: Knex.PoolConfig;
  /** Where knex's own warnings go (for example a connection that failed); the console by default. */
  log?: Knex.Logger;
}

/**
 * Settings added under the caller's own: give up connecting after 5 s instead of never (a request
 * then answers 503 rather than hanging), keep idle connections alive through NAT and firewalls, and
 * name the connections in pg_stat_activity.
 */
const CONNECTION_DEFAULTS: Knex.PgConnectionConfig = {
  connectionTimeoutMillis: 5_000,
  keepAlive: true,
  application_name: 'berth',
};

/**
 * Opens a metadata store in a PostgreSQL database, bringing its schema up to date first. Several
 * processes may open the same database at once (their migrations take turns), and then share it:
 * every write is a single statement or one transaction, so instances need no coordination of their own.
 * A lost connection surfaces as RegistryError UNAVAILABLE (503); the pool reconnects on its own.
 */
export async function openPostgresMetadataStore(options: PostgresMetadataStoreOptions): Promise<KnexMetadataStore> {
  const connection: Knex.PgConnectionConfig =
    typeof options.connection === 'string'
      ? { ...CONNECTION_DEFAULTS, connectionString: options.connection }
      : { ...CONNECTION_DEFAULTS, ...options.connection };
  // min 0: no connection is pinned open, so after an outage the pool starts afresh instead of
  // handing out connections that died with the server.
  const db = knex({
    client: 'pg',
    connection,
    pool: { min: 0, max: 10, ...options.pool },
    ...(options.log === undefined ? {} : { log: options.log }),
  });
  try {
    await withMigrationLock(connection, () => migrateMetadataSchema(db, postgresDialect), options.log);
    return new KnexMetadataStore(db, { dialect: postgresDialect });
  } catch (error) {
    await db.destroy();
    throw error;
  }
}
