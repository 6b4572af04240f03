import { MIGRATION_NAMES, MIGRATIONS_TABLE, TABLES, type KnexMetadataStore } from '@berth/storage-sql';
import { blobDigest, manifestWrite } from '@berth/storage-testing';
import knex, { type Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPostgresMetadataStore } from '../src/index.js';
import { createScratchDatabase, type ScratchDatabase } from '../src/testing.js';

let database: ScratchDatabase;
/** A connection of our own to the scratch database, to look past the store. */
let raw: Knex;
const stores: KnexMetadataStore[] = [];

beforeEach(async () => {
  database = await createScratchDatabase();
  raw = knex({ client: 'pg', connection: database.url, pool: { min: 0, max: 2 } });
});

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  await raw.destroy();
  await database.drop();
});

async function open(pool: Knex.PoolConfig = { max: 4 }): Promise<KnexMetadataStore> {
  const store = await openPostgresMetadataStore({ connection: database.url, pool });
  stores.push(store);
  return store;
}

describe('openPostgresMetadataStore', () => {
  it('migrates an empty database once, even when several instances start at the same moment', async () => {
    // Without the advisory lock, two of these find no migrations table, both create it, and one fails.
    const opened = await Promise.all(Array.from({ length: 6 }, () => open()));
    const applied = await raw(MIGRATIONS_TABLE).select('name').orderBy('id');
    expect(applied.map((row: { name: string }) => row.name)).toEqual([...MIGRATION_NAMES]);

    // They all work on the one schema.
    await opened[0]!.putManifest(manifestWrite('app', { tag: 'latest' }));
    for (const store of opened) expect(await store.listTags('app', { limit: 10 })).toEqual(['latest']);

    // A later start finds nothing to do.
    await open();
    expect(await raw(MIGRATIONS_TABLE).count({ count: '*' })).toEqual([{ count: String(MIGRATION_NAMES.length) }]);
  });

  it('gives every key column the C collation, so paging follows byte order', async () => {
    await open();
    const rows: Array<{ table_name: string; column_name: string; collation_name: string | null }> = await raw('information_schema.columns')
      .select('table_name', 'column_name', 'collation_name')
      .where({ table_schema: 'public', data_type: 'text' })
      .whereIn('table_name', Object.values(TABLES))
      .whereIn('column_name', ['repository', 'digest', 'name', 'subject', 'manifest_digest', 'referenced_digest', 'source_digest', 'id']);
    expect(rows.length).toBeGreaterThan(10);
    for (const row of rows) expect({ ...row, collation_name: row.collation_name }).toEqual({ ...row, collation_name: 'C' });
  });

  it('pages tags and the catalog through indexes, not by reading every row', async () => {
    // One connection, so the statements it prepared can be found and explained on it.
    const store = await open({ min: 1, max: 1 });
    for (let index = 0; index < 30; index++) await store.putManifest(manifestWrite(`repo/${index}`, { tag: `v${index}` }));
    for (let index = 0; index < 30; index++) await store.linkBlob(`linked/${index}`, blobDigest(String(index)), 1);
    await raw.raw('analyze');

    // Capture the SQL the store really runs for a page, then ask PostgreSQL how it would run it
    // with sequential scans priced out: a plan without them exists only if an index serves the query.
    const plans: string[] = [];
    const explain = async (query: { sql: string; bindings: readonly Knex.Value[] }) => {
      await raw.transaction(async (trx) => {
        await trx.raw('set local enable_seqscan = off');
        // The event shows pg's $n placeholders; knex.raw takes `?` (in the same order).
        const result = (await trx.raw(`explain ${query.sql.replace(/\$\d+/g, '?')}`, query.bindings)) as { rows: Array<{ 'QUERY PLAN': string }> };
        plans.push(result.rows.map((row) => row['QUERY PLAN']).join('\n'));
      });
    };
    const captured: Array<{ sql: string; bindings: readonly Knex.Value[] }> = [];
    const listener = (query: { sql: string; bindings?: readonly Knex.Value[] }) => captured.push({ sql: query.sql, bindings: query.bindings ?? [] });
    store.knex.on('query', listener);
    expect(await store.listTags('repo/1', { last: 'v0', limit: 2 })).toEqual(['v1']);
    expect(await store.listRepositories({ last: 'linked/5', limit: 3 })).toEqual(['linked/6', 'linked/7', 'linked/8']);
    store.knex.off('query', listener);
    // The tags page is a named statement, prepared on the store's connection rather than built by knex.
    expect(captured).toHaveLength(1);
    await explain(captured[0]!);
    const prepared: Array<{ name: string }> = await store.knex.raw('select name from pg_prepared_statements').then((result: { rows: Array<{ name: string }> }) => result.rows);
    const tagsStatement = prepared.map((row) => row.name).find((name) => name.includes('tags_after'));
    expect(tagsStatement).toBeDefined();
    const tagsPlan = await store.knex.transaction(async (trx) => {
      await trx.raw('set local enable_seqscan = off');
      // EXECUTE takes no bind parameters: the values are literals here.
      const result = (await trx.raw(`explain execute ${tagsStatement!}('repo/1', 'v0', 2)`)) as { rows: Array<{ 'QUERY PLAN': string }> };
      return result.rows.map((row) => row['QUERY PLAN']).join('\n');
    });

    const [catalogPlan] = plans as [string];
    expect(tagsPlan).toMatch(/Index (Only )?Scan using tags_pkey/);
    // The index gives the order: no sort of the repository's tags.
    expect(tagsPlan).not.toMatch(/Seq Scan|Sort/);
    // Any index that leads with the repository serves (the primary key, or the referrers' index).
    expect(catalogPlan).toMatch(/Index Only Scan using \w+ on manifests/);
    expect(catalogPlan).toMatch(/Index Only Scan using \w+ on blob_links/);
    // Each side stops after `limit` names.
    expect(catalogPlan.match(/Limit/g)?.length).toBeGreaterThanOrEqual(3);
    expect(catalogPlan).not.toMatch(/Seq Scan/);
  });

  it('fails to open with the server error when the database does not exist', async () => {
    const url = new URL(database.url);
    url.pathname = '/berth_test_does_not_exist';
    const warnings: string[] = [];
    const log = { warn: (message: unknown) => warnings.push(String(message)) };
    await expect(openPostgresMetadataStore({ connection: url.toString(), log })).rejects.toMatchObject({ code: '3D000' });
    expect(warnings.join('\n')).toMatch(/berth_test_does_not_exist" does not exist/);
  });
});
