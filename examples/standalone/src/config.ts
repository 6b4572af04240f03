import { parseArgs } from 'node:util';
import type { WebhookEndpoint } from '@berth/registry';
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
  /** Sign-in: none, Basic against an htpasswd file, or Bearer tokens (built-in service or an external one). */
  auth: AuthConfig;
  /** The registry's outside address (token realm, later redirects); without it, the request's scheme and host. */
  publicUrl: string | undefined;
  /** Read the client address and scheme from `X-Forwarded-For` / `X-Forwarded-Proto` (behind a load balancer). */
  trustProxy: boolean;
  /** Time a client has to send a request's headers; then 408 and the connection is closed. */
  headersTimeoutMs: number;
  /**
   * A connection on which the client moves nothing for this long is closed: a request body that stopped
   * arriving, a download the client stopped reading, a silent connection. Never a limit on a whole
   * request: a slow upload that keeps moving runs as long as it takes. 0 turns it off.
   */
  idleTimeoutMs: number;
  /** An idle kept-alive connection is closed after this long between requests (0: only the idle timeout applies). */
  keepAliveTimeoutMs: number;
  /** Connections served at once; further ones are closed as soon as they are accepted. 0: no bound. */
  maxConnections: number;
  /** Webhook receivers (the config file's `webhooks` entries); `--webhook URL` gives one with the defaults. */
  webhooks: WebhookEndpoint[];
  /** Send pull events to the webhooks too (best-effort, from memory). */
  pullEvents: boolean;
}

/** The defaults of the connection bounds, in seconds (and connections). */
export const CONNECTION_DEFAULTS = { headersTimeout: 20, idleTimeout: 60, keepAliveTimeout: 5, maxConnections: 1000 } as const;

export type AuthConfig =
  | { mode: 'none' }
  | { mode: 'basic'; htpasswdFile: string; accessFile: string | undefined }
  /** The built-in token service at `/token`, for the users of the htpasswd file. */
  | { mode: 'token'; htpasswdFile: string; accessFile: string | undefined; service: string; issuer: string }
  /** Tokens from an external token service, verified with its keys; the access file only narrows them. */
  | {
      mode: 'external-token';
      keysFile: string;
      realm: string;
      service: string;
      issuer: string;
      accessFile: string | undefined;
    };

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
      auth: { type: 'string' },
      htpasswd: { type: 'string' },
      access: { type: 'string' },
      'token-realm': { type: 'string' },
      'token-service': { type: 'string' },
      'token-issuer': { type: 'string' },
      'token-keys': { type: 'string' },
      'public-url': { type: 'string' },
      'trust-proxy': { type: 'boolean' },
      'headers-timeout': { type: 'string' },
      'idle-timeout': { type: 'string' },
      'keep-alive-timeout': { type: 'string' },
      'max-connections': { type: 'string' },
      webhook: { type: 'string', multiple: true },
      'pull-events': { type: 'boolean' },
    },
    strict: true,
  });
  const setting: Setting = (flag, variable) => {
    const value = (values as Record<string, unknown>)[flag] ?? env[variable];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
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
    auth: authConfig(setting),
    publicUrl: publicUrl(setting('public-url', 'BERTH_PUBLIC_URL')),
    trustProxy: values['trust-proxy'] ?? env['BERTH_TRUST_PROXY'] === 'true',
    headersTimeoutMs: seconds('--headers-timeout', setting('headers-timeout', 'BERTH_HEADERS_TIMEOUT'), CONNECTION_DEFAULTS.headersTimeout, { zero: false }),
    idleTimeoutMs: seconds('--idle-timeout', setting('idle-timeout', 'BERTH_IDLE_TIMEOUT'), CONNECTION_DEFAULTS.idleTimeout, { zero: true }),
    keepAliveTimeoutMs: seconds('--keep-alive-timeout', setting('keep-alive-timeout', 'BERTH_KEEP_ALIVE_TIMEOUT'), CONNECTION_DEFAULTS.keepAliveTimeout, { zero: true }),
    maxConnections: count('--max-connections', setting('max-connections', 'BERTH_MAX_CONNECTIONS'), CONNECTION_DEFAULTS.maxConnections),
    webhooks: webhookUrls(values.webhook ?? list(env['BERTH_WEBHOOK']) ?? []).map((url) => ({ url })),
    pullEvents: values['pull-events'] ?? env['BERTH_PULL_EVENTS'] === 'true',
  };
}

/**
 * A duration in seconds: a plain number (`30`, `2.5`) or with an `s` suffix (`30s`), in milliseconds.
 * `zero` says whether 0 (off) is allowed.
 */
function seconds(flag: string, text: string | undefined, fallback: number, { zero }: { zero: boolean }): number {
  if (text === undefined) return fallback * 1000;
  const match = /^(\d+(?:\.\d+)?|\.\d+)s?$/.exec(text.trim());
  const value = match ? Number(match[1]) : Number.NaN;
  if (!Number.isFinite(value) || (value === 0 && !zero)) {
    throw new Error(`invalid ${flag} "${text}": expected a number of seconds${zero ? ' (0 turns it off)' : ' above 0'}, such as 30 or 30s`);
  }
  return Math.round(value * 1000);
}

/** A whole number, 0 meaning no bound. */
function count(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw new Error(`invalid ${flag} "${text}": expected a whole number (0 for no bound)`);
  return value;
}

/** A string setting: the flag, else the environment variable; empty counts as unset. */
type Setting = (flag: string, variable: string) => string | undefined;

function authConfig(get: Setting): AuthConfig {
  const mode = get('auth', 'BERTH_AUTH') ?? 'none';
  const htpasswd = optionalPath(get('htpasswd', 'BERTH_HTPASSWD'));
  const accessFile = optionalPath(get('access', 'BERTH_ACCESS'));
  const keysFile = optionalPath(get('token-keys', 'BERTH_TOKEN_KEYS'));
  const realm = get('token-realm', 'BERTH_TOKEN_REALM');
  const service = get('token-service', 'BERTH_TOKEN_SERVICE');
  const issuer = get('token-issuer', 'BERTH_TOKEN_ISSUER');
  if (mode === 'none') {
    if (htpasswd !== undefined || accessFile !== undefined || keysFile !== undefined) {
      throw new Error('--htpasswd, --access and --token-keys need --auth basic or --auth token');
    }
    return { mode: 'none' };
  }
  if (mode === 'basic') {
    if (htpasswd === undefined) throw new Error('--auth basic needs --htpasswd FILE');
    return { mode: 'basic', htpasswdFile: htpasswd, accessFile };
  }
  if (mode !== 'token') throw new Error(`invalid --auth "${mode}": expected none, basic or token`);
  if (keysFile !== undefined) {
    if (realm === undefined || service === undefined || issuer === undefined) {
      throw new Error('--token-keys (an external token service) needs --token-realm, --token-service and --token-issuer');
    }
    return { mode: 'external-token', keysFile, realm, service, issuer, accessFile };
  }
  if (htpasswd === undefined) {
    throw new Error('--auth token needs --htpasswd FILE (the built-in token service) or --token-keys FILE (an external one)');
  }
  if (realm !== undefined) throw new Error('--token-realm is for an external token service (with --token-keys); the built-in one is at <public URL>/token');
  return { mode: 'token', htpasswdFile: htpasswd, accessFile, service: service ?? 'berth', issuer: issuer ?? 'berth' };
}

function publicUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`invalid --public-url "${value}": expected an absolute http:// or https:// URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`invalid --public-url "${value}": use http:// or https://`);
  return value.replace(/\/+$/, '');
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

/** Absolute http(s) URLs; an invalid one is named without its query, which may hold a token. */
function webhookUrls(urls: string[]): string[] {
  for (const text of urls) {
    let url: URL | undefined;
    try {
      url = new URL(text);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new Error(`invalid --webhook "${text.split('?')[0]}": expected an absolute http:// or https:// URL`);
    }
  }
  return urls;
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
