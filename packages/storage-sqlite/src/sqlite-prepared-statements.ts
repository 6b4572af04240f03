import type { PreparedQuery } from '@berth/storage-sql';
import type BetterSqlite3 from 'better-sqlite3';
import type { Knex } from 'knex';

/** Statements prepared on each connection, by name (unique among the store's statements); they go with the connection. */
const preparedByConnection = new WeakMap<BetterSqlite3.Database, Map<string, BetterSqlite3.Statement>>();

/**
 * Runs a read statement on a connection of knex's pool, preparing it on the first call and reusing the
 * better-sqlite3 statement after that. The connection is taken from the pool as knex itself would, so a
 * transaction holding it is waited for.
 */
export async function queryPreparedSqlite(knex: Knex, query: PreparedQuery, bindings: readonly (string | number)[]): Promise<unknown[]> {
  const connection = (await knex.client.acquireConnection()) as BetterSqlite3.Database;
  try {
    let statements = preparedByConnection.get(connection);
    if (statements === undefined) {
      statements = new Map();
      preparedByConnection.set(connection, statements);
    }
    let statement = statements.get(query.name);
    if (statement === undefined) {
      statement = connection.prepare(query.sql);
      if (query.pluck) statement.pluck();
      statements.set(query.name, statement);
    }
    return statement.all(...bindings);
  } finally {
    await knex.client.releaseConnection(connection);
  }
}
