import type { DurationUnit } from './duration.js';

/**
 * Every setting of `berth serve`, in one table: its flag, environment variables, key in the config file,
 * kind, default and help. The flag parser, the environment reader, the config file schema, `--help`,
 * `config print` and the README's tables all come from here; `server-config.ts` maps the resolved
 * values to a ServerConfig. A feature that is not built yet has its row with `notAvailable`: a value
 * for it is refused, never ignored. Adding a section is rows here plus its lines in `server-config.ts`.
 */
export interface Setting {
  /** The name in the resolved values (and in `server-config.ts`). */
  readonly name: string;
  /** The flag without its dashes; the environment variable is `BERTH_<FLAG_UPPER_SNAKE>`. */
  readonly flag?: string;
  /** Names the environment also accepts, after the `BERTH_` one (the names used before the config file existed). */
  readonly envAliases?: readonly string[];
  /** The dotted path in the config file. */
  readonly file: string;
  readonly kind: SettingKind;
  readonly default?: SettingValue;
  /** What the flag's value is called in `--help`. */
  readonly valueName?: string;
  readonly help: string;
  /** Printed masked by `config print`: a URL's password. */
  readonly secret?: 'url-password';
  /** The feature that brings this setting, when it is not in this build: any value is refused. */
  readonly notAvailable?: string;
}

export type SettingKind =
  | { readonly type: 'string' }
  | { readonly type: 'choice'; readonly choices: readonly string[] }
  /** Resolved against the working directory (flags, environment) or the config file's directory. */
  | { readonly type: 'path'; readonly mustExist?: boolean }
  | { readonly type: 'integer'; readonly min: number; readonly max: number; readonly expected: string }
  | { readonly type: 'boolean' }
  | { readonly type: 'duration'; readonly bareUnit: DurationUnit; readonly zero: boolean }
  /** Comma-separated (flags may also repeat; the file takes a list). */
  | { readonly type: 'list' }
  /** A structured value only the config file can hold. */
  | { readonly type: 'section' }
  /**
   * Webhook endpoints: URLs from flags (repeatable) and the environment (comma-separated); in the file a
   * list of URLs or of entries with headers, timeout, retries, filters. Held as one JSON text per endpoint.
   */
  | { readonly type: 'webhooks' }
  /** Storage quotas: only in the config file, a list of `{ repositories, limit }`. Held as one JSON text per pattern. */
  | { readonly type: 'quotas' }
  /** Retention rules (the file only): the collections of `berth gc` and `--gc-interval` apply them. Held as JSON text. */
  | { readonly type: 'retention' }
  /**
   * Pull-through mirrors: `PREFIX=URL` from flags (repeatable) and the environment (comma-separated); in the
   * file a list of those or of entries with credentials, tagTtl, plainHttp. Held as one JSON text per mirror.
   */
  | { readonly type: 'mirrors' };

/** The value of one setting. */
export type SettingValue = string | number | boolean | readonly string[];

const PORT = { type: 'integer', min: 0, max: 65535, expected: 'an integer 0-65535' } as const;
const SECONDS_OR_OFF = { type: 'duration', bareUnit: 's', zero: true } as const;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const SETTINGS: readonly Setting[] = [
  { name: 'config', flag: 'config', file: '', kind: { type: 'path', mustExist: true }, valueName: 'FILE', help: 'read settings from this YAML or JSON file (flags and environment win over it)' },

  // listen
  { name: 'host', flag: 'host', envAliases: ['HOST'], file: 'listen.host', kind: { type: 'string' }, default: '127.0.0.1', valueName: 'HOST', help: 'address to listen on' },
  { name: 'port', flag: 'port', envAliases: ['PORT'], file: 'listen.port', kind: PORT, default: 5000, valueName: 'N', help: 'port (0 picks a free one)' },
  { name: 'publicUrl', flag: 'public-url', file: 'listen.publicUrl', kind: { type: 'string' }, valueName: 'URL', help: "the registry's outside address (the token realm); default: the request's scheme and Host", secret: 'url-password' },
  { name: 'trustProxy', flag: 'trust-proxy', file: 'listen.trustProxy', kind: { type: 'boolean' }, default: false, help: 'take the client address and scheme from X-Forwarded-For / -Proto / -Host' },
  { name: 'tlsCert', flag: 'tls-cert', file: 'listen.tls.cert', kind: { type: 'path', mustExist: true }, valueName: 'FILE', help: 'serve HTTPS with this certificate chain (PEM)' },
  { name: 'tlsKey', flag: 'tls-key', file: 'listen.tls.key', kind: { type: 'path', mustExist: true }, valueName: 'FILE', help: "the certificate's private key (PEM)" },
  { name: 'http2', flag: 'http2', file: 'listen.http2', kind: { type: 'boolean' }, default: false, help: 'also offer HTTP/2 (ALPN; needs TLS)' },
  { name: 'headersTimeout', flag: 'headers-timeout', file: 'listen.headersTimeout', kind: { type: 'duration', bareUnit: 's', zero: false }, default: 20_000, valueName: 'DURATION', help: "time a client has to send a request's headers; then 408" },
  { name: 'idleTimeout', flag: 'idle-timeout', file: 'listen.idleTimeout', kind: SECONDS_OR_OFF, default: 60_000, valueName: 'DURATION', help: 'a connection on which the client moves nothing for this long is closed (0: off)' },
  { name: 'keepAliveTimeout', flag: 'keep-alive-timeout', file: 'listen.keepAliveTimeout', kind: SECONDS_OR_OFF, default: 5_000, valueName: 'DURATION', help: 'an idle kept-alive connection is closed after this long (0: only the idle timeout)' },
  { name: 'maxConnections', flag: 'max-connections', file: 'listen.maxConnections', kind: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, expected: 'a whole number (0 for no bound)' }, default: 1000, valueName: 'N', help: 'connections served at once; further ones are closed at once (0: no bound)' },
  { name: 'shutdownTimeout', flag: 'shutdown-timeout', file: 'listen.shutdownTimeout', kind: SECONDS_OR_OFF, default: 30_000, valueName: 'DURATION', help: 'on SIGTERM, time in-flight requests get to finish before their connections are closed' },

  // storage
  { name: 'data', flag: 'data', envAliases: ['BERTH_DATA'], file: 'storage.data', kind: { type: 'path' }, default: './data', valueName: 'DIR', help: 'directory for the blobs (blobs/) and the SQLite file (berth.sqlite)' },
  { name: 'database', flag: 'database', envAliases: ['BERTH_DATABASE_URL'], file: 'storage.database', kind: { type: 'string' }, valueName: 'URL', help: 'a postgres:// URL: metadata in PostgreSQL (blobs stay in the data directory); default: SQLite in the data directory', secret: 'url-password' },
  { name: 'databaseWait', flag: 'database-wait', file: 'storage.databaseWait', kind: SECONDS_OR_OFF, default: 30_000, valueName: 'DURATION', help: 'how long to retry an unreachable PostgreSQL at start-up' },
  { name: 'uploadTtl', flag: 'upload-ttl', envAliases: ['BERTH_UPLOAD_TTL_HOURS'], file: 'storage.uploadTtl', kind: { type: 'duration', bareUnit: 'h', zero: false }, default: 168 * 3_600_000, valueName: 'DURATION', help: 'uploads not finished within this time are discarded (a bare number is hours)' },
  { name: 's3Bucket', flag: 's3-bucket', file: 'storage.s3.bucket', kind: { type: 'string' }, valueName: 'NAME', help: 'put the blobs in this S3 bucket (credentials from the AWS chain) instead of the data directory' },
  { name: 's3Prefix', flag: 's3-prefix', file: 'storage.s3.prefix', kind: { type: 'string' }, valueName: 'P', help: 'key prefix (a folder) in the bucket' },
  { name: 's3Endpoint', flag: 's3-endpoint', file: 'storage.s3.endpoint', kind: { type: 'string' }, valueName: 'URL', help: 'an S3-compatible server (Swift, Ceph radosgw, MinIO); default: AWS' },
  { name: 's3Region', flag: 's3-region', file: 'storage.s3.region', kind: { type: 'string' }, valueName: 'R', help: "the bucket's region; default: the AWS chain's, else us-east-1" },
  { name: 's3ForcePathStyle', flag: 's3-force-path-style', file: 'storage.s3.forcePathStyle', kind: { type: 'boolean' }, default: false, help: 'path-style URLs (endpoint/bucket/key), as most compatible servers need' },
  { name: 's3Redirect', flag: 's3-redirect', file: 'storage.s3.redirect', kind: { type: 'boolean' }, default: false, help: 'answer blob downloads with a redirect to a presigned S3 URL' },

  // auth and access
  { name: 'auth', flag: 'auth', envAliases: ['BERTH_AUTH'], file: 'auth.mode', kind: { type: 'choice', choices: ['none', 'basic', 'token'] }, default: 'none', valueName: 'MODE', help: 'none, basic or token' },
  { name: 'htpasswd', flag: 'htpasswd', file: 'auth.htpasswd', kind: { type: 'path', mustExist: true }, valueName: 'FILE', help: 'users (bcrypt entries; see berth user add); re-read when it changes' },
  { name: 'tokenKeys', flag: 'token-keys', file: 'auth.token.keys', kind: { type: 'path', mustExist: true }, valueName: 'FILE', help: "an external token service's certificates, public keys or JWKS (selects external tokens)" },
  { name: 'tokenRealm', flag: 'token-realm', file: 'auth.token.realm', kind: { type: 'string' }, valueName: 'URL', help: "the external token service's endpoint" },
  { name: 'tokenService', flag: 'token-service', file: 'auth.token.service', kind: { type: 'string' }, valueName: 'NAME', help: "the service name (the tokens' aud); default berth" },
  { name: 'tokenIssuer', flag: 'token-issuer', file: 'auth.token.issuer', kind: { type: 'string' }, valueName: 'NAME', help: "the tokens' iss; default berth" },
  { name: 'tokenSigningKey', flag: 'token-signing-key', file: 'auth.token.signingKey', kind: { type: 'path', mustExist: true }, valueName: 'FILE', help: "the built-in token service's signing key (berth keygen token); default: generated and kept with the metadata" },
  { name: 'access', flag: 'access', file: 'access', kind: { type: 'path', mustExist: true }, valueName: 'FILE', help: 'who may do what (YAML or JSON access rules); default: signed-in users may do everything' },

  // compatibility with older clients
  { name: 'schema1Key', flag: 'schema1-key', file: 'compatibility.schema1.signingKey', kind: { type: 'path', mustExist: true }, valueName: 'FILE', help: 'schema1 signing key (PEM or libtrust JWK; berth keygen schema1); default: kept with the metadata' },
  { name: 'schema1Push', flag: 'schema1-push', file: 'compatibility.schema1.push', kind: { type: 'boolean' }, default: true, help: 'accept signed schema1 pushes (--no-schema1-push refuses them)' },
  { name: 'platforms', flag: 'platform', envAliases: ['BERTH_PLATFORMS'], file: 'compatibility.platforms', kind: { type: 'list' }, default: ['linux/amd64'], valueName: 'LIST', help: 'platforms served from a list to clients that cannot read lists, in order' },

  // log
  { name: 'logLevel', flag: 'log-level', envAliases: ['LOG_LEVEL'], file: 'log.level', kind: { type: 'choice', choices: LOG_LEVELS }, default: 'info', valueName: 'LEVEL', help: LOG_LEVELS.join(', ') },
  { name: 'logFormat', flag: 'log-format', file: 'log.format', kind: { type: 'choice', choices: ['auto', 'json', 'pretty'] }, default: 'auto', valueName: 'FORMAT', help: 'json, pretty, or auto (pretty on a terminal)' },

  // metrics
  { name: 'metrics', flag: 'metrics', file: 'metrics.enabled', kind: { type: 'boolean' }, default: true, help: 'serve Prometheus metrics at /metrics (--no-metrics: none, and nothing counted)' },
  { name: 'metricsPort', flag: 'metrics-port', file: 'metrics.port', kind: { type: 'integer', min: 1, max: 65535, expected: 'a port from 1 to 65535' }, valueName: 'N', help: 'serve /metrics on this port of the same host instead of the main one' },

  // events
  { name: 'webhooks', flag: 'webhook', file: 'webhooks', kind: { type: 'webhooks' }, valueName: 'URL', help: 'send push, delete and mount events to this URL (repeatable; the config file adds headers, timeout, retries, filters)' },
  { name: 'pullEvents', flag: 'pull-events', file: '', kind: { type: 'boolean' }, default: false, help: 'send pull events to every webhook too (best-effort; in a config file: pullEvents: true on an entry)' },

  // garbage collection
  { name: 'gcInterval', flag: 'gc-interval', file: 'gc.interval', kind: SECONDS_OR_OFF, default: 0, valueName: 'DURATION', help: 'collect garbage inside the server this often, first one interval after start (0: off)' },
  { name: 'gcGrace', flag: 'gc-grace', file: 'gc.grace', kind: { type: 'duration', bareUnit: 's', zero: true }, default: 3_600_000, valueName: 'DURATION', help: 'what was pushed, linked or touched more recently than this stays (0 allowed)' },
  { name: 'gcDeleteUntagged', flag: 'gc-delete-untagged', file: 'gc.deleteUntagged', kind: { type: 'boolean' }, default: false, help: 'the collection also removes untagged manifests nothing reachable refers to' },
  { name: 'retention', file: 'retention', kind: { type: 'retention' }, help: 'retention rules applied by every collection (berth gc, --gc-interval)' },

  // usage and quotas
  { name: 'quotas', file: 'quotas', kind: { type: 'quotas' }, help: 'storage quotas: a list of { repositories: PATTERN or [PATTERN...], limit: SIZE } (500MiB, 10GB); the first matching pattern applies' },

  // pull-through cache
  { name: 'mirrors', flag: 'mirror', file: 'mirrors', kind: { type: 'mirrors' }, valueName: 'PREFIX=URL', help: "pull repositories under PREFIX/ from the registry at URL, cached (repeatable; * mirrors every name without local content; credentials in the URL's user-info or the file)" },

  // web UI
  { name: 'ui', flag: 'ui', file: 'ui.enabled', kind: { type: 'boolean' }, default: true, help: 'serve the web UI (and its JSON API under /api/) at / (--no-ui: neither)' },
];

/** `--tls-cert` -> `BERTH_TLS_CERT`. */
export function envName(flag: string): string {
  return `BERTH_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Every environment variable of a setting, the `BERTH_` name first. */
export function envNames(setting: Setting): string[] {
  return setting.flag === undefined ? [] : [envName(setting.flag), ...(setting.envAliases ?? []).filter((alias) => alias !== envName(setting.flag!))];
}

export function settingByFlag(flag: string): Setting | undefined {
  return SETTINGS.find((setting) => setting.flag === flag);
}
