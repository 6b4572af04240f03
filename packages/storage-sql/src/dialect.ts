import type { Knex } from 'knex';

/** A read statement the store runs on the request path: prepared once per connection, then reused. */
export interface PreparedQuery {
  /** Unique among the store's statements (PostgreSQL's statement name). */
  readonly name: string;
  /** The statement, with `?` placeholders. */
  readonly sql: string;
  /**
   * The statement selects one column, and its rows come back as that column's values rather than as
   * objects (better-sqlite3's `pluck`, pg's array rows): a page of 100 tags is 100 strings, not 100 objects.
   */
  readonly pluck?: true;
}

/**
 * What differs between the SQL databases berth runs on. Everything else in this package is
 * plain knex that works on SQLite and PostgreSQL alike; an adapter package passes one of these in.
 */
export interface Dialect {
  /**
   * Column type of repository names, tags and digests. Keys are paged with `>` and `ORDER BY`, so
   * the type must compare bytewise to give the lexical order the spec asks for: plain `text` on
   * SQLite, `text collate "C"` on PostgreSQL (whose default collation follows the locale).
   */
  readonly keyType: string;
  /** True when the driver error is a foreign key violation (the row it points at is gone). */
  isForeignKeyViolation(error: unknown): boolean;
  /**
   * True when the driver error means the database cannot be reached right now (connection refused
   * or cut, server shutting down, database missing). The store answers those with RegistryError
   * UNAVAILABLE (503), which clients retry. Dialects of an in-process database leave it out.
   */
  isUnavailable?(error: unknown): boolean;
  /**
   * True when the driver error means the database's storage is full (no space or quota left for the
   * write). The store answers those with a 507 RegistryError (code UNAVAILABLE, "the registry's
   * storage is full"); the transaction was rolled back, so nothing of the write is left. May look at
   * the filesystem to tell a full disk from another I/O error, hence the promise.
   */
  isStorageFull?(error: unknown): boolean | Promise<boolean>;
  /**
   * Makes concurrent outbox claims for one endpoint wait for each other inside their transactions
   * (PostgreSQL: a transaction-scoped advisory lock), so two instances never lease the same entry or
   * break a repository's order. Left out where the database serialises write transactions anyway (SQLite).
   */
  lockOutboxEndpoint?(trx: Knex.Transaction, endpoint: string): Promise<void>;
  /**
   * True where the database runs one write transaction at a time (SQLite): the collector then removes a
   * batch of rows in one transaction, which no deadlock can break. Elsewhere it removes manifests one row
   * per statement, so it never holds a row while waiting for another that a push holds, and links and
   * blobs in batches it first locks FOR UPDATE SKIP LOCKED, so it waits for none of their rows.
   */
  readonly singleWriter?: boolean;
  /**
   * Runs a read statement prepared once per connection and reused (SQLite: a better-sqlite3 statement;
   * PostgreSQL: a named statement), and returns its rows (a `pluck` query's as the column's values).
   * Without it the store runs the statement through `knex.raw`, which the driver prepares again on every call.
   */
  queryPrepared?(knex: Knex, query: PreparedQuery, bindings: readonly (string | number)[]): Promise<unknown[]>;
}
