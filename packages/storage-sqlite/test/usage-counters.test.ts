import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knex from 'knex';
import { afterEach, expect, it } from 'vitest';
import { assertCountersAfterWrites, countedUsage, migrateUpTo, recountUsage, writeOldRows } from '../../storage-sql/test/support/usage-recount.js';
import { openSqliteMetadataStore } from '../src/index.js';
import { sqliteDialect } from '../src/sqlite-dialect.js';

const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});

it('0007_usage counts what an older database holds, and the counters then follow every write', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'berth-usage-'));
  folders.push(folder);
  const filename = join(folder, 'metadata.db');
  const old = knex({ client: 'better-sqlite3', connection: { filename }, useNullAsDefault: true });
  await migrateUpTo(old, sqliteDialect, '0007_usage');
  await writeOldRows(old);
  await old.destroy();

  const store = await openSqliteMetadataStore({ filename });
  const raw = knex({ client: 'better-sqlite3', connection: { filename, options: { readonly: true } }, useNullAsDefault: true });
  try {
    const recount = await recountUsage(raw);
    expect(recount.repositories.map((usage) => usage.repository)).toEqual(['old/a', 'old/b']);
    expect(await countedUsage(store)).toEqual(recount);
    await assertCountersAfterWrites(store, raw);
  } finally {
    await raw.destroy();
    await store.close();
  }
});
