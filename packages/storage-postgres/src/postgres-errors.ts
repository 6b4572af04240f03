/** The SQLSTATE of a PostgreSQL error, or the errno code of a socket error (both live on `code`). */
function codeOf(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

export function isForeignKeyViolation(error: unknown): boolean {
  return codeOf(error) === '23503';
}

/** disk_full (53100): the server has no space left for the write, which it rolled back. */
export function isDiskFull(error: unknown): boolean {
  return codeOf(error) === '53100';
}

/** Socket failures: nothing listens, the peer went away, or the network cannot route to it. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs that say "not now" rather than "wrong": class 08 (connection exception), the server
 * shutting down or starting up (57P01-57P03), too many connections (53300), and a database that
 * does not exist at the moment (3D000: renamed or being restored). None of them is the client's fault.
 */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '3D000']);

/**
 * pg reports a connection that ended under it with plain Errors that carry no code; these are its
 * wordings (pg 8). Matching words is brittle, but there is nothing else to go by.
 */
const PG_CONNECTION_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error',
  'Client was closed and is not queryable',
  'Connection ended unexpectedly',
];

/** True when a driver or pool error means the database cannot be reached now (it may be back later). */
export function isConnectionFailure(error: unknown): boolean {
  const code = codeOf(error);
  if (code !== undefined && (SOCKET_CODES.has(code) || UNAVAILABLE_STATES.has(code) || code.startsWith('08'))) {
    return true;
  }
  if (!(error instanceof Error)) return false;
  // knex gives up waiting for a pool connection with a KnexTimeoutError.
  if (error.name === 'KnexTimeoutError') return true;
  if (PG_CONNECTION_MESSAGES.some((message) => error.message.includes(message))) return true;
  // Aggregate errors (several addresses tried) and wrapped causes.
  if (error instanceof AggregateError) return error.errors.some(isConnectionFailure);
  return error.cause !== undefined && error.cause !== error && isConnectionFailure(error.cause);
}
