import type { PreparedQuery } from '@berth/storage-sql';
import type { Knex } from 'knex';
import type pg from 'pg';

/** `?` placeholders as PostgreSQL's `$1, $2, ...` (the statements hold no other question mark), by SQL text. */
const numberedSql = new Map<string, string>();

function numbered(sql: string): string {
  let text = numberedSql.get(sql);
  if (text === undefined) {
    let index = 0;
    text = sql.replace(/\?/g, () => `$${++index}`);
    numberedSql.set(sql, text);
  }
  return text;
}

/**
 * Runs a read statement as a pg named statement on a connection of knex's pool: the server parses and
 * plans it once per connection, and pg sends only its name and values after that.
 */
export async function queryPreparedPostgres(knex: Knex, query: PreparedQuery, bindings: readonly (string | number)[]): Promise<unknown[]> {
  const connection = (await knex.client.acquireConnection()) as pg.Client;
  try {
    if (query.pluck) {
      const result = await connection.query<unknown[]>({ name: query.name, text: numbered(query.sql), values: [...bindings], rowMode: 'array' });
      return result.rows.map((row) => row[0]);
    }
    const result = await connection.query({ name: query.name, text: numbered(query.sql), values: [...bindings] });
    return result.rows;
  } finally {
    await knex.client.releaseConnection(connection);
  }
}
