import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { openKnexMetadataStore, type KnexMetadataStore } from '@berth/storage-sql';
import type BetterSqlite3 from 'better-sqlite3';
import knex from 'knex';
import { sqliteDialect, sqliteDialectFor } from './sqlite-dialect.js';

/** Options of {@link openSqliteMetadataStore}. */
export interface SqliteMetadataStoreOptions {
  /** Path of the database file (its folders are created), or `:memory:`. */
  filename: string;
}

/**
 * Per-connection settings. WAL lets readers in other processes work beside the writer; NORMAL sync
 * is durable enough under WAL; foreign keys are off by default in SQLite and the schema's cascades
 * need them; busy_timeout waits for another process's write lock instead of failing at once.
 */
const PRAGMAS = ['journal_mode = WAL', 'synchronous = NORMAL', 'foreign_keys = ON', 'busy_timeout = 5000'];

/** Opens (creating and migrating as needed) a metadata store in one SQLite file. */
export async function openSqliteMetadataStore(options: SqliteMetadataStoreOptions): Promise<KnexMetadataStore> {
  if (options.filename !== ':memory:') await mkdir(dirname(options.filename), { recursive: true });
  const db = knex({
    client: 'better-sqlite3',
    connection: { filename: options.filename },
    useNullAsDefault: true,
    // One connection: SQLite has a single writer anyway, and `:memory:` lives in its connection.
    pool: {
      min: 1,
      max: 1,
      afterCreate(connection: BetterSqlite3.Database, done: (error: Error | null, connection: unknown) => void) {
        try {
          for (const pragma of PRAGMAS) connection.pragma(pragma);
          done(null, connection);
        } catch (error) {
          done(error as Error, connection);
        }
      },
    },
  });
  try {
    const dialect = options.filename === ':memory:' ? sqliteDialect : sqliteDialectFor(dirname(options.filename));
    return await openKnexMetadataStore(db, { dialect });
  } catch (error) {
    await db.destroy();
    throw error;
  }
}
