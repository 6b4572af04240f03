import { statfs } from 'node:fs/promises';
import type { Dialect } from '@berth/storage-sql';
import { queryPreparedSqlite } from './sqlite-prepared-statements.js';

/** Below this much free space, a disk I/O error of a write is taken for a full disk. */
const NEARLY_FULL_BYTES = 1024 * 1024;

function codeOf(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** SQLite through better-sqlite3: text compares bytewise (BINARY collation) by default. */
export const sqliteDialect: Dialect = {
  keyType: 'text',
  singleWriter: true,
  isForeignKeyViolation: (error) => codeOf(error) === 'SQLITE_CONSTRAINT_FOREIGNKEY',
  // SQLite says so itself when a write fails with ENOSPC or EDQUOT; it rolls the transaction back.
  isStorageFull: (error) => codeOf(error) === 'SQLITE_FULL',
  queryPrepared: queryPreparedSqlite,
};

/**
 * The dialect for one database file. Besides SQLITE_FULL, a full disk can surface as a disk I/O error
 * (SQLITE_IOERR_*: growing the WAL index, a truncate or an fsync that fails for want of space); such an
 * error counts as "full" when the file's filesystem has (almost) nothing left, and stays a fault otherwise.
 */
export function sqliteDialectFor(directory: string): Dialect {
  return {
    ...sqliteDialect,
    isStorageFull: async (error) => {
      const code = codeOf(error);
      if (code === 'SQLITE_FULL') return true;
      if (code === undefined || !code.startsWith('SQLITE_IOERR')) return false;
      try {
        const { bavail, bsize } = await statfs(directory);
        return bavail * bsize < NEARLY_FULL_BYTES;
      } catch {
        return false;
      }
    },
  };
}
