// Throwaway databases for tests (this package's, the Koa endpoint tests', the interop tests'), so
// that runs in parallel never see each other's rows. Not part of the adapter's runtime API.
import { randomBytes } from 'node:crypto';
import { TABLES, type KnexMetadataStore } from '@berth/storage-sql';
import knex, { type Knex } from 'knex';
import { openPostgresMetadataStore } from './open-postgres-metadata-store.js';

/**
 * The server and role tests connect with, through a database that always exists. Override with
 * BERTH_TEST_POSTGRES_URL; the role needs CREATEDB.
 */
export const TEST_POSTGRES_ADMIN_URL = process.env['BERTH_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A throwaway database of {@link createScratchDatabase}. */
export interface ScratchDatabase {
  /** The database's name: `berth_test_` and random hex. */
  readonly name: string;
  /** A connection URL to it, with the admin URL's server and role. */
  readonly url: string;
  /** Drops it, ending any connection still open to it. Idempotent. */
  drop(): Promise<void>;
}

/** One statement on the admin database, over a connection opened and closed for it. */
export async function adminQuery<T = unknown>(sql: string, bindings: readonly Knex.RawBinding[] = [], adminUrl = TEST_POSTGRES_ADMIN_URL): Promise<T[]> {
  const admin = knex({ client: 'pg', connection: adminUrl, pool: { min: 0, max: 1 } });
  try {
    const result = (await admin.raw(sql, bindings)) as { rows: T[] };
    return result.rows;
  } finally {
    await admin.destroy();
  }
}

/** Creates an empty database on the admin URL's server. */
export async function createScratchDatabase(adminUrl = TEST_POSTGRES_ADMIN_URL): Promise<ScratchDatabase> {
  const name = `berth_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`create database "${name}"`, [], adminUrl);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    // WITH (FORCE) ends the connections a test left open (PostgreSQL 13 and later).
    drop: () => dropDatabase(name, adminUrl),
  };
}

/**
 * Drops a database. Dropping requests a checkpoint, which fails while another test holds a tablespace
 * on a full disk (the disk-full test, for a moment): that is retried, not reported as this test's failure.
 */
async function dropDatabase(name: string, adminUrl: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await adminQuery(`drop database if exists "${name}" with (force)`, [], adminUrl);
      return;
    } catch (error) {
      if (attempt >= 20 || !/checkpoint request failed/.test((error as Error).message)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Stores of {@link recyclingPostgresStores}. */
export interface RecyclingStores {
  /** An open store on an empty, migrated database of its own. Its close() empties and keeps it for the next open(). */
  open(): Promise<KnexMetadataStore>;
  /** Really closes every store and drops their databases. */
  dispose(): Promise<void>;
}

/** Children before parents, so no delete waits for a cascade. */
const TABLES_TO_EMPTY = [
  TABLES.convertedManifests,
  TABLES.tags,
  TABLES.manifestReferences,
  TABLES.manifests,
  TABLES.blobLinks,
  TABLES.uploadSessions,
  TABLES.settings,
  TABLES.blobs,
  TABLES.collectorMarks,
  TABLES.collectorLease,
  TABLES.repositoryUsage,
  TABLES.registryUsage,
  TABLES.eventOutbox,
];

/**
 * Stores for suites that need a fresh store per test but test the registry above it, not the
 * adapter (that has its own suite, on a new database per test). Creating, migrating and dropping a
 * database costs about 0.2 s; emptying seven small tables costs milliseconds.
 */
export function recyclingPostgresStores(adminUrl = TEST_POSTGRES_ADMIN_URL): RecyclingStores {
  const idle: KnexMetadataStore[] = [];
  const owned: Array<{ store: KnexMetadataStore; database: ScratchDatabase; close: () => Promise<void> }> = [];
  return {
    async open() {
      const reused = idle.pop();
      if (reused !== undefined) return reused;
      const database = await createScratchDatabase(adminUrl);
      const store = await openPostgresMetadataStore({ connection: database.url, pool: { max: 4 } });
      owned.push({ store, database, close: store.close.bind(store) });
      store.close = async () => {
        await store.knex.transaction(async (trx) => {
          for (const table of TABLES_TO_EMPTY) await trx(table).del();
        });
        idle.push(store);
      };
      return store;
    },
    async dispose() {
      idle.length = 0;
      for (const { database, close } of owned.splice(0)) {
        await close();
        await database.drop();
      }
    },
  };
}
