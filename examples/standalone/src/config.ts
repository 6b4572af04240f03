import { parseArgs } from 'node:util';
import { resolve } from 'node:path';

export interface ServerConfig {
  host: string;
  port: number;
  /** Directory holding the blobs, and the SQLite file unless a database URL is given. */
  dataDir: string;
  logLevel: string;
  /**
   * A `postgres://` URL: metadata goes to that PostgreSQL database instead of a SQLite file. Several
   * instances may share one database, provided they also share the data directory (the blobs).
   */
  databaseUrl: string | undefined;
  /** File holding the schema1 signing key (PEM or libtrust JWK); without one the key is kept with the metadata. */
  schema1KeyFile: string | undefined;
  /** Accept signed schema1 pushes. */
  schema1Push: boolean;
  /** Uploads not finished within this many milliseconds are discarded. */
  uploadTtlMs: number;
  /** Platforms served from a list to clients that cannot read lists, in order of preference. */
  platforms: string[] | undefined;
}

/** Command-line flags win over environment variables, which win over the defaults. */
export function readConfig(argv: string[], env: NodeJS.ProcessEnv): ServerConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      data: { type: 'string' },
      'log-level': { type: 'string' },
      'schema1-key': { type: 'string' },
      'no-schema1-push': { type: 'boolean' },
      platform: { type: 'string' },
      database: { type: 'string' },
      'upload-ttl': { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port ?? env['PORT'] ?? 5000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port "${values.port ?? env['PORT']}"`);
  return {
    host: values.host ?? env['HOST'] ?? '127.0.0.1',
    port,
    dataDir: resolve(values.data ?? env['BERTH_DATA'] ?? './data'),
    logLevel: values['log-level'] ?? env['LOG_LEVEL'] ?? 'info',
    schema1KeyFile: optionalPath(values['schema1-key'] ?? env['BERTH_SCHEMA1_KEY']),
    schema1Push: !(values['no-schema1-push'] ?? env['BERTH_SCHEMA1_PUSH'] === 'false'),
    platforms: list(values.platform ?? env['BERTH_PLATFORMS']),
    uploadTtlMs: hours(values['upload-ttl'] ?? env['BERTH_UPLOAD_TTL_HOURS'] ?? '168') * 3_600_000,
    databaseUrl: databaseUrl(values.database ?? env['BERTH_DATABASE_URL']),
  };
}

/** A postgres:// URL, or undefined for SQLite; an empty value counts as unset. */
function databaseUrl(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1]?.toLowerCase();
  // Only the scheme is echoed back: the rest of the URL may hold a password.
  if (scheme !== 'postgres' && scheme !== 'postgresql') {
    throw new Error(`unsupported database URL scheme "${scheme ?? ''}": use postgres://..., or leave it out for SQLite in the data directory`);
  }
  return value;
}

function hours(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`invalid upload TTL "${text}": expected a positive number of hours`);
  return value;
}

function optionalPath(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : resolve(value);
}

function list(value: string | undefined): string[] | undefined {
  const items = value?.split(',').map((item) => item.trim()).filter((item) => item !== '');
  return items && items.length > 0 ? items : undefined;
}
