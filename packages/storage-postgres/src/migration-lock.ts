import knex, { type Knex } from 'knex';

/**
 * Key of the session-level advisory lock that serialises berth's migrations within one database.
 * Any fixed 64-bit number works; this one is "berth" in ASCII.
 */
export const MIGRATION_LOCK_KEY = 0x6265727468;

/**
 * Runs `migrate` while holding the migration advisory lock, so that instances starting together
 * take turns: the first applies the steps, the others find them applied. knex's own lock row is
 * not enough on its own: two migrators that both find no migrations table both try to create it,
 * and one of them fails. The lock is held on a connection of its own, outside the store's pool,
 * and PostgreSQL drops it by itself should this process die while holding it.
 */
export async function withMigrationLock<T>(
  connection: Knex.StaticConnectionConfig | string,
  migrate: () => Promise<T>,
  log?: Knex.Logger,
): Promise<T> {
  const lockDb = knex({ client: 'pg', connection, pool: { min: 0, max: 1 }, ...(log === undefined ? {} : { log }) });
  try {
    return await lockDb.transaction(async (trx) => {
      // Transaction-scoped: released by the commit or rollback below, whatever happens in between.
      await trx.raw('select pg_advisory_xact_lock(?)', [MIGRATION_LOCK_KEY]);
      return migrate();
    });
  } finally {
    await lockDb.destroy();
  }
}
