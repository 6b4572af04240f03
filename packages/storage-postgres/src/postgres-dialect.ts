import type { Dialect } from '@berth/storage-sql';
import { isConnectionFailure, isDiskFull, isForeignKeyViolation } from './postgres-errors.js';
import { queryPreparedPostgres } from './postgres-prepared-statements.js';

/**
 * PostgreSQL through pg. Keys use the "C" collation: the database's default collation follows its
 * locale (en_US sorts `a-b` after `ab`), while paging needs the bytewise order the spec asks for.
 */
export const postgresDialect: Dialect = {
  keyType: 'text collate "C"',
  isForeignKeyViolation,
  isUnavailable: isConnectionFailure,
  isStorageFull: isDiskFull,
  queryPrepared: queryPreparedPostgres,
  // Claims of one endpoint take turns, released at commit: instances never lease the same outbox entry.
  lockOutboxEndpoint: async (trx, endpoint) => {
    await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`berth.event_outbox:${endpoint}`]);
  },
};
