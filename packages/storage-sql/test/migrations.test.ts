import knex, { type Knex } from 'knex';
import { describe, expect, it } from 'vitest';
import { metadataMigrationSource, MIGRATION_NAMES, TABLES, type Dialect } from '../src/index.js';

// Without a connection knex only compiles SQL and never loads the pg driver.
const postgres = knex({ client: 'pg' });
const postgresLike: Dialect = { keyType: 'text collate "C"', isForeignKeyViolation: () => false };

/** The DDL every migration would run, compiled for PostgreSQL. */
async function postgresDdl(): Promise<string> {
  const source = metadataMigrationSource(postgresLike);
  const statements: string[] = [];
  for (const step of await source.getMigrations([])) {
    const migration = await source.getMigration(step);
    statements.push((migration.up(postgres) as Knex.SchemaBuilder).toString());
  }
  return statements.join('\n');
}

describe('metadata migrations', () => {
  it('have unique names that sort in the order they apply', () => {
    expect(MIGRATION_NAMES.length).toBeGreaterThan(0);
    expect(new Set(MIGRATION_NAMES).size).toBe(MIGRATION_NAMES.length);
    expect([...MIGRATION_NAMES].sort()).toEqual([...MIGRATION_NAMES]);
  });

  it('compile for PostgreSQL with the dialect key type on every paged or joined key', async () => {
    const ddl = await postgresDdl();
    for (const table of Object.values(TABLES)) expect(ddl).toContain(`create table "${table}"`);
    for (const column of ['repository', 'digest', 'name', 'subject', 'manifest_digest', 'source_digest', 'id']) {
      expect(ddl).toContain(`"${column}" text collate "C"`);
    }
    // A varchar key would sort by the database's locale and break lexical paging.
    expect(ddl).not.toMatch(/varchar/i);
    expect(ddl).toMatch(/"content" bytea not null/);
    // Tags, references and conversions all go with their manifest.
    expect(ddl.match(/references "manifests" \("repository", "digest"\) on delete CASCADE/g)).toHaveLength(3);
  });
});
