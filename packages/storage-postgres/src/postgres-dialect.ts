import type { Dialect } from '@berth/storage-sql';
import { isConnectionFailure, isDiskFull, isForeignKeyViolation } from './postgres-errors.js';

/**
 * PostgreSQL through pg. Keys use the "C" collation: the database's default collation follows its
 * locale (en_US sorts `a-b` after `ab`), while paging needs the bytewise order the spec asks for.
 */
export const postgresDialect: Dialect = {
  keyType: 'text collate "C"',
  isForeignKeyViolation,
  isUnavailable: isConnectionFailure,
  isStorageFull: isDiskFull,
};
