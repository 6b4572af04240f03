import knex from 'knex';
import { expect, it } from 'vitest';
import { assertCountersAfterWrites, countedUsage, migrateUpTo, recountUsage, writeOldRows } from '../../storage-sql/test/support/usage-recount.js';
import { openPostgresMetadataStore } from '../src/index.js';
import { postgresDialect } from '../src/postgres-dialect.js';
import { createScratchDatabase } from '../src/testing.js';

it('0007_usage counts what an older database holds, and the counters then follow every write', async () => {
  const database = await createScratchDatabase();
  const raw = knex({ client: 'pg', connection: database.url, pool: { min: 0, max: 1 } });
  try {
    await migrateUpTo(raw, postgresDialect, '0007_usage');
    await writeOldRows(raw);
    const store = await openPostgresMetadataStore({ connection: database.url, pool: { max: 2 } });
    try {
      const recount = await recountUsage(raw);
      expect(recount.repositories.map((usage) => usage.repository)).toEqual(['old/a', 'old/b']);
      expect(await countedUsage(store)).toEqual(recount);
      await assertCountersAfterWrites(store, raw);
    } finally {
      await store.close();
    }
  } finally {
    await raw.destroy();
    await database.drop();
  }
});
