import { metadataStoreContract } from '@berth/storage-testing';
import knex from 'knex';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { sqlInspector } from '../../storage-sql/test/support/sql-inspector.js';
import { openPostgresMetadataStore } from '../src/index.js';
import { createScratchDatabase } from '../src/testing.js';

// Every test gets a database of its own, created empty and dropped afterwards.
metadataStoreContract(
  { describe, it, beforeEach, afterEach },
  async () => {
    const database = await createScratchDatabase();
    const open = () => openPostgresMetadataStore({ connection: database.url, pool: { max: 4 } });
    const store = await open();
    // A pool of its own, so what the inspector reads comes from the database, not the store.
    const raw = knex({ client: 'pg', connection: database.url, pool: { min: 0, max: 1 } });
    return {
      store,
      reopen: async () => {
        await store.close();
        return open();
      },
      openSibling: open,
      inspect: sqlInspector(raw),
      dispose: async () => {
        await raw.destroy();
        await database.drop();
      },
    };
  },
  { name: 'PostgreSQL' },
);
