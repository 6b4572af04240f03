import type { Dialect } from '@berth/storage-sql';

/** SQLite through better-sqlite3: text compares bytewise (BINARY collation) by default. */
export const sqliteDialect: Dialect = {
  keyType: 'text',
  isForeignKeyViolation: (error) =>
    typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY',
};
